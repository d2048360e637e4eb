"""Thin Asterisk REST Interface (ARI) client: Stasis events and REST over one websocket.

The Python ARI libraries are unmaintained or do not reconnect, so this is our own small
layer. It is on the hot path (every call is a handful of requests and a dozen events).
Asterisk 22.4+ takes REST requests on the events websocket ("ARI REST over WebSocket":
`RESTRequest` out, a `RESTResponse` event back), which costs a fraction of an HTTP
request; the client uses it whenever the connection offers it and falls back to its
pooled keep-alive HTTP client otherwise. JSON is parsed with orjson straight from bytes
and events are handed on as the plain dicts Asterisk sent. The websocket is aiohttp's,
whose frame reader is compiled: with the `websockets` package's, the engine spent about
10% more CPU per call (scripts/bench load's rig, in turns).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, NoReturn
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import aiohttp
import httpx
import orjson
from prometheus_client import Histogram

from bridge import metrics
from bridge.asterisk.backoff import Backoff
from bridge.asterisk.supervised import Supervised, describe

log = logging.getLogger(__name__)

Event = dict[str, Any]
"""An ARI event exactly as Asterisk sent it (``type``, ``channel``, ``bridge``, ...)."""

Params = Mapping[str, Any]
"""Query parameters: str/int/float values, bools, lists (sent comma-separated), None (omitted)."""

# Asterisk's HTTP server allows 100 sessions by default (http.conf sessionlimit), websockets
# included, and drops idle keep-alive sessions after 15 s (session_keep_alive): stay below both.
_POOL_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=10.0)
_JSON_HEADERS = {"Content-Type": "application/json"}
# Asterisk answers websocket pings: after 5 s without a message a ping goes, and a pong
# must come within half that, so a silently dead peer is noticed within about 8 s.
_WS_HEARTBEAT = 5.0
_WS_CLOSE_TIMEOUT = 2.0
_WS_ENDED = frozenset({aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                       aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR})
_CLOSED = object()  # ends a connection's event queue


class AriError(Exception):
    """An ARI request failed.

    ``status`` is the HTTP status (>= 400), or 0 when no response arrived at all
    (connection refused, timeout); ``message`` is Asterisk's own explanation when it gave one.
    """

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path} failed: {status} {message}")
        self.status = status
        self.method = method
        self.path = path
        self.message = message


class WebsocketClosed(ConnectionError):
    """The events websocket ended (closed by Asterisk, cut, or its pings unanswered)."""


class AriRefused(AriError):
    """Not sent: ringbridge is stopping (``AriClient.refuse_requests``)."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(0, method, path, "not sent: ringbridge is stopping")


