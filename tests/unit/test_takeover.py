"""The pure parts of taking calls over after a restart (the live tests run the rest)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from bridge.telephony.ari import AriError
from bridge.telephony.call_log import CallLog
from bridge.telephony.earlier_calls import Closer, EarlierCall
from bridge.telephony.orphans import Orphan
from bridge.telephony.takeover import Takeover, parse_peer_left
from tests.unit.test_call_flows import FakeAri, engine_with


def test_the_note_of_a_peer_leaving_gives_its_time_and_cause() -> None:
    assert parse_peer_left("1796330309.916 16") == (
        datetime(2026, 12, 3, 20, 38, 29, 916000, UTC), 16)
    assert parse_peer_left("1796330309.916 ") == (
        datetime(2026, 12, 3, 20, 38, 29, 916000, UTC), None)
    assert parse_peer_left("") == (None, None)


class VariableAri(FakeAri):
    """ARI's 404s: for a channel that is gone, and for a variable that is not set."""

    def __init__(self, channels: set[str]) -> None:
        super().__init__()
        self.channels = channels

    async def get(self, path: str, params: Any = None) -> Any:
        await super().get(path, params)
        channel_id = path.split("/")[2]
        if channel_id not in self.channels:
            raise AriError(404, "GET", path, "Channel not found")
        if path.endswith("/variable"):
            raise AriError(404, "GET", path, "Provided variable was not found")
        return {"id": channel_id}


def test_a_caller_without_a_call_name_is_told_apart_from_one_that_is_gone() -> None:
    async def call_of(channel_id: str) -> str | None:
        engine = engine_with(VariableAri({"here"}))
        return await Takeover(engine, engine.closer)._call_of(channel_id)

    assert asyncio.run(call_of("here")) == ""
    assert asyncio.run(call_of("gone")) is None


def test_only_a_caller_not_answered_yet_takes_a_leg_answered_for_it() -> None:
    def orphan(state: str, *args: str) -> Orphan:
        return Orphan({"id": "c", "state": state}, args)

    assert orphan("Ring", "dial", "6201").takes_a_leg
    assert orphan("Ringing", "inbound", "+4420").takes_a_leg
    assert not orphan("Up", "dial", "6201").takes_a_leg  # voicemail had answered it
    assert not orphan("Ring", "parking-timeout", "rb-1", "2001").takes_a_leg


class Book:
    def __init__(self, calls: dict[str, EarlierCall]) -> None:
        self.calls = calls

    def find(self, call_id: str, answered_by: str | None = None) -> EarlierCall | None:
        return self.calls.get(call_id)

    def open_before(self, moment: datetime) -> list[str]:
        return sorted(self.calls)


class Steps:
    def __init__(self) -> None:
        self.steps: list[tuple[str, str, dict[str, Any]]] = []

    def record(self, call_id: str, kind: str, target: str, detail: str,
               fields: dict[str, Any]) -> None:
        self.steps.append((call_id, kind, fields))


class Ended:
    """A CallEvents that keeps what `ended` was told."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def ended(self, call_id: str, queue: Any, agent_id: str | None, received: datetime,
              connected: datetime | None, cleared: datetime, *, answered: bool) -> None:
        self.calls.append({"call_id": call_id, "agent": agent_id, "connected": connected,
                           "cleared": cleared, "answered": answered})


def test_each_earlier_call_is_closed_once_and_its_dispatcher_told_once() -> None:
    received = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    left = datetime(2026, 12, 3, 20, 1, tzinfo=UTC)
    events = Ended()
    book = Book({
        "RANG": EarlierCall("RANG", received, None, False, events),  # type: ignore[arg-type]
        "DONE": EarlierCall("DONE", received, None, True, events),  # type: ignore[arg-type]
        "QUIET": EarlierCall("QUIET", received, None, False),
        "RUNNING": EarlierCall("RUNNING", received, None, False, events),  # type: ignore[arg-type]
    })
    steps = Steps()
    closer = Closer(book, CallLog(steps))

    async def scenario() -> int:
        await closer.close("RANG", "the caller hung up while ringbridge was down", at=left,
                           cause=16)
        await closer.close("RANG", "again")
        return await closer.close_open(datetime.now(UTC), running={"RUNNING"})

    assert asyncio.run(scenario()) == 1  # QUIET; DONE is listed but closed already
    assert [(call_id, kind) for call_id, kind, _ in steps.steps] == [
        ("RANG", "ended"), ("QUIET", "ended")]
    assert steps.steps[0][2] == {"cause": 16, "at": left}
    assert events.calls == [{"call_id": "RANG", "agent": None, "connected": None,
                             "cleared": left, "answered": False}]


def test_a_caller_bridged_but_not_answered_when_ringbridge_died_is_answered() -> None:
    """Seen in the restart-load bench: the kill fell between addChannel and answer, and
    the caller, adopted as talking, never had its 200 OK."""
    ari = FakeAri()
    engine = engine_with(ari)
    channels = [{"id": "caller", "state": "Ring"}, {"id": "rb-C-1", "state": "Up"}]

    async def adopt() -> None:
        await Takeover(engine, engine.closer)._adopt("C", {"id": "rb-C"}, channels)

    asyncio.run(adopt())
    assert [(method, path) for method, path, _ in ari.requests] == [
        ("POST", "/channels/caller/answer"), ("POST", "/channels/caller/variable"),
        ("POST", "/channels/rb-C-1/variable")]
    assert engine.active_calls == 1
