"""AriClient against a fake ARI: a websockets server for /ari/events, MockTransport for REST."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import itertools
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bridge.asterisk import ari
from bridge.asterisk.ari import AriClient, AriError, Event
from bridge.asterisk.backoff import Backoff
from tests.unit.async_support import TIMEOUT, Waiter, eventually, run

USER, PASSWORD, APP = "ringbridge", "s3cret", "rbapp"


class FakeAri:
    """The websocket half of ARI: checks path, app and basic auth, then sends ``events``."""

    def __init__(self, events: list[Event], waiter: Waiter) -> None:
        self.events = events
        self.waiter = waiter
        # Answers RESTRequest messages (Asterisk 22.4+) when set; older ones ignore them.
        self.rest: Callable[[Event], Event] | None = None
        self.rest_requests: list[Event] = []  # every RESTRequest received, answered or not
        self.accepting = True
        self.attempts: list[float] = []  # loop time of every handshake, accepted or not
        self.rejections: list[int] = []
        self.connections: list[ServerConnection] = []
        self.hung: list[ServerConnection] = []  # stop_reading()'s, cut when stopping
        self.port = 0
        self._server: Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ari"

    async def start(self) -> None:
        self._server = await serve(self._handler, "127.0.0.1", self.port,
                                   process_request=self._check)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        for ws in self.hung:  # a close handshake would wait for them in vain
            ws.transport.abort()
        self._server.close()
        await self._server.wait_closed()

    async def close_all(self, code: int) -> None:
        """Close every connection with a close handshake and `code`, as Asterisk does."""
        for ws in self.connections:
            await ws.close(code)

    def stop_reading(self) -> None:
        """Read nothing more from the connections (their pings go unanswered): a peer that
        hangs without closing anything."""
        for ws in self.connections:
            ws.transport.pause_reading()
        self.hung += self.connections

    def drop_all(self) -> None:
        """Cut every connection without a close handshake, as a crashing Asterisk would."""
        for ws in self.connections:
            ws.transport.abort()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.attempts.append(asyncio.get_running_loop().time())
        self.waiter.poke()
        url = urlsplit(request.path)
        expected_auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if url.path != "/ari/events" or parse_qs(url.query) != {
            "app": [APP], "subscribeAll": ["false"],
        }:
            status = HTTPStatus.NOT_FOUND
        elif request.headers.get("Authorization") != expected_auth:
            status = HTTPStatus.UNAUTHORIZED
        elif not self.accepting:
            status = HTTPStatus.SERVICE_UNAVAILABLE
        else:
            return None
        self.rejections.append(status)
        return connection.respond(status, f"{status.phrase}\n")

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        for event in self.events:
            await ws.send(orjson.dumps(event).decode())
        with contextlib.suppress(ConnectionClosed):  # the client went, cleanly or not
            await self._answer_requests(ws)

    async def _answer_requests(self, ws: ServerConnection) -> None:
        async for message in ws:
            request = orjson.loads(message)
            if request.get("type") != "RESTRequest":
                continue
            self.rest_requests.append(request)
            self.waiter.poke()
            if self.rest is not None:
                answer = {"type": "RESTResponse", "request_id": request.get("request_id"),
                          "uri": request["uri"].split("?")[0], **self.rest(request)}
                await ws.send(orjson.dumps(answer).decode())


class RecordingBackoff(Backoff):
    """A fast, jitter-free Backoff that remembers what it handed out."""

    def __init__(self, initial: float = 0.05, maximum: float = 0.2) -> None:
        super().__init__(initial=initial, maximum=maximum, factor=2.0, jitter=0.0)
        self.delays: list[float] = []
        self.resets = 0

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.delays.append(delay)
        return delay

    def reset(self) -> None:
        self.resets += 1
        super().reset()


class Recorder:
    """The engine's side: records callbacks in one ordered log."""

    def __init__(self, waiter: Waiter) -> None:
        self.waiter = waiter
        self.log: list[str] = []
        self.events: list[Event] = []
        self.connects = 0
        self.disconnects = 0
        self.fail_on: set[str] = set()
        self.resyncs_started = 0
        self.hold_resync = asyncio.Event()  # cleared by a test to keep on_connected running
        self.hold_resync.set()

    async def on_event(self, event: Event) -> None:
        self.events.append(event)
        self.log.append(event["type"])
        self.waiter.poke()
        if event["type"] in self.fail_on:
            raise RuntimeError(f"engine bug while handling {event['type']}")

    async def on_connected(self) -> None:
        self.resyncs_started += 1
        self.waiter.poke()
        await self.hold_resync.wait()
        await asyncio.sleep(0)  # a real resync awaits REST calls; events must wait for it
        self.connects += 1
        self.log.append("connected")
        self.waiter.poke()

    async def on_disconnected(self) -> None:
        self.disconnects += 1
        self.log.append("disconnected")
        self.waiter.poke()


