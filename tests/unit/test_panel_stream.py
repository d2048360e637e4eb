"""The panel's feed (each API process's ear on the engine's changes) and its event
stream, on fakes of the gateway and of the state read."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bridge.engine.changes import Changes
from bridge.gateway import EngineNotReached, GatewayError
from bridge.panel.feed import LiveFeed
from bridge.panel.stream import UNAVAILABLE, state_events


class CountingGateway:
    """`changes` as the engine answers it; EngineNotReached while `down`."""

    def __init__(self) -> None:
        self.counted = Changes()
        self.down = False

    def changes(self, seen: int, wait: float) -> int:
        if self.down:
            raise EngineNotReached("the telephony engine is not running")
        return self.counted.after(seen, min(wait, 0.2))


def test_the_feed_wakes_streams_on_each_engine_change() -> None:
    gateway = CountingGateway()
    feed = LiveFeed(gateway)  # type: ignore[arg-type]
    version = feed.version()
    version = feed.wait(version, 2.0)  # the first answer
    threading.Timer(0.05, gateway.counted.note).start()
    started = time.monotonic()
    assert feed.wait(version, 2.0) != version
    assert time.monotonic() - started < 1.0


def test_the_feed_keeps_waking_streams_while_the_engine_is_away() -> None:
    gateway = CountingGateway()
    gateway.down = True
    feed = LiveFeed(gateway)  # type: ignore[arg-type]
    version = feed.version()
    version = feed.wait(version, 2.0)
    assert feed.wait(version, 2.0) != version  # woken again, a second later


class StillFeed:
    office_version = 0

    def version(self) -> int:
        return 0

    def wait(self, version: int, timeout: float) -> int:
        return version


def test_a_stream_sends_a_state_only_when_it_changed_and_ends_when_signed_out() -> None:
    states: list[dict[str, Any] | None] = [
        {"now": "t1", "calls": []}, {"now": "t2", "calls": []},
        {"now": "t3", "calls": ["c1"]}, None]
    reads: list[bool] = []

    def read(office: bool) -> dict[str, Any] | None:
        reads.append(office)
        return states.pop(0)

    sent = list(state_events(read, StillFeed(), lambda: False))  # type: ignore[arg-type]
    assert sent[0].startswith("retry: ")
    assert sent[1:] == ['event: state\ndata: {"now":"t1","calls":[]}\n\n',
                        'event: state\ndata: {"now":"t3","calls":["c1"]}\n\n',
                        "event: signed-out\ndata: {}\n\n"]
    assert reads[0] is True


def test_a_stream_says_when_the_engine_cannot_be_read_without_its_internals() -> None:
    def read(office: bool) -> dict[str, Any] | None:
        raise GatewayError("the telephony engine failed: KeyError('channel')")

    stopping = iter([False, True])
    sent = list(state_events(read, StillFeed(), lambda: next(stopping)))  # type: ignore[arg-type]
    assert sent[1] == f'event: unavailable\ndata: {{"message":"{UNAVAILABLE}"}}\n\n'
    assert "KeyError" not in "".join(sent)


@pytest.mark.parametrize("stop_after", [0, 2])
def test_a_stream_ends_when_the_process_stops(stop_after: int) -> None:
    checks = iter([False] * stop_after + [True])
    sent = list(state_events(lambda office: {"now": "t", "n": 1}, StillFeed(),  # type: ignore[arg-type]
                             lambda: next(checks)))
    assert len(sent) == (1 if stop_after == 0 else 2)
