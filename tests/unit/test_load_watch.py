"""The engine declines new calls while ARI answers late (bridge/engine/load_watch.py),
so that the calls in progress keep it: a declined call is offered again, or falls back;
a declined RingOut is refused to the API."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from bridge.engine.engine import Engine
from bridge.engine.load_watch import MIN_ANSWERS, SLOW, WINDOW, LoadWatch
from bridge.engine.runner import EngineThread
from bridge.gateway import EngineNotReached, LegPlan, RingOutPlan
from tests.unit.fake_ari import FakeAri, engine_with, event


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watch_with(answers: list[float]) -> tuple[LoadWatch, Clock]:
    clock = Clock()
    watch = LoadWatch(clock)
    for seconds in answers:
        watch.answered(seconds)
    return watch, clock


def test_an_engine_with_nothing_to_do_is_not_behind() -> None:
    assert not LoadWatch().behind()


def test_one_slow_answer_among_quick_ones_is_not_falling_behind() -> None:
    """A dial string whose host name resolves slowly, say."""
    watch, _ = watch_with([0.002] * 9 + [3.0])
    assert watch.late_share() == pytest.approx(0.1)
    assert not watch.behind()


def test_half_the_answers_late_is_behind() -> None:
    watch, _ = watch_with([0.002, SLOW + 0.1] * 4 + [0.002, 5.0])  # 5 s: one timed out
    assert watch.late_share() == pytest.approx(0.5)
    assert watch.behind()


def test_a_few_late_answers_of_an_engine_with_little_to_do_are_not_falling_behind() -> None:
    """At a connection: the check that Asterisk takes REST on the websocket timing out."""
    watch, _ = watch_with([2.0, 0.002] + [SLOW * 2] * (MIN_ANSWERS - 3))
    assert watch.late_share() > 0.5
    assert not watch.behind()


def test_late_answers_older_than_the_window_are_forgotten() -> None:
    watch, clock = watch_with([SLOW * 2] * 20)
    clock.now += WINDOW / 2
    watch.answered(0.001)
    assert watch.behind()
    clock.now += WINDOW / 2 + 0.01  # the late ones are older than the window now
    assert not watch.behind()
    assert watch.late_share() == 0.0


def ready_engine(ari: FakeAri, watch: LoadWatch) -> Engine:
    engine = engine_with(ari)
    engine._ami_read.set()  # ready: ARI resynced, the parking lots read
    engine.load = watch
    return engine


async def offer(engine: Engine, channel: str) -> None:
    await engine.on_event(event("CallBroadcast", channel))
    await engine.settled()


def declined() -> float:
    return REGISTRY.get_sample_value("ringbridge_calls_declined_total") or 0.0


def test_a_call_offered_while_ari_answers_late_is_not_claimed() -> None:
    ari = FakeAri()
    watch, _ = watch_with([SLOW * 2] * MIN_ANSWERS)
    before = declined()
    asyncio.run(offer(ready_engine(ari, watch), "1733.1"))
    assert ari.requests == []
    assert declined() - before == 1


def test_calls_are_claimed_again_once_the_engine_caught_up(
        caplog: pytest.LogCaptureFixture) -> None:
    ari = FakeAri()
    watch, clock = watch_with([SLOW * 2] * MIN_ANSWERS)
    engine = ready_engine(ari, watch)

    async def run() -> None:
        await offer(engine, "1733.1")
        clock.now += WINDOW + 0.01
        watch.answered(0.001)
        await offer(engine, "1733.1")  # offered again a second later

    with caplog.at_level("WARNING"):
        asyncio.run(run())
    assert [path for _, path, _ in ari.requests] == ["/events/claim"]
    assert "new calls are declined" in caplog.text
    assert "caught up with Asterisk: 1 offers of new calls were declined" in caplog.text


def plan(call_id: str) -> RingOutPlan:
    return RingOutPlan(call_id=call_id, tenant_id=1, caller=LegPlan("PJSIP/2101@x", "2101", "2102"),
                       callee=LegPlan("PJSIP/2102@x", "2102", "2101"), play_prompt=False,
                       ring_time=30, prompt_timeout=10)


def test_a_ringout_asked_for_while_ari_answers_late_is_declined_before_anything_is_done(
        caplog: pytest.LogCaptureFixture) -> None:
    """Nothing rings: the API ends the RingOut failed and tells its client to retry
    (503), or deals it to another engine."""
    ari = FakeAri()
    watch, _ = watch_with([SLOW * 2] * MIN_ANSWERS)
    thread = EngineThread(ready_engine(ari, watch))  # its loop never runs: nothing may
    before = declined()
    try:
        with caplog.at_level("WARNING"), pytest.raises(EngineNotReached, match="behind"):
            thread.start_ringout(plan("41"))
    finally:
        thread.loop.close()
    assert ari.requests == []
    assert declined() - before == 1
    assert "RingOut 41 declined: ARI answers late (100%" in caplog.text