def stasis_events(channel: str) -> list[Event]:
    return [
        {"type": kind, "channel": {"id": channel}, "application": APP}
        for kind in ("StasisStart", "ChannelStateChange", "ChannelVarset", "StasisEnd")
    ]


class Harness:
    """A fake ARI with a client running against it."""

    def __init__(self, events: list[Event], backoff: RecordingBackoff) -> None:
        self.waiter = Waiter()
        self.server = FakeAri(events, self.waiter)
        self.recorder = Recorder(self.waiter)
        self.backoff = backoff

    async def start(
        self, *, on_event: Callable[[Event], Awaitable[None]] | None = None, **kwargs: Any
    ) -> None:
        await self.server.start()
        kwargs.setdefault("rest_over_websocket", self.server.rest is not None)
        self.client = AriClient(
            self.server.base_url, USER, kwargs.pop("password", PASSWORD), APP,
            on_event=on_event or self.recorder.on_event,
            on_connected=self.recorder.on_connected,
            on_disconnected=self.recorder.on_disconnected,
            backoff=self.backoff, **kwargs,
        )
        self.task = asyncio.create_task(self.client.run())

    async def shut_down(self) -> None:
        await self.client.close()
        assert self.task.done()
        await self.task  # run() must end normally after close()
        await self.server.stop()


async def started(events: list[Event], backoff: RecordingBackoff | None = None,
                  **kwargs: Any) -> Harness:
    harness = Harness(events, backoff or RecordingBackoff())
    await harness.start(**kwargs)
    return harness


# Events


def test_events_are_delivered_in_order_after_on_connected() -> None:
    async def scenario() -> None:
        events = stasis_events("ch-1") + stasis_events("ch-2")
        h = await started(events)
        await h.waiter.until(lambda: len(h.recorder.events) == len(events))
        assert h.recorder.log == ["connected"] + [event["type"] for event in events]
        assert h.recorder.events == events
        assert h.client.connected
        await h.shut_down()
        assert not h.client.connected

    run(scenario())


def test_ready_only_once_on_connected_has_finished_on_each_connection() -> None:
    async def scenario() -> None:
        events = stasis_events("ch-1")
        h = Harness(events, RecordingBackoff())
        h.recorder.hold_resync.clear()
        await h.start()
        await h.waiter.until(lambda: h.recorder.resyncs_started == 1)
        assert h.client.connected and not h.client.ready, "ready before the resync finished"
        h.recorder.hold_resync.set()
        await h.waiter.until(lambda: len(h.recorder.events) == len(events))  # after on_connected
        assert h.client.ready

        h.recorder.hold_resync.clear()
        h.server.drop_all()
        await h.waiter.until(lambda: h.recorder.resyncs_started == 2)
        assert h.client.connected and not h.client.ready, "ready before its own resync"
        h.recorder.hold_resync.set()
        await h.waiter.until(lambda: len(h.recorder.events) == 2 * len(events))
        assert h.client.ready
        await h.shut_down()
        assert not h.client.ready

    run(scenario())


