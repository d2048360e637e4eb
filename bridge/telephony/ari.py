"""Thin Asterisk REST Interface (ARI) client: REST over httpx, Stasis events over a websocket.

The Python ARI libraries are unmaintained or do not reconnect, so this is our own small
layer. It is on the hot path (every call is a handful of requests and a dozen events), so
it keeps one pooled keep-alive HTTP client, parses with orjson straight from bytes and
hands events on as the plain dicts Asterisk sent.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from bridge.telephony.backoff import Backoff
from bridge.telephony.supervised import Supervised

log = logging.getLogger(__name__)

Event = dict[str, Any]
"""An ARI event exactly as Asterisk sent it (``type``, ``channel``, ``bridge``, ...)."""

Params = Mapping[str, Any]
"""Query parameters: str/int/float values, bools, lists (sent comma-separated), None (omitted)."""

# Asterisk's HTTP server allows 100 sessions by default (http.conf sessionlimit), websockets
# included, and drops idle keep-alive sessions after 15 s (session_keep_alive): stay below both.
_POOL_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=10.0)
_JSON_HEADERS = {"Content-Type": "application/json"}
# Asterisk answers websocket pings, so a silently dead peer is noticed within about 10 s.
_WS_PING_INTERVAL = 5.0
_WS_PING_TIMEOUT = 5.0
_WS_CLOSE_TIMEOUT = 2.0


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


class AriClient(Supervised):
    """REST requests plus a supervised event websocket for one Stasis application.

    ``run()`` keeps the websocket up: after each successful connect it awaits
    ``on_connected`` (where the caller resyncs its state) and then awaits ``on_event`` for
    every event, one at a time and in Asterisk's order. A slow ``on_event`` therefore
    delays later events rather than reordering them.
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
    ) -> None:
        """``stable_after``: a connection that lasted this long resets the backoff.

        ``transport`` replaces httpx's network transport (tests use ``httpx.MockTransport``).
        """
        self._events_url = _events_url(base_url, app)
        self._app = app
        self._on_event = on_event
        self._on_disconnected = on_disconnected
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
        self._ws: ClientConnection | None = None

    @property
    def connected(self) -> bool:
        """True while the event websocket is open (safe to read from other threads)."""
        ws = self._ws
        return ws is not None and ws.state is State.OPEN

    # REST

    async def request(
        self, method: str, path: str, *, params: Params | None = None, json: Any = None
    ) -> Any:
        """Send one ARI request; return its parsed JSON body, or None when it has none.

        ``path`` is relative to the base URL (``"/channels/create"``). ARI takes operation
        parameters as query parameters; ``json`` is for bodies such as ``{"variables": {...}}``.
        """
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
            raise AriError(response.status_code, method, path, _error_message(response))
        return orjson.loads(response.content) if response.content else None

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
        async with connect(
            self._events_url,
            additional_headers=self._auth_headers,
            open_timeout=self._open_timeout,
            ping_interval=_WS_PING_INTERVAL,
            ping_timeout=_WS_PING_TIMEOUT,
            close_timeout=_WS_CLOSE_TIMEOUT,
            compression=None,
            proxy=None,
        ) as ws:
            self._ws = ws
            try:
                await self._opened()
                while True:  # ends with ConnectionClosed when the socket goes
                    await self._deliver(orjson.loads(await ws.recv(decode=False)))
            finally:
                self._ws = None

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

def _events_url(base_url: str, app: str) -> str:
    """``http://host:8088/ari`` -> ``ws://host:8088/ari/events?app=<app>&subscribeAll=false``."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urlencode({"app": app, "subscribeAll": "false"})
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/events", query, ""))


def _query(params: Params) -> dict[str, str | int | float]:
    """Render parameters the way ARI parses them.

    Booleans become ``true``/``false``; lists are joined with commas because ARI keeps only
    the last of repeated parameters (``channel=a&channel=b`` would add just ``b``); None
    values are left out so callers can pass optional arguments unconditionally.
    """
    query: dict[str, str | int | float] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            query[name] = ",".join(value)
        else:
            query[name] = value
    return query


def _error_message(response: httpx.Response) -> str:
    """Asterisk's ``{"message": ...}`` when present, else the body or the reason phrase."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return response.text or response.reason_phrase


def _channel_id(event: Event) -> str | None:
    channel = event.get("channel")
    return channel.get("id") if isinstance(channel, dict) else None

