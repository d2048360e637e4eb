"""AmiClient against a fake AMI server speaking the text protocol over asyncio streams."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest

from bridge.asterisk.ami import AmiClient, AmiError, AmiEvent
from bridge.asterisk.backoff import Backoff
from tests.unit.async_support import Waiter, eventually, run

USER, SECRET = "ringbridge", "s3cret"
Block = list[tuple[str, str]]  # one AMI message: header lines in order


class RecordingBackoff(Backoff):
    """A fast, jitter-free Backoff that remembers what it handed out."""

    def __init__(self) -> None:
        super().__init__(initial=0.02, maximum=0.1, factor=2.0, jitter=0.0)
        self.delays: list[float] = []

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.delays.append(delay)
        return delay


def encode(*headers: tuple[str, str]) -> bytes:
    return "".join(f"{key}: {value}\r\n" for key, value in headers).encode() + b"\r\n"


class FakeAmi:
    """Just enough of Asterisk's manager: banner, Login, Filter, Ping, ParkedCalls, errors,
    events."""

    def __init__(self, waiter: Waiter) -> None:
        self.waiter = waiter
        self.accept_logins = True
        self.booted = True  # False: still loading modules (no FullyBooted at login)
        self.answer_pings = True
        self.login_attempts = 0
        self.login_times: list[float] = []
        self.logins = 0
        self.pings = 0
        self.closed = 0  # connections that ended, whichever side closed them
        self.received: list[Block] = []
        self.writers: list[asyncio.StreamWriter] = []  # logged-in connections
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.on_accept: Callable[[], None] = lambda: None
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        self.drop_all()
        await self._server.wait_closed()
        if self._connections:
            await asyncio.wait(self._connections)

    def drop_all(self) -> None:
        """Cut every connection, as a crashing Asterisk would."""
        for writer in self._connections.values():
            writer.transport.abort()

    def boot(self) -> None:
        """Finish booting: FullyBooted to every logged-in client, as Asterisk sends it."""
        self.booted = True
        self.push(("Event", "FullyBooted"), ("Privilege", "system,all"),
                  ("Status", "Fully Booted"))

    def push(self, *headers: tuple[str, str]) -> None:
        """Send an unsolicited event to every logged-in client."""
        for writer in self.writers:
            if not writer.is_closing():
                writer.write(encode(*headers))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        self.on_accept()
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                block = [
                    (key, value)
                    for key, _, value in (line.partition(": ")
                                          for line in raw.decode().split("\r\n") if line)
                ]
                self.received.append(block)
                self.waiter.poke()
                if not self._answer(dict(block), writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()
            del self._connections[task]
            self.closed += 1
            self.waiter.poke()

    def _answer(self, action: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        """Write the response; False to close the connection afterwards."""
        name, action_id = action["Action"], ("ActionID", action.get("ActionID", ""))
        if name == "Login":
            return self._login(action, action_id, writer)
        if name == "Ping":
            self.pings += 1
            if self.answer_pings:
                writer.write(encode(("Response", "Success"), action_id, ("Ping", "Pong"),
                                    ("Timestamp", "1700000000.000000")))
        elif name == "ParkedCalls":
            self._parked_calls(action_id, writer)
        elif name == "Filter":
            writer.write(encode(("Response", "Success"), action_id,
                                ("Message", "Filter Added Successfully")))
        elif name == "Hangup" and action.get("Channel") == "PJSIP/gone":
            writer.write(encode(("Response", "Error"), action_id,
                                ("Message", "No such channel")))
        elif name == "Vanish":
            return False  # drop the connection instead of answering
        else:
            writer.write(encode(("Response", "Error"), action_id,
                                ("Message", "Invalid/unknown command")))
        return True

    def _login(self, action: dict[str, str], action_id: tuple[str, str],
               writer: asyncio.StreamWriter) -> bool:
        self.login_attempts += 1
        self.login_times.append(asyncio.get_running_loop().time())
        if not (self.accept_logins and action.get("Username") == USER
                and action.get("Secret") == SECRET):
            writer.write(encode(("Response", "Error"), action_id,
                                ("Message", "Authentication failed")))
            return False
        self.logins += 1
        self.writers.append(writer)
        writer.write(encode(("Response", "Success"), action_id,
                            ("Message", "Authentication accepted")))
        if self.booted:
            writer.write(encode(("Event", "FullyBooted"), ("Privilege", "system,all"),
                                ("Status", "Fully Booted")))
        return True

    def _parked_calls(self, action_id: tuple[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(encode(("Response", "Success"), action_id, ("EventList", "start"),
                            ("Message", "Parked calls will follow")))
        for space in ("701", "702"):
            writer.write(encode(("Event", "ParkedCall"), action_id, ("ParkingSpace", space),
                                ("ParkeeChannel", f"PJSIP/10{space[-1]}-0001")))
        writer.write(encode(("Event", "ParkedCallsComplete"), action_id,
                            ("EventList", "Complete"), ("ListItems", "2")))


class Harness:
    """A fake AMI and a client running against it, recording into one ordered log."""

    def __init__(self, events: tuple[str, ...] = ("*",), **client_kwargs: Any) -> None:
        """`events`: the names the harness handles (all of them by default)."""
        self.handled = events
        self.waiter = Waiter()
        self.server = FakeAmi(self.waiter)
        self.log: list[str] = []
        self.events: list[AmiEvent] = []
        self.connects = 0
        self.resyncs_started = 0
        self.hold_resync = asyncio.Event()  # cleared by a test to keep on_connected running
        self.hold_resync.set()
        self.client_kwargs = {"backoff": RecordingBackoff(), "ping_interval": 60.0,
                              **client_kwargs}

    async def start(self) -> None:
        await self.server.start()
        self.client = AmiClient("127.0.0.1", self.server.port, USER,
                                self.client_kwargs.pop("secret", SECRET),
                                on_connected=self.on_connected, **self.client_kwargs)
        for name in self.handled:
            self.client.on(name, self.on_any)
        self.task = asyncio.create_task(self.client.run())

    async def on_connected(self) -> None:
        self.resyncs_started += 1
        self.waiter.poke()
        await self.hold_resync.wait()
        await self.client.action({"Action": "Ping"})  # a resync talks to Asterisk first
        self.connects += 1
        self.log.append("connected")
        self.waiter.poke()

    def on_any(self, event: AmiEvent) -> None:
        self.events.append(event)
        self.log.append(event["Event"])
        self.waiter.poke()

    async def shut_down(self) -> None:
        await self.client.close()
        assert self.task.done()
        await self.task  # run() must end normally after close()
        assert not self.client.connected
        await self.server.stop()


async def started(**client_kwargs: Any) -> Harness:
    harness = Harness(**client_kwargs)
    await harness.start()
    return harness


def test_logs_in_and_calls_on_connected_before_dispatching_events() -> None:
    async def scenario() -> None:
        h = await started()
        await h.waiter.until(lambda: "FullyBooted" in h.log)
        assert h.client.connected
        assert h.log == ["connected", "FullyBooted"], "events wait for on_connected"
        [login, *_] = h.server.received
        assert dict(login) | {"ActionID": ""} == {
            "Action": "Login", "Username": USER, "Secret": SECRET, "Events": "on",
            "ActionID": ""}
        assert h.events[0] == {"Event": "FullyBooted", "Privilege": "system,all",
                               "Status": "Fully Booted"}
        await h.shut_down()

    run(scenario())


def test_asks_asterisk_at_login_for_only_the_events_it_handles() -> None:
    async def scenario() -> None:
        h = Harness(events=("UserEvent", "ParkedCall"))
        await h.start()
        await h.waiter.until(lambda: h.connects == 1)
        filters = [dict(a) for a in h.server.received if dict(a)["Action"] == "Filter"]
        assert [(f["Operation"], f["MatchCriteria"]) for f in filters] == [
            ("Add", "name(FullyBooted)"), ("Add", "name(ParkedCall)"),
            ("Add", "name(UserEvent)")]
        await h.shut_down()

    run(scenario())


def test_waits_for_asterisk_to_finish_booting_before_on_connected() -> None:
    """Asterisk takes logins while it still loads modules (an action of one not loaded
    yet fails): on_connected runs, and the client counts as connected, only once
    FullyBooted has come, with the events that came before it dispatched after."""
    async def scenario() -> None:
        h = Harness()
        h.server.booted = False
        await h.start()
        await h.waiter.until(lambda: h.server.logins == 1)
        h.server.push(("Event", "Reload"), ("Module", "res_parking.so"))
        await asyncio.sleep(0.1)
        assert (h.resyncs_started, h.client.connected, h.log) == (0, False, [])
        h.server.boot()
        await h.waiter.until(lambda: "FullyBooted" in h.log)
        assert h.log == ["connected", "Reload", "FullyBooted"]
        assert h.server.logins == 1
        await h.shut_down()

    run(scenario())


def test_a_boot_that_does_not_finish_in_time_is_tried_again() -> None:
    async def scenario() -> None:
        h = Harness(boot_timeout=0.1)
        h.server.booted = False
        await h.start()
        await h.waiter.until(lambda: h.server.logins == 2)
        assert h.resyncs_started == 0
        h.server.booted = True
        await h.waiter.until(lambda: h.connects == 1)
        await h.shut_down()

    run(scenario())


def test_a_wildcard_handler_asks_for_every_event() -> None:
    async def scenario() -> None:
        h = await started()
        await h.waiter.until(lambda: h.connects == 1)
        assert not [a for a in h.server.received if dict(a)["Action"] == "Filter"]
        await h.shut_down()

    run(scenario())


def test_ready_only_once_on_connected_has_finished_on_each_connection() -> None:
    async def scenario() -> None:
        h = Harness()
        h.hold_resync.clear()
        await h.start()
        await h.waiter.until(lambda: h.resyncs_started == 1)
        assert h.client.connected and not h.client.ready, "ready before the resync finished"
        h.hold_resync.set()
        await h.waiter.until(lambda: "FullyBooted" in h.log)  # dispatched after on_connected
        assert h.client.ready

        h.hold_resync.clear()
        h.server.drop_all()
        await h.waiter.until(lambda: h.resyncs_started == 2)
        assert h.client.connected and not h.client.ready, "ready before its own resync"
        h.hold_resync.set()
        await h.waiter.until(lambda: h.log.count("FullyBooted") == 2)
        assert h.client.ready
        await h.shut_down()
        assert not h.client.ready

    run(scenario())


def test_action_returns_the_response() -> None:
    async def scenario() -> None:
        h = await started()
        await h.waiter.until(lambda: h.connects == 1)
        reply = await h.client.action({"Action": "Ping"})
        assert isinstance(reply, dict)
        assert reply["Response"] == "Success"
        assert reply["Ping"] == "Pong"
        await h.shut_down()

    run(scenario())


def test_event_list_action_returns_a_list() -> None:
    async def scenario() -> None:
        h = await started()
        await h.waiter.until(lambda: h.connects == 1)
        reply = await h.client.action({"Action": "ParkedCalls"})
        assert isinstance(reply, list)
        assert [m.get("Event", m.get("Response")) for m in reply] == [
            "Success", "ParkedCall", "ParkedCall", "ParkedCallsComplete"]
        assert [m["ParkingSpace"] for m in reply[1:3]] == ["701", "702"]
        assert "ParkedCall" not in h.log, "list events belong to the action, not to handlers"
        await h.shut_down()

    run(scenario())


def test_action_error_raises_ami_error_with_asterisks_message() -> None:
    async def scenario() -> None:
        h = await started()
        await h.waiter.until(lambda: h.connects == 1)
        with pytest.raises(AmiError) as caught:
            await h.client.action({"Action": "Hangup", "Channel": "PJSIP/gone"})
        assert caught.value.action == "Hangup"
        assert caught.value.message == "No such channel"
        assert caught.value.response is not None
        assert caught.value.response["Response"] == "Error"
        assert h.client.connected, "a refused action leaves the connection alone"
        await h.shut_down()

    run(scenario())


def test_list_values_send_a_header_per_item() -> None:
    async def scenario() -> None:
        h = await started()
        await h.waiter.until(lambda: h.connects == 1)
        with pytest.raises(AmiError):  # the fake does not know Originate
            await h.client.action({"Action": "Originate", "Channel": "PJSIP/1001",
                                   "Variable": ["A=1", "B=2"]})
        originate = h.server.received[-1]
        assert [value for key, value in originate if key == "Variable"] == ["A=1", "B=2"]
        await h.shut_down()

    run(scenario())


def test_action_fails_at_once_when_not_connected() -> None:
    async def scenario() -> None:
        client = AmiClient("127.0.0.1", 9, USER, SECRET)
        with pytest.raises(AmiError, match="not connected"):
            await client.action({"Action": "Ping"})

    run(scenario())


def test_action_fails_promptly_when_the_connection_drops_before_the_answer() -> None:
    async def scenario() -> None:
        h = await started(action_timeout=30.0)
        await h.waiter.until(lambda: h.connects == 1)
        with pytest.raises(AmiError, match="connection lost"):
            await asyncio.wait_for(h.client.action({"Action": "Vanish"}), 1.0)
        await h.shut_down()

    run(scenario())


def test_events_reach_named_and_wildcard_handlers_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        h = await started()
        parked: list[AmiEvent] = []

        async def on_parked(event: AmiEvent) -> None:
            await asyncio.sleep(0)  # an async handler must still finish before the next
            parked.append(event)
            h.log.append("parked-handler")

        def broken(event: AmiEvent) -> None:
            raise RuntimeError("handler bug")

        h.client.on("ParkedCall", broken)
        h.client.on("ParkedCall", on_parked)
        await h.waiter.until(lambda: "FullyBooted" in h.log)
        h.server.push(("Event", "ParkedCall"), ("ParkingSpace", "701"),
                      ("ParkeeChannel", "PJSIP/1001-00000001"))
        h.server.push(("Event", "Hangup"), ("Channel", "PJSIP/1002-00000002"),
                      ("ChanVariable", "RB_CALL=abc"), ("ChanVariable", "RB_LEG=callee"))
        await h.waiter.until(lambda: "Hangup" in h.log)
        assert h.log == ["connected", "FullyBooted", "parked-handler", "ParkedCall", "Hangup"]
        assert parked == [{"Event": "ParkedCall", "ParkingSpace": "701",
                           "ParkeeChannel": "PJSIP/1001-00000001"}]
        assert h.events[-1]["ChanVariable"] == "RB_CALL=abc\nRB_LEG=callee"
        await h.shut_down()

    with caplog.at_level(logging.ERROR, logger="bridge.asterisk.ami"):
        run(scenario())
    [record] = [r for r in caplog.records if r.name == "bridge.asterisk.ami"]
    assert "ParkedCall" in record.getMessage()
    assert record.exc_info is not None


def test_reconnects_after_the_server_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backoff = RecordingBackoff()

    async def scenario() -> None:
        h = await started(backoff=backoff)
        await h.waiter.until(lambda: h.connects == 1)
        seen_while_reconnecting: list[bool] = []
        h.server.on_accept = lambda: seen_while_reconnecting.append(h.client.connected)
        h.server.accept_logins = False
        h.server.drop_all()
        await h.waiter.until(lambda: h.server.login_attempts >= 4)
        assert not h.client.connected
        assert seen_while_reconnecting and not any(seen_while_reconnecting)

        h.server.accept_logins = True
        await h.waiter.until(lambda: h.connects == 2)
        assert h.client.connected
        assert h.log.count("FullyBooted") == 2
        await h.shut_down()

        # login_times[0] was the first connection and delays[0] was waited before the
        # next attempt; every later gap must be at least the delay handed out for it.
        assert backoff.delays[:4] == [0.02, 0.04, 0.08, 0.1]
        gaps = [b - a for a, b in itertools.pairwise(h.server.login_times[1:])]
        assert len(gaps) >= 3
        for gap, delay in zip(gaps, backoff.delays[1:], strict=False):
            assert gap >= delay - 0.002

    with caplog.at_level(logging.WARNING, logger="bridge.asterisk.ami"):
        run(scenario())
    warnings = [r.getMessage() for r in caplog.records if r.name == "bridge.asterisk.ami"]
    assert len(warnings) == 1, f"one warning per outage, not one per retry: {warnings}"
    assert "lost" in warnings[0]


def test_unanswered_ping_drops_a_dead_connection_within_interval_plus_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        h = await started(ping_interval=0.1, ping_timeout=0.2)
        await h.waiter.until(lambda: h.connects == 1)
        loop = asyncio.get_running_loop()
        h.server.answer_pings = False  # Asterisk hung: the socket stays open, nothing answers
        muted_at = loop.time()
        await h.waiter.until(lambda: h.server.closed == 1)
        assert loop.time() - muted_at < 0.1 + 0.2 + 0.2
        assert not h.client.connected
        h.server.answer_pings = True
        await h.waiter.until(lambda: h.connects == 2)
        assert h.client.connected
        await h.shut_down()

    with caplog.at_level(logging.WARNING, logger="bridge.asterisk.ami"):
        run(scenario())
    [warning] = [r.getMessage() for r in caplog.records if r.name == "bridge.asterisk.ami"]
    assert "Ping unanswered" in warning


def test_wrong_secret_keeps_retrying_without_connecting() -> None:
    async def scenario() -> None:
        h = await started(secret="wrong")
        await h.waiter.until(lambda: h.server.login_attempts >= 3)
        assert not h.client.connected
        assert h.connects == 0
        await h.shut_down()

    run(scenario())


def test_close_stops_run_promptly_during_a_long_backoff_wait() -> None:
    async def scenario() -> None:
        h = await started(backoff=Backoff(initial=30.0, maximum=30.0))
        await h.waiter.until(lambda: h.connects == 1)
        h.server.drop_all()
        await h.waiter.until(lambda: h.server.closed == 1)
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        await h.shut_down()
        assert loop.time() - started_at < 0.5

    run(scenario())


def test_connected_turns_false_as_soon_as_the_connection_dies_even_inside_a_handler() -> None:
    async def scenario() -> None:
        h = await started()
        release = asyncio.Event()
        refused: list[AmiError] = []

        async def slow(event: AmiEvent) -> None:
            h.server.drop_all()
            await eventually(lambda: not h.client.connected)
            try:
                await h.client.action({"Action": "Ping"})
            except AmiError as exc:
                refused.append(exc)
            await release.wait()

        h.client.on("Hangup", slow)
        await h.waiter.until(lambda: h.connects == 1)
        h.server.push(("Event", "Hangup"), ("Channel", "PJSIP/1001-00000001"))
        await eventually(lambda: bool(refused))
        assert "not connected" in refused[0].message
        assert h.connects == 1, "no reconnect while the handler still runs"
        release.set()
        await h.waiter.until(lambda: h.connects == 2)
        await h.shut_down()

    run(scenario())


def test_refused_connections_are_retried_by_us_not_by_panoramisk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        backoff = RecordingBackoff()
        client = AmiClient("127.0.0.1", port, USER, SECRET, backoff=backoff)
        task = asyncio.create_task(client.run())
        await eventually(lambda: len(backoff.delays) >= 3)
        assert not client.connected
        await client.close()
        await task

    with caplog.at_level(logging.DEBUG):
        run(scenario())
    assert not [r for r in caplog.records if r.name.startswith(("panoramisk", "asyncio"))
                and r.levelno >= logging.WARNING]
    warnings = [r.getMessage() for r in caplog.records if r.name == "bridge.asterisk.ami"
                and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0]


def test_shutdown_event_reaches_handlers_then_the_client_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        h = await started()
        await h.waiter.until(lambda: h.connects == 1)
        h.server.push(("Event", "Shutdown"), ("Privilege", "system,all"),
                      ("Shutdown", "Cleanly"), ("Restart", "True"))
        await h.waiter.until(lambda: h.connects == 2)
        assert h.log == ["connected", "FullyBooted", "Shutdown", "connected", "FullyBooted"]
        await h.shut_down()

    with caplog.at_level(logging.WARNING, logger="bridge.asterisk.ami"):
        run(scenario())
    [warning] = [r.getMessage() for r in caplog.records if r.name == "bridge.asterisk.ami"]
    assert "Asterisk shut down" in warning