def test_an_exception_in_on_event_is_logged_and_later_events_still_arrive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        events = stasis_events("ch-7")
        h = await started(events)
        h.recorder.fail_on = {"ChannelStateChange"}
        await h.waiter.until(lambda: len(h.recorder.events) == len(events))
        assert h.recorder.events == events
        assert h.recorder.connects == 1, "a failing handler must not cost a reconnect"
        await h.shut_down()

    with caplog.at_level(logging.ERROR, logger="bridge.asterisk.ari"):
        run(scenario())
    [record] = caplog.records
    assert "ChannelStateChange" in record.getMessage()
    assert "ch-7" in record.getMessage()
    assert record.exc_info is not None


def test_a_resync_cut_short_by_stopping_is_no_error(caplog: pytest.LogCaptureFixture
                                                    ) -> None:
    """ringbridge stopping while on_connected still talks to Asterisk (a standby that had
    just taken an Asterisk node over): said once, without an error and its traceback."""
    async def scenario() -> None:
        h = Harness([], RecordingBackoff())

        async def resync() -> None:
            h.client.refuse_requests()
            h.recorder.resyncs_started += 1
            await h.client.get("/channels")

        h.recorder.on_connected = resync  # type: ignore[method-assign]
        await h.start(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=[])))
        await h.waiter.until(lambda: h.recorder.resyncs_started > 0)
        await h.shut_down()

    with caplog.at_level(logging.INFO, logger="bridge.asterisk.ari"):
        run(scenario())
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []
    assert any("on_connected cut short: ringbridge is stopping" in r.getMessage()
               for r in caplog.records)


def test_reconnects_with_backoff_after_the_server_drops_the_socket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        h = await started(stasis_events("ch-1"))
        await h.waiter.until(lambda: len(h.recorder.events) == 4)

        h.server.accepting = False
        h.server.drop_all()
        await h.waiter.until(lambda: h.recorder.disconnects == 1)
        assert not h.client.connected
        await h.waiter.until(lambda: len(h.server.rejections) == 4)
        assert not h.client.connected
        assert h.recorder.disconnects == 1, "on_disconnected once per outage, not per retry"

        h.server.accepting = True
        await h.waiter.until(lambda: len(h.recorder.events) == 8)
        assert h.client.connected
        session = ["connected", "StasisStart", "ChannelStateChange", "ChannelVarset",
                   "StasisEnd"]
        assert h.recorder.log == [*session, "disconnected", *session]

        # attempts[0] was the first connection and delays[0] was waited before attempts[1];
        # every later gap between attempts must be at least the delay handed out for it.
        assert h.backoff.delays[:5] == [0.05, 0.1, 0.2, 0.2, 0.2]
        attempts = h.server.attempts
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts[1:])]
        assert len(gaps) == 4
        for gap, delay in zip(gaps, h.backoff.delays[1:], strict=False):
            assert gap >= delay - 0.002
        await h.shut_down()

    with caplog.at_level(logging.DEBUG, logger="bridge.asterisk.ari"):
        run(scenario())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning per outage, not one per retry"
    assert "lost" in warnings[0].getMessage()