class AriClient(Supervised):
    """REST requests plus a supervised event websocket for one Stasis application.

    ``run()`` keeps the websocket up: after each successful connect it awaits
    ``on_connected`` (where the caller resyncs its state) and then awaits ``on_event`` for
    every event, one at a time and in Asterisk's order. A slow ``on_event`` therefore
    delays later events rather than reordering them. The websocket is read all the while
    (responses to REST requests never wait behind events), so ``on_connected`` and
    ``on_event`` may make requests.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        on_event: Callable[[Event], Awaitable[None]],
        on_connected: Callable[[], Awaitable[None]] | None = None,
        on_disconnected: Callable[[], Awaitable[None]] | None = None,
        backoff: Backoff | None = None,
        request_timeout: float = 5.0,
        stable_after: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        rest_over_websocket: bool = True,
        rest_probe_timeout: float = 2.0,
        event_types: Collection[str] = (),
        on_answer: Callable[[float], None] | None = None,
    ) -> None:
        """``stable_after``: a connection that lasted this long resets the backoff.

        ``transport`` replaces httpx's network transport (tests use ``httpx.MockTransport``).
        ``rest_over_websocket``: try REST on the websocket; each connection first checks
        that Asterisk answers one there within ``rest_probe_timeout`` seconds.
        ``event_types``: the only event types Asterisk is asked to send the application
        (its eventFilter, set on every connection); all of them when empty.
        ``on_answer``: told how many seconds each request took, answered or failed.
        """
        self.refusing = False  # refuse_requests() was called
        self._events_url = _events_url(base_url, app)
        self._app = app
        self._on_event = on_event
        self._on_disconnected = on_disconnected
        self._on_answer = on_answer
        super().__init__(backoff, on_connected, stable_after)
        self._open_timeout = request_timeout
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._auth_headers = {"Authorization": f"Basic {credentials}"}
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=self._auth_headers,
            timeout=request_timeout,
            limits=_POOL_LIMITS,
            transport=transport,
            trust_env=False,  # Asterisk is reached directly, never through an HTTP proxy
        )
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_rest = False  # this connection answers RESTRequest messages
        self._responses: dict[str, asyncio.Future[Event]] = {}
        self._request_ids = itertools.count()
        self._request_timeout = request_timeout
        self._try_ws_rest = rest_over_websocket
        self._rest_probe_timeout = rest_probe_timeout
        # The filter holds for every message on the websocket: without RESTResponse, the
        # answers to REST requests sent there (the filter's own included) never come.
        self._event_types = sorted({*event_types, "RESTResponse"}) if event_types else []

    @property
    def connected(self) -> bool:
        """True while the event websocket is open (safe to read from other threads)."""
        ws = self._ws
        return ws is not None and not ws.closed

    # REST

    async def request(
        self, method: str, path: str, *, params: Params | None = None, json: Any = None
    ) -> Any:
        """Send one ARI request; return its parsed JSON body, or None when it has none.

        ``path`` is relative to the base URL (``"/channels/create"``). ARI takes operation
        parameters as query parameters; ``json`` is for bodies such as ``{"variables": {...}}``.
        """
        started = time.perf_counter()
        try:
            return await self._request(method, path, params, json)
        finally:
            took = time.perf_counter() - started
            _latency(method, path).observe(took)
            if self._on_answer is not None:
                self._on_answer(took)

    async def _request(self, method: str, path: str, params: Params | None,
                       json: Any) -> Any:
        if self.refusing:
            raise AriRefused(method, path)
        ws = self._ws
        if self._ws_rest and ws is not None and not _whole_list(method, path):
            return await self._ws_request(ws, method, path, params, json)
        try:
            response = await self._http.request(
                method,
                path,
                params=_query(params) if params else None,
                content=None if json is None else orjson.dumps(json),
                headers=None if json is None else _JSON_HEADERS,
            )
        except httpx.TransportError as exc:
            raise AriError(0, method, path, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise AriError(response.status_code, method, path, _error_message(
                response.content, response.text or response.reason_phrase))
        return orjson.loads(response.content) if response.content else None

    async def _ws_request(self, ws: aiohttp.ClientWebSocketResponse, method: str, path: str,
                          params: Params | None, json: Any) -> Any:
        request_id = f"r{next(self._request_ids)}"
        message: dict[str, Any] = {"type": "RESTRequest", "request_id": request_id,
                                   "method": method, "uri": path.lstrip("/")}
        if params:
            # Name/value pairs rather than a query string in the uri: nothing to encode
            # (urlencode cost about 3% of the engine's CPU at 50 calls/s).
            message["query_strings"] = [{"name": name, "value": value}
                                        for name, value in _query(params).items()]
        if json is not None:
            message |= {"content_type": "application/json",
                        "message_body": orjson.dumps(json).decode()}
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Event] = loop.create_future()
        self._responses[request_id] = answer
        # A timer on the future itself: asyncio.wait_for would add a future and callbacks
        # of its own to each of the dozen requests of every call.
        expiry = loop.call_later(self._request_timeout, _expire, answer)
        try:
            await ws.send_frame(orjson.dumps(message), aiohttp.WSMsgType.TEXT)
            response = await answer
        except TimeoutError as exc:
            raise AriError(0, method, path, "no response on the websocket in time") from exc
        except ConnectionError as exc:  # WebsocketClosed, or aiohttp's on a send
            raise AriError(0, method, path, f"websocket closed: {exc}") from exc
        finally:
            expiry.cancel()
            self._responses.pop(request_id, None)
            if answer.done() and not answer.cancelled():
                answer.exception()  # failed by the lost connection as this one raised
        body = response.get("message_body")
        status = int(response.get("status_code", 0))
        if status >= 400 or status == 0:
            raise AriError(status, method, path, _error_message(
                body, str(response.get("reason_phrase") or "no status")))
        return orjson.loads(body) if body else None

    def _stopping(self) -> bool:
        return self.refusing or super()._stopping()

    def refuse_requests(self) -> None:
        """Send nothing more to Asterisk: ringbridge is stopping, and what its flows would
        still ask (a hangup as their requests fail) must not reach the calls it leaves
        to the next ringbridge."""
        self.refusing = True

    async def get(self, path: str, params: Params | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, params: Params | None = None, json: Any = None) -> Any:
        return await self.request("POST", path, params=params, json=json)

    async def delete(self, path: str, params: Params | None = None) -> Any:
        return await self.request("DELETE", path, params=params)

    # Events

    async def close(self) -> None:
        """Stop ``run()`` (interrupting a connect, resync or backoff wait) and the HTTP pool.

        Not from inside ``run()``'s callbacks, which run() would then wait for: use
        ``asyncio.create_task(client.close())`` there.
        """
        await self._stop_running()
        await self._http.aclose()

    async def _connection(self) -> None:
        """One websocket connection, from connect to loss. Only cancellation escapes."""
        try:
            await self._connect_and_pump()
        except Exception as exc:
            await self._connection_ended(exc)

    async def _connect_and_pump(self) -> NoReturn:
        # A session per connection: nothing of a lost connection's is kept for the next.
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._open_timeout),  # the handshake's
            trust_env=False,  # Asterisk is reached directly, never through an HTTP proxy
        ) as session, session.ws_connect(
            self._events_url,
            headers=self._auth_headers,
            heartbeat=_WS_HEARTBEAT,
            timeout=aiohttp.ClientWSTimeout(ws_close=_WS_CLOSE_TIMEOUT),
            compress=0,
        ) as ws:
            events: asyncio.Queue[Any] = asyncio.Queue()
            reader = asyncio.create_task(self._read(ws, events))
            self._ws = ws
            try:
                self._ws_rest = await self._offers_rest()
                await self._filter_events()
                await self._opened()
                while (event := await events.get()) is not _CLOSED:
                    await self._deliver(event)
                await reader  # raises what ended the connection (WebsocketClosed)
            finally:
                self._ws, self._ws_rest = None, False
                reader.cancel()
                self._fail_waiting_requests()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse,
                    events: asyncio.Queue[Any]) -> NoReturn:
        """Read every message: responses go to their requests, events into `events`."""
        try:
            while True:
                frame = await ws.receive()
                if frame.type in _WS_ENDED:
                    raise WebsocketClosed(_why_ended(ws, frame))
                message = orjson.loads(frame.data)
                if message.get("type") == "RESTResponse":
                    answer = self._responses.get(str(message.get("request_id")))
                    if answer is not None and not answer.done():
                        answer.set_result(message)
                else:
                    events.put_nowait(message)
        finally:
            events.put_nowait(_CLOSED)

    async def _offers_rest(self) -> bool:
        """Does this Asterisk take REST requests on the websocket (22.4 and later)?"""
        if not self._try_ws_rest:
            return False
        self._ws_rest = True
        try:
            await asyncio.wait_for(self.get("/asterisk/ping"), self._rest_probe_timeout)
        except AriRefused:
            raise  # ringbridge is stopping: this connection ends here
        except (AriError, TimeoutError) as exc:
            log.warning("ARI: REST requests go over HTTP: the websocket did not answer one "
                        "in %.1f s (%s)", self._rest_probe_timeout, exc or "timeout")
            return False
        return True

    async def _filter_events(self) -> None:
        """Asterisk sends an application every event of its channels (variables set,
        dialplan steps, connected line, bridge moves: most of a call's events) unless told
        which types it wants. Without the filter (an Asterisk that refuses it), every
        event still comes and the unwanted ones are dropped here as before."""
        if not self._event_types:
            return
        try:
            await self.request("PUT", f"/applications/{quote(self._app, safe='')}/eventFilter",
                               json={"allowed": [{"type": t} for t in self._event_types]})
        except AriRefused:
            raise  # ringbridge is stopping: this connection ends here
        except AriError as exc:
            log.warning("ARI: every event type comes: Asterisk refused the application's "
                        "event filter (%s)", exc)

    def _fail_waiting_requests(self) -> None:
        for answer in self._responses.values():
            if not answer.done():
                answer.set_exception(WebsocketClosed("the connection ended"))
        self._responses.clear()

    def _describe_target(self) -> str:
        return f"ARI events websocket for app {self._app}"

    async def _deliver(self, event: Event) -> None:
        try:
            await self._on_event(event)
        except Exception:
            log.exception(
                "ARI on_event failed for %s event (channel %s); continuing with the next event",
                event.get("type"), _channel_id(event),
            )

    async def _connection_ended(self, exc: Exception) -> None:
        if self._lost(exc) and self._on_disconnected is not None:
            try:
                await self._on_disconnected()
            except Exception:
                log.exception("ARI on_disconnected failed")


# A GET of a whole list, whose answer grows with the calls or the extensions. Asterisk
# 22.10 crashes (SIGSEGV) sending a REST answer of some 500 KB on the websocket (GET
# /endpoints/PJSIP with 5,000 endpoints; 4,000 passed), which HTTP carries in 20 ms: such
# requests always go over HTTP (docs/extensions.md).
_WHOLE_LISTS = re.compile(r"/?(channels|bridges|endpoints(/[^/]+)?|recordings/stored|"
                          r"applications|deviceStates|playbacks|mailboxes|sounds)/?")


def _why_ended(ws: aiohttp.ClientWebSocketResponse, frame: aiohttp.WSMessage) -> str:
    """What ended the websocket, as far as aiohttp knows (an error, or the close code)."""
    error = ws.exception() or (frame.data if frame.type is aiohttp.WSMsgType.ERROR else None)
    if isinstance(error, BaseException):
        return describe(error)
    return f"closed with code {ws.close_code}" if ws.close_code is not None else "closed"


def _expire(answer: asyncio.Future[Event]) -> None:
    """A websocket request Asterisk has not answered in time fails."""
    if not answer.done():
        answer.set_exception(TimeoutError())


def _whole_list(method: str, path: str) -> bool:
    return method == "GET" and _WHOLE_LISTS.fullmatch(path) is not None


def _events_url(base_url: str, app: str) -> str:
    """``http://host:8088/ari`` -> ``ws://host:8088/ari/events?app=<app>&subscribeAll=false``."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urlencode({"app": app, "subscribeAll": "false"})
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/events", query, ""))


def _query(params: Params) -> dict[str, str]:
    """Render parameters the way ARI parses them.

    Booleans become ``true``/``false``; lists are joined with commas because ARI keeps only
    the last of repeated parameters (``channel=a&channel=b`` would add just ``b``); None
    values are left out so callers can pass optional arguments unconditionally.
    """
    query: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            query[name] = ",".join(value)
        else:
            query[name] = str(value)
    return query


def _error_message(body: bytes | str | None, otherwise: str) -> str:
    """Asterisk's ``{"message": ...}`` when the body has one, else ``otherwise``."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and "message" in parsed:
        return str(parsed["message"])
    return otherwise


def _channel_id(event: Event) -> str | None:
    channel = event.get("channel")
    return channel.get("id") if isinstance(channel, dict) else None


# The words of ARI's paths that are not ids: a request's operation keeps them and
# puts {id} for the rest ("POST /channels/{id}/dial"), so its metrics label is bounded.
OPERATION_WORDS = frozenset({
    "channels", "bridges", "endpoints", "recordings", "playbacks", "asterisk",
    "applications", "deviceStates", "sounds", "live", "stored", "create", "answer", "ring",
    "dial", "continue", "variable", "addChannel", "removeChannel", "record", "play", "moh",
    "hold", "mute", "dtmf", "redirect", "silence", "snoop", "externalMedia", "info",
    "PJSIP", "stop", "copy", "file", "ping", "modules", "logging", "config", "move",
    "progress", "subscription", "eventFilter", "media", "transfer", "events", "claim",
})


def operation(path: str) -> str:
    """`/channels/rb-x-1/dial` → `/channels/{id}/dial`."""
    return "/".join([part if part in OPERATION_WORDS or not part else "{id}"
                     for part in path.split("/")])


# ARI_LATENCY's series by (method, operation): a dozen requests per call each looked up
# its series by labels(), 2% of the engine's CPU (py-spy, 50 calls/s).
_LATENCIES: dict[tuple[str, str], Histogram] = {}


def _latency(method: str, path: str) -> Histogram:
    """The ARI_LATENCY series that a request to `path` is observed in."""
    key = (method, operation(path))
    series = _LATENCIES.get(key)
    if series is None:
        series = _LATENCIES[key] = metrics.ARI_LATENCY.labels(*key)
    return series