def test_a_close_by_asterisk_is_logged_with_its_code_and_reconnected(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        h = await started(stasis_events("ch-1"))
        await h.waiter.until(lambda: h.recorder.connects == 1)
        await h.server.close_all(1001)
        await h.waiter.until(lambda: h.recorder.connects == 2)
        assert h.recorder.disconnects == 1
        await h.shut_down()

    with caplog.at_level(logging.WARNING, logger="bridge.asterisk.ari"):
        run(scenario())
    assert "lost (WebsocketClosed: closed with code 1001)" in caplog.text


def test_an_asterisk_that_stops_answering_pings_is_noticed(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Hung, not gone: the socket stays open and nothing more comes. A ping goes after a
    heartbeat without a message, and the connection ends when its pong is late."""
    monkeypatch.setattr(ari, "_WS_HEARTBEAT", 0.2)

    async def scenario() -> None:
        h = await started(stasis_events("ch-1"))
        await h.waiter.until(lambda: h.recorder.connects == 1)
        h.server.stop_reading()
        await h.waiter.until(lambda: h.recorder.disconnects == 1)
        assert not h.client.connected
        await h.waiter.until(lambda: h.recorder.connects == 2)  # a new connection is read
        await h.shut_down()

    with caplog.at_level(logging.WARNING, logger="bridge.asterisk.ari"):
        run(scenario())
    assert "lost (WebsocketClosed: ServerTimeoutError" in caplog.text


def test_reconnects_when_the_server_goes_away_and_comes_back() -> None:
    async def scenario() -> None:
        h = await started(stasis_events("ch-1"))
        await h.waiter.until(lambda: h.recorder.connects == 1)
        await h.server.stop()
        await h.waiter.until(lambda: h.recorder.disconnects == 1)
        assert not h.client.connected
        await h.server.start()  # on the same port
        await h.waiter.until(lambda: h.recorder.connects == 2)
        assert h.client.connected
        await h.shut_down()

    run(scenario())


def test_connected_turns_false_as_soon_as_the_socket_dies_even_during_on_event() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def slow_on_event(event: Event) -> None:
            h.recorder.events.append(event)
            h.waiter.poke()
            await release.wait()

        h = Harness(stasis_events("ch-1"), RecordingBackoff())
        await h.start(on_event=slow_on_event)
        await h.waiter.until(lambda: len(h.recorder.events) == 1)
        assert h.client.connected
        h.server.drop_all()
        await eventually(lambda: not h.client.connected)
        assert h.recorder.disconnects == 0, "still inside on_event: the loss is not handled yet"
        release.set()
        await h.waiter.until(lambda: h.recorder.disconnects == 1)
        await h.shut_down()

    run(scenario())


@pytest.mark.parametrize(("stable_after", "second_delay"), [(60.0, 0.1), (0.0, 0.05)])
def test_backoff_resets_only_after_a_connection_that_lasted(
    stable_after: float, second_delay: float
) -> None:
    async def scenario() -> None:
        h = await started(stasis_events("ch-1"), stable_after=stable_after)
        await h.waiter.until(lambda: h.recorder.connects == 1)
        h.server.drop_all()
        await h.waiter.until(lambda: h.recorder.connects == 2)
        h.server.drop_all()
        await h.waiter.until(lambda: h.recorder.connects == 3)
        assert h.backoff.delays[:2] == [0.05, second_delay]
        await h.shut_down()

    run(scenario())


def test_wrong_credentials_are_refused_and_retried_without_connecting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        h = await started([], password="wrong")
        await h.waiter.until(lambda: len(h.server.rejections) >= 3)
        assert set(h.server.rejections) == {HTTPStatus.UNAUTHORIZED}
        assert not h.client.connected
        assert h.recorder.connects == h.recorder.disconnects == 0
        await h.shut_down()

    with caplog.at_level(logging.WARNING, logger="bridge.asterisk.ari"):
        run(scenario())
    [warning] = caplog.records
    assert "unavailable" in warning.getMessage()
    assert "401" in warning.getMessage()


# Shutdown


async def closes_promptly(h: Harness) -> None:
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    await h.client.close()
    assert loop.time() - started_at < 0.5
    assert h.task.done()
    assert h.task.exception() is None
    assert not h.client.connected
    await h.server.stop()


def test_close_stops_run_promptly_while_connected() -> None:
    async def scenario() -> None:
        h = await started(stasis_events("ch-1"))
        await h.waiter.until(lambda: h.recorder.connects == 1)
        await closes_promptly(h)

    run(scenario())


def test_close_stops_run_promptly_during_a_long_backoff_wait() -> None:
    async def scenario() -> None:
        h = await started([], RecordingBackoff(initial=30.0, maximum=30.0))
        await h.waiter.until(lambda: h.recorder.connects == 1)
        h.server.drop_all()
        await h.waiter.until(lambda: h.recorder.disconnects == 1)
        await closes_promptly(h)

    run(scenario())


def test_close_from_a_callback_must_be_scheduled_as_a_task() -> None:
    async def scenario() -> None:
        refused: list[Exception] = []

        async def on_event(event: Event) -> None:
            try:
                await h.client.close()
            except RuntimeError as exc:  # run() would wait for itself
                refused.append(exc)
                asyncio.create_task(h.client.close())  # noqa: RUF006 - the test awaits run()

        h = Harness(stasis_events("ch-1"), RecordingBackoff())
        await h.start(on_event=on_event)
        await asyncio.wait_for(h.task, TIMEOUT)
        assert len(refused) >= 1
        assert not h.client.connected
        await h.server.stop()

    run(scenario())


# REST


Handler = Callable[[httpx.Request], httpx.Response]


def rest(handler: Handler, scenario: Callable[[AriClient], Awaitable[None]],
         on_answer: Callable[[float], None] | None = None) -> None:
    async def main() -> None:
        client = AriClient("http://asterisk.test:8088/ari", USER, PASSWORD, APP,
                           on_event=_ignore, transport=httpx.MockTransport(handler),
                           on_answer=on_answer)
        try:
            await scenario(client)
        finally:
            await client.close()

    asyncio.run(main())


async def _ignore(event: Event) -> None:
    del event


def test_every_request_answered_or_failed_tells_how_long_it_took() -> None:
    """The engine's load watch counts them (bridge/engine/load_watch.py)."""
    took: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if request.url.path.endswith("gone") else 200, json={})

    async def scenario(client: AriClient) -> None:
        await client.get("/channels/here")
        with pytest.raises(AriError):
            await client.delete("/channels/gone")

    rest(handler, scenario, on_answer=took.append)
    assert len(took) == 2 and all(0 <= seconds < 5 for seconds in took)


def test_requests_are_timed_by_operation_answered_or_failed() -> None:
    """One series per method and operation, whatever the ids in the paths."""
    dials = {"method": "POST", "operation": "/channels/{id}/dial"}

    def count() -> float:
        return REGISTRY.get_sample_value("ringbridge_ari_request_seconds_count", dials) or 0

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if "gone" in request.url.path else 204)

    async def scenario(client: AriClient) -> None:
        await client.post("/channels/rb-a-1/dial")
        await client.post("/channels/1796424707.0/dial")
        with pytest.raises(AriError):
            await client.post("/channels/gone/dial")
        await client.post("/channels/rb-a-1/answer")

    before = count()
    rest(handler, scenario)
    assert count() - before == 3


def test_request_returns_parsed_json_and_sends_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"id": "ch-1", "state": "Up"}])

    async def scenario(client: AriClient) -> None:
        assert await client.get("/channels") == [{"id": "ch-1", "state": "Up"}]

    rest(handler, scenario)
    [request] = seen
    assert request.method == "GET"
    assert str(request.url) == "http://asterisk.test:8088/ari/channels"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        f"{USER}:{PASSWORD}".encode()).decode()


def test_204_returns_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204)

    async def scenario(client: AriClient) -> None:
        assert await client.delete("/channels/ch-1", {"reason": "normal"}) is None
        assert await client.post("/channels/ch-1/answer") is None

    rest(handler, scenario)


def test_404_raises_ari_error_with_asterisks_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"message": "Channel not found"})

    async def scenario(client: AriClient) -> None:
        with pytest.raises(AriError) as caught:
            await client.post("/channels/nope/answer")
        error = caught.value
        assert (error.status, error.method, error.path, error.message) == (
            404, "POST", "/channels/nope/answer", "Channel not found")

    rest(handler, scenario)


def test_error_without_json_body_uses_the_text() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="Internal Server Error")

    async def scenario(client: AriClient) -> None:
        with pytest.raises(AriError) as caught:
            await client.get("/asterisk/info")
        assert caught.value.status == 500
        assert caught.value.message == "Internal Server Error"

    rest(handler, scenario)


def test_params_render_booleans_lists_and_skip_none() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async def scenario(client: AriClient) -> None:
        await client.post("/bridges/b-1/addChannel", {
            "channel": ["ch-1", "ch-2"], "absorbDTMF": True, "mute": False,
            "role": None, "timeout": 30,
        })

    rest(handler, scenario)
    [request] = seen
    assert dict(request.url.params.multi_items()) == {
        "channel": "ch-1,ch-2", "absorbDTMF": "true", "mute": "false", "timeout": "30",
    }
    assert len(request.url.params.multi_items()) == 4
    assert request.content == b""


def test_json_body_carries_variables() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "ch-9"})

    async def scenario(client: AriClient) -> None:
        created = await client.request(
            "POST", "/channels/create",
            params={"endpoint": "PJSIP/1001", "app": APP},
            json={"variables": {"CALLERID(name)": "Reception"}},
        )
        assert created == {"id": "ch-9"}

    rest(handler, scenario)
    [request] = seen
    assert request.headers["Content-Type"] == "application/json"
    assert orjson.loads(request.content) == {"variables": {"CALLERID(name)": "Reception"}}
    assert request.url.params["endpoint"] == "PJSIP/1001"


def test_transport_failure_raises_ari_error_with_status_0() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def scenario(client: AriClient) -> None:
        with pytest.raises(AriError) as caught:
            await client.get("/channels")
        assert caught.value.status == 0
        assert "ConnectError" in caught.value.message

    rest(handler, scenario)


# REST over the websocket


def ws_rest(request: Event) -> Event:
    """Asterisk's answers: a pong, a created bridge, a missing channel."""
    uri = request["uri"]
    if uri == "asterisk/ping":
        return {"status_code": 200, "message_body": '{"ping": "pong"}'}
    if uri.startswith("bridges/"):
        return {"status_code": 200, "message_body": '{"id": "b1"}'}
    return {"status_code": 404, "reason_phrase": "Not Found",
            "message_body": '{"message": "Channel not found"}'}


def test_requests_go_over_the_websocket_when_asterisk_answers_there() -> None:
    async def scenario() -> None:
        h = Harness([], RecordingBackoff())
        h.server.rest = ws_rest
        await h.start(transport=httpx.MockTransport(lambda r: httpx.Response(599)))
        await h.waiter.until(lambda: h.recorder.connects == 1)
        assert await h.client.post("/bridges/b1", {"type": "mixing", "name": "a b"},
                                   json={"x": [1]}) == {"id": "b1"}
        with pytest.raises(AriError) as failed:
            await h.client.post("/channels/nope/variable",
                                {"variable": "PJSIP_HEADER(add,X-A)", "value": "1"})
        assert (failed.value.status, failed.value.message) == (404, "Channel not found")
        sent = h.server.rest_requests
        assert [(r["uri"], r.get("query_strings")) for r in sent] == [
            ("asterisk/ping", None),
            ("bridges/b1", [{"name": "type", "value": "mixing"},
                            {"name": "name", "value": "a b"}]),
            ("channels/nope/variable", [{"name": "variable", "value": "PJSIP_HEADER(add,X-A)"},
                                        {"name": "value", "value": "1"}])]
        assert sent[1]["method"] == "POST" and orjson.loads(sent[1]["message_body"]) == {
            "x": [1]}
        assert len({r["request_id"] for r in sent}) == 3
        await h.shut_down()

    run(scenario())


def test_whole_lists_are_asked_for_over_http_even_when_the_websocket_answers() -> None:
    """Asterisk 22.10 crashes sending a large answer on the websocket (every endpoint of
    a 5,000-extension directory): a GET of a whole list goes over HTTP, one object's
    over the websocket."""
    async def scenario() -> None:
        seen: list[str] = []

        def http(request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            return httpx.Response(200, json=[])

        h = Harness([], RecordingBackoff())
        h.server.rest = ws_rest
        await h.start(transport=httpx.MockTransport(http))
        await h.waiter.until(lambda: h.recorder.connects == 1)
        for whole in ("/endpoints/PJSIP", "/channels", "/bridges", "/endpoints"):
            assert await h.client.get(whole) == []
        with pytest.raises(AriError):
            await h.client.get("/endpoints/PJSIP/1001@abc.example")
        assert seen == ["/ari/endpoints/PJSIP", "/ari/channels", "/ari/bridges",
                        "/ari/endpoints"]
        assert [r["uri"] for r in h.server.rest_requests] == [
            "asterisk/ping", "endpoints/PJSIP/1001@abc.example"]
        await h.shut_down()

    run(scenario())


def test_an_asterisk_that_ignores_websocket_requests_gets_them_over_http() -> None:
    async def scenario() -> None:
        seen: list[str] = []

        def http(request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            return httpx.Response(200, json={"id": "b1"})

        h = await started([], transport=httpx.MockTransport(http), rest_over_websocket=True,
                          rest_probe_timeout=0.1)
        await h.waiter.until(lambda: h.recorder.connects == 1)
        assert await h.client.post("/bridges/b1") == {"id": "b1"}
        assert seen == ["/ari/bridges/b1"]
        await h.shut_down()

    run(scenario())


def test_a_request_waiting_on_the_websocket_fails_when_it_drops() -> None:
    async def scenario() -> None:
        h = Harness([], RecordingBackoff())
        h.server.rest = lambda r: ws_rest(r) if r["uri"] == "asterisk/ping" else {}
        await h.start()
        await h.waiter.until(lambda: h.recorder.connects == 1)
        h.server.rest = None  # stops answering
        pending = asyncio.create_task(h.client.get("/channels/c1"))
        await h.waiter.until(lambda: len(h.server.rest_requests) == 2)  # the ping, then this
        h.server.drop_all()
        with pytest.raises(AriError) as failed:
            await asyncio.wait_for(pending, TIMEOUT)
        assert failed.value.status == 0
        await h.shut_down()

    run(scenario())


def test_a_request_asterisk_never_answers_on_the_websocket_fails_in_time() -> None:
    async def scenario() -> None:
        h = Harness([], RecordingBackoff())
        h.server.rest = lambda r: ws_rest(r) if r["uri"] == "asterisk/ping" else {}
        await h.start(request_timeout=0.2)
        await h.waiter.until(lambda: h.recorder.connects == 1)
        h.server.rest = None  # stops answering
        with pytest.raises(AriError) as failed:
            await asyncio.wait_for(h.client.get("/channels/c1"), TIMEOUT)
        assert (failed.value.status, failed.value.message) == (
            0, "no response on the websocket in time")
        h.server.rest = ws_rest  # answers again: the connection is still of use
        assert await h.client.post("/bridges/b1") == {"id": "b1"}
        await h.shut_down()

    run(scenario())


def test_a_request_still_sending_when_the_websocket_drops_leaves_no_unread_failure(
        caplog: pytest.LogCaptureFixture) -> None:
    """Seen under overload (two engines, 125 calls/s on 2 cores): requests stuck in the
    websocket's send as it dropped were failed by the drop and by the send, and asyncio
    logged "Future exception was never retrieved" for each, hundreds of ERROR lines."""
    class Stuck:
        def __init__(self) -> None:
            self.sending, self.dropped = asyncio.Event(), asyncio.Event()

        async def send_frame(self, message: bytes, opcode: object) -> None:
            self.sending.set()
            await self.dropped.wait()
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

    async def scenario() -> None:
        client = AriClient("http://asterisk.test:8088/ari", USER, PASSWORD, APP,
                           on_event=lambda event: asyncio.sleep(0))
        ws = Stuck()
        request = asyncio.create_task(
            client._ws_request(ws, "GET", "/channels", None, None))  # type: ignore[arg-type]
        await ws.sending.wait()
        client._fail_waiting_requests()  # the connection is lost
        ws.dropped.set()
        with pytest.raises(AriError, match="websocket closed"):
            await request
        del request
        gc.collect()
        await asyncio.sleep(0)
        await client.close()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        run(scenario())
    assert "never retrieved" not in caplog.text


def test_once_refusing_nothing_is_sent() -> None:
    """While ringbridge stops, no request reaches Asterisk (a hangup included)."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    async def scenario(client: AriClient) -> None:
        await client.delete("/channels/c1")
        client.refuse_requests()
        with pytest.raises(AriError) as refused:
            await client.delete("/channels/c2")
        assert refused.value.status == 0 and "stopping" in refused.value.message

    rest(handler, scenario)
    assert [request.url.path for request in sent] == ["/ari/channels/c1"]


def test_each_connection_asks_for_only_the_event_types_given() -> None:
    """And for the answers to REST requests on the websocket: Asterisk filters those too,
    so without them no request sent there (the filter's own included) is ever answered."""
    async def scenario() -> None:
        h = Harness([], RecordingBackoff())
        h.server.rest = ws_rest_with_filter
        await h.start(event_types={"StasisStart", "Dial"},
                      transport=httpx.MockTransport(lambda r: httpx.Response(599)))
        await h.waiter.until(lambda: h.recorder.connects == 1)
        h.server.drop_all()
        await h.waiter.until(lambda: h.recorder.connects == 2)
        filters = [r for r in h.server.rest_requests if r["uri"].endswith("eventFilter")]
        assert [(r["method"], r["uri"]) for r in filters] == [
            ("PUT", f"applications/{APP}/eventFilter")] * 2
        assert orjson.loads(filters[0]["message_body"]) == {"allowed": [
            {"type": "Dial"}, {"type": "RESTResponse"}, {"type": "StasisStart"}]}
        await h.shut_down()

    run(scenario())


def test_an_asterisk_that_refuses_the_filter_sends_every_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        events = stasis_events("ch-1")
        h = Harness(events, RecordingBackoff())
        await h.start(event_types={"StasisStart"}, transport=httpx.MockTransport(
            lambda r: httpx.Response(404, json={"message": "Application not found"})))
        await h.waiter.until(lambda: len(h.recorder.events) == len(events))
        assert h.recorder.log == ["connected"] + [event["type"] for event in events]
        await h.shut_down()

    with caplog.at_level(logging.WARNING, logger="bridge.asterisk.ari"):
        run(scenario())
    assert any("refused the application's event filter" in r.getMessage()
               for r in caplog.records)


def test_a_filter_refused_because_ringbridge_stops_is_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping as a connection opens: its event filter is not sent, and that is not
    Asterisk refusing it (the connection ends there, quietly)."""
    async def scenario(rest: Callable[[Event], Event] | None) -> None:
        h = Harness(stasis_events("ch-1"), RecordingBackoff())
        h.server.rest = rest
        await h.start(event_types={"StasisStart"}, transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={"name": APP})))
        h.client.refuse_requests()
        await h.waiter.until(lambda: len(h.backoff.delays) >= 2)
        assert h.recorder.connects == 0
        await h.shut_down()

    for rest in (None, ws_rest_with_filter):  # REST over HTTP; over the websocket
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bridge.asterisk.ari"):
            run(scenario(rest))
        assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []
        assert any("closed: ringbridge is stopping" in r.getMessage()
                   for r in caplog.records)


def ws_rest_with_filter(request: Event) -> Event:
    if request["uri"] == f"applications/{APP}/eventFilter":
        return {"status_code": 200, "message_body": '{"name": "rbapp"}'}
    return ws_rest(request)
