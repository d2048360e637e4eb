"""Ring groups' waiting lines: the order of waiting calls, and hunts that wait in one
(fake ARI; the live test is in tests/integration/test_dispatch_live.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

import pytest

from bridge.engine.call_control import CallControlError
from bridge.engine.engine import Engine
from bridge.flows.events import CallEvent
from bridge.flows.hunt import Hunt, HuntPlan
from bridge.flows.waiting_line import WaitingLines, rank
from bridge.gateway import Target
from tests.unit.async_support import eventually, run
from tests.unit.call_logs import call_log_into
from tests.unit.fake_ari import FakeAri, engine_with, event
from tests.unit.recorded_events import RecordedEvents

GROUP = 7
MEMBER = Target(key=2, dial="PJSIP/1002@1002@acme.example", label="1002")


class BusyAri(FakeAri):
    """Endpoints in `busy` answer that they have a channel (a member on a call)."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = {"1002@acme.example"}

    async def get(self, path: str, params: Any = None) -> Any:
        await super().get(path, params)
        resource = path.removeprefix("/endpoints/PJSIP/")
        return {"channel_ids": ["someone"] if resource in self.busy else []}

    def rang(self, call_id: str) -> bool:
        return any(path == "/channels/create" and params["channelId"].startswith(f"rb-{call_id}-")
                   for _, path, params in self.requests)


def plan(max_wait: float = 30) -> HuntPlan:
    return HuntPlan(label="ring group 6000", waves=((MEMBER,),), ring_time=20,
                    skip_busy=True, group_id=GROUP, max_wait=max_wait, domain="acme.example")


class Steps:
    """Keeps the kinds of the steps recorded."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    def record(self, event: CallEvent) -> None:
        self.kinds.append(event.kind)


async def call(engine: Engine, ari: FakeAri, call_id: str, priority: str = "normal",
               max_wait: float = 30, steps: Steps | None = None) -> Hunt:
    """A call arrives; returns once it and the turns it caused are handled."""
    hunt = Hunt(ari, engine, call_id, f"caller-{call_id}", plan(max_wait),
                call_log=call_log_into(steps.record) if steps else None)
    hunt.line.priority = priority
    await hunt.start()
    await settle(engine)
    return hunt


async def settle(engine: Engine) -> None:
    """Let the lines' task hand out the turns it was woken for, and the flows take them
    (the fake ARI never suspends, so a few passes of the loop do it)."""
    while True:
        await engine.settled()
        for _ in range(3):
            await asyncio.sleep(0)
        if not engine._workers and not engine.waiting_lines._wake.is_set():
            return


def test_priority_orders_the_line_then_arrival() -> None:
    async def scenario() -> None:
        lines = WaitingLines()
        turns: list[str] = []
        for call_id, priority in [("a", "normal"), ("b", "low"), ("c", "urgent"),
                                  ("d", "normal"), ("e", "bogus"), ("f", "high")]:
            await lines.join(GROUP, call_id, priority, partial(turns.append, call_id))
        assert lines.calls(GROUP) == ["c", "f", "a", "d", "e", "b"]
        await eventually(lambda: turns == ["c"])  # only the first in line gets a turn
        lines.leave(GROUP, "c")
        await eventually(lambda: turns == ["c", "f"])  # the next one tries at once
        await lines.close()

    run(scenario())


class MemoryLines:
    """The shared lines (the database's, for several engines), in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, int, datetime, str]] = {}

    def add(self, group_id: int, call_id: str, rank: int, joined_at: datetime) -> int:
        self.rows[call_id] = (group_id, rank, joined_at, call_id)
        return self._line(group_id).index(call_id) + 1

    def remove(self, call_id: str) -> None:
        self.rows.pop(call_id, None)

    def first(self, group_id: int) -> str | None:
        return next(iter(self._line(group_id)), None)

    def _line(self, group_id: int) -> list[str]:
        return [row[3] for row in sorted(r for r in self.rows.values() if r[0] == group_id)]


def test_engines_sharing_lines_wait_in_one_order() -> None:
    """An urgent call waiting on engine 2 is first for engine 1's normal call that came
    before it; a group with calls waiting on another engine is joined, not overtaken."""
    async def scenario() -> None:
        shared = MemoryLines()
        one, two, three = (WaitingLines(retry_seconds=60, shared=shared) for _ in range(3))
        assert await one.join(GROUP, "a", "normal", lambda: None) == 1
        assert await two.join(GROUP, "b", "urgent", lambda: None) == 1
        assert await one.first(GROUP) == "b" and await two.first(GROUP) == "b"
        assert await three.occupied(GROUP) and not await three.occupied(GROUP + 1)
        two.leave(GROUP, "b")
        assert await two.first(GROUP) == "a"  # its removal under way is waited for
        assert await one.first(GROUP) == "a"
        one.leave(GROUP, "a")
        assert await one.first(GROUP) is None
        assert not await three.occupied(GROUP)
        for lines in (one, two, three):
            await lines.close()

    run(scenario())


def test_a_call_moved_to_another_groups_line_keeps_one_row_there() -> None:
    """A dispatcher's redirect: the call leaves one line and joins another at once (its
    old row was once still there as the new one went in, and the insert failed)."""
    async def scenario() -> None:
        shared = MemoryLines()
        lines = WaitingLines(retry_seconds=60, shared=shared)
        await lines.join(GROUP, "x", "normal", lambda: None)
        lines.leave(GROUP, "x")
        await lines.join(GROUP + 1, "x", "normal", lambda: None)
        assert (await lines.first(GROUP), await lines.first(GROUP + 1)) == (None, "x")
        await lines.close()

    run(scenario())


def test_a_row_left_by_a_failed_removal_is_removed_on_the_next_try(
        caplog: pytest.LogCaptureFixture) -> None:
    """Else it stays first in line and holds the group on every engine."""
    class Flaky(MemoryLines):
        failures = 1

        def remove(self, call_id: str) -> None:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("the database went away")
            super().remove(call_id)

    async def scenario() -> None:
        shared = Flaky()
        lines = WaitingLines(retry_seconds=60, shared=shared)
        await lines.join(GROUP, "gone", "urgent", lambda: None)
        await lines.join(GROUP, "next", "normal", lambda: None)
        lines.leave(GROUP, "gone")
        assert await lines.first(GROUP) == "next"
        assert list(shared.rows) == ["next"]
        await lines.close()

    run(scenario())
    assert "its shared row was not removed" in caplog.text


def test_with_the_shared_lines_away_an_engine_keeps_its_own_order(
        caplog: pytest.LogCaptureFixture) -> None:
    class Away(MemoryLines):
        def first(self, group_id: int) -> str | None:
            raise ConnectionError("the database went away")

    async def scenario() -> None:
        lines = WaitingLines(retry_seconds=60, shared=Away())
        await lines.join(GROUP, "a", "normal", lambda: None)
        assert await lines.first(GROUP) == "a"
        await lines.close()

    run(scenario())
    assert "this engine's own order applies" in caplog.text


def test_unknown_priorities_count_as_normal() -> None:
    assert rank(None) == rank("normal") == rank("asap") == rank(3)
    assert rank("urgent") < rank("high") < rank("normal") < rank("low")


def test_priorities_are_read_without_case_or_spaces() -> None:
    assert rank("URGENT") == rank(" urgent ") == rank("urgent")
    assert rank("Low\n") == rank("low")


async def invited(engine: Engine, ari: FakeAri, call_id: str, given: object) -> Hunt:
    """A call whose invite answered `{"priority": given}`; it waits (1002 is busy)."""
    events = RecordedEvents({"priority": given})
    hunt = Hunt(ari, engine, call_id, f"caller-{call_id}",
                replace(plan(), events=events))
    await hunt.start()
    await settle(engine)
    return hunt


def test_the_dispatchers_priority_is_normalised_and_an_unknown_one_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        await call(engine, ari, "A", "normal")
        shouted = await invited(engine, ari, "B", " URGENT ")
        odd = await invited(engine, ari, "C", "ASAP")
        for _ in range(3):
            engine.waiting_lines.wake()
            await settle(engine)
        assert (shouted.line.priority, odd.line.priority) == ("urgent", "normal")
        assert engine.waiting_lines.calls(GROUP) == ["B", "A", "C"]
        await engine.waiting_lines.close()

    with caplog.at_level(logging.INFO, logger="bridge.flows.hunt"):
        run(scenario())
    unknown = [r for r in caplog.records if "priority" in r.getMessage()]
    assert [r.getMessage() for r in unknown] == [
        "call C: dispatch priority 'ASAP' is none of urgent, high, normal, low; "
        "counted as normal"]


def test_a_call_finding_every_member_busy_waits_ringing() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        hunt = await call(engine, ari, "A")
        await engine.settled()
        assert not ari.rang("A") and not hunt.done
        assert ("POST", "/channels/caller-A/ring", {}) in ari.requests
        assert engine.waiting_lines.calls(GROUP) == ["A"]
        await engine.waiting_lines.close()

    run(scenario())


def test_retries_while_waiting_are_not_recorded_as_steps() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        steps = Steps()
        await call(engine, ari, "A", steps=steps)
        for _ in range(3):
            engine.waiting_lines.wake()
            await settle(engine)
        retries = ari.requests.count(("GET", "/endpoints/PJSIP/1002@acme.example", {}))
        assert retries >= 4  # the first try and three turns
        assert steps.kinds == ["hunting", "skipped", "waiting"]
        await engine.waiting_lines.close()

    run(scenario())


async def refuse_last_leg(engine: Engine, ari: FakeAri) -> None:
    """The phone the call rang last answers 486 Busy Here (a member without
    skip_busy_member, on a call)."""
    leg = [params["channelId"] for _, path, params in ari.requests
           if path == "/channels/create"][-1]
    await engine.on_event(event("StasisStart", leg))
    await engine.on_event(event("ChannelDestroyed", leg, cause=17))
    await settle(engine)


def test_retries_that_ring_busy_phones_are_not_recorded_as_steps() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        engine.waiting_lines.retry_seconds = 60  # turns come only from wake-ups here
        steps = Steps()
        hunt = Hunt(ari, engine, "A", "caller-A", replace(plan(), skip_busy=False),
                    call_log=call_log_into(steps.record))
        await hunt.start()
        await refuse_last_leg(engine, ari)
        assert engine.waiting_lines.calls(GROUP) == ["A"]
        for _ in range(3):
            engine.waiting_lines.wake()
            await settle(engine)
            await refuse_last_leg(engine, ari)
        assert ari.rang("A") and "rb-A-4" in hunt.claimed  # the first try and three turns
        assert steps.kinds == ["hunting", "dialling", "rang", "waiting"]
        assert engine.waiting_lines.calls(GROUP) == ["A"] and not hunt.done
        await engine.waiting_lines.close()

    run(scenario())


def test_the_most_urgent_caller_gets_the_member_who_comes_free() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        await call(engine, ari, "A", "normal")
        await call(engine, ari, "B", "low")
        await call(engine, ari, "C", "urgent")
        assert engine.waiting_lines.calls(GROUP) == ["C", "A", "B"]
        ari.busy.clear()
        engine.waiting_lines.wake()  # as when a call ends
        await eventually(lambda: ari.rang("C"))
        ari.busy.add("1002@acme.example")  # its channel for C
        await engine.on_event(event("StasisStart", "rb-C-1"))
        mark = len(ari.requests)
        await engine.on_event(event("ChannelStateChange", "rb-C-1", state="Ringing"))
        await engine.settled()
        # C rang 1002 and left the line; A is first now and tries, but 1002 is busy.
        assert engine.waiting_lines.calls(GROUP) == ["A", "B"]
        await eventually(lambda: ("GET", "/endpoints/PJSIP/1002@acme.example", {})
                         in ari.requests[mark:])
        assert not ari.rang("A") and not ari.rang("B")
        await engine.waiting_lines.close()

    run(scenario())


def test_a_new_call_does_not_overtake_the_waiting_ones() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        engine.waiting_lines.retry_seconds = 60  # turns come only from wake-ups here
        await call(engine, ari, "A")
        ari.busy.clear()
        await call(engine, ari, "B")  # 1002 is free, but A waits for it first
        assert not ari.rang("B")
        assert engine.waiting_lines.calls(GROUP) == ["A", "B"]
        await engine.waiting_lines.close()

    run(scenario())


def test_a_caller_hanging_up_leaves_the_line() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        first = await call(engine, ari, "A")
        await call(engine, ari, "B")
        await engine.on_event(event("ChannelHangupRequest", "caller-A"))
        await engine.settled()
        assert first.done and engine.waiting_lines.calls(GROUP) == ["B"]
        await engine.waiting_lines.close()

    run(scenario())


def test_when_the_wait_is_over_the_no_answer_rule_applies() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        hunt = await call(engine, ari, "A", max_wait=0.05)
        await eventually(lambda: hunt.done)
        assert ("DELETE", "/channels/caller-A", {"reason_code": 17}) in ari.requests
        assert engine.waiting_lines.calls(GROUP) == []
        await engine.waiting_lines.close()

    run(scenario())


def test_without_max_wait_the_no_answer_rule_applies_at_once() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        hunt = await call(engine, ari, "A", max_wait=0)
        await engine.settled()
        assert hunt.done and engine.waiting_lines.calls(GROUP) == []
        await engine.waiting_lines.close()

    run(scenario())


def test_a_member_ringing_without_answer_is_not_a_reason_to_wait() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        ari.busy.clear()
        engine = engine_with(ari)
        hunt = await call(engine, ari, "A")
        await engine.on_event(event("StasisStart", "rb-A-1"))
        await engine.on_event(event("ChannelStateChange", "rb-A-1", state="Ringing"))
        await engine.on_event(event("ChannelDestroyed", "rb-A-1", cause=19))
        await engine.settled()
        assert hunt.done and engine.waiting_lines.calls(GROUP) == []
        assert ("DELETE", "/channels/caller-A", {"reason_code": 19}) in ari.requests
        await engine.waiting_lines.close()

    asyncio.run(scenario())


class ToBusyQueue:
    """Redirects go to another group, whose one member is busy."""

    def __init__(self, max_wait: float = 30) -> None:
        self.max_wait = max_wait

    def route_redirect(self, tenant_id: int, location: str,
                       caller_number: str) -> HuntPlan | None:
        busy = Target(key=3, dial="PJSIP/1003@1003@acme.example", label="1003")
        return HuntPlan(label="ring group 6001", waves=((busy,),), ring_time=20,
                        skip_busy=True, group_id=GROUP + 1, tenant_id=1,
                        max_wait=self.max_wait)


async def ringing_in_first_group(engine: Engine, ari: FakeAri, call_id: str,
                                 queue: ToBusyQueue, priority: str = "normal") -> Hunt:
    """A call for GROUP whose member 1002 rings, so that dispatch can redirect it."""
    first = HuntPlan(label="ring group 6000", waves=((MEMBER,),), ring_time=20,
                     group_id=GROUP, tenant_id=1)
    hunt = Hunt(ari, engine, call_id, f"caller-{call_id}", first, queue)
    hunt.line.priority = priority
    await hunt.start()
    await engine.on_event(event("StasisStart", f"rb-{call_id}-1"))
    await engine.on_event(event("ChannelStateChange", f"rb-{call_id}-1", state="Ringing"))
    await settle(engine)
    return hunt


def test_a_call_redirected_to_a_busy_queue_waits_in_that_queues_line() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        ari.busy = {"1003@acme.example"}
        engine = engine_with(ari)
        first = HuntPlan(label="ring group 6000", waves=((MEMBER,),), ring_time=20,
                         group_id=GROUP, tenant_id=1)
        hunt = Hunt(ari, engine, "A", "caller-A", first, ToBusyQueue())
        await hunt.start()
        await engine.on_event(event("StasisStart", "rb-A-1"))
        await engine.on_event(event("ChannelStateChange", "rb-A-1", state="Ringing"))
        await engine.settled()
        await hunt.redirect("drivers")
        await settle(engine)
        assert engine.waiting_lines.calls(GROUP + 1) == ["A"] and not hunt.done
        assert ("DELETE", "/channels/rb-A-1", {"reason_code": 16}) in ari.requests
        await engine.waiting_lines.close()

    run(scenario())


def test_a_redirected_call_joins_the_new_groups_line_at_its_priority() -> None:
    """1003 is free when the redirect comes, but three callers wait for it already."""
    async def scenario() -> None:
        ari = BusyAri()
        ari.busy = {"1003@acme.example"}
        engine = engine_with(ari)
        engine.waiting_lines.retry_seconds = 60  # turns come only from wake-ups here
        queue = ToBusyQueue()
        second = queue.route_redirect(1, "drivers", "")
        assert second is not None
        for call_id, priority in (("B", "urgent"), ("C", "high"), ("D", "normal")):
            waiting = Hunt(ari, engine, call_id, f"caller-{call_id}",
                           second)
            waiting.line.priority = priority
            await waiting.start()
        await settle(engine)
        assert engine.waiting_lines.calls(GROUP + 1) == ["B", "C", "D"]
        ari.busy.clear()
        hunt = await ringing_in_first_group(engine, ari, "A", queue, priority="high")
        await hunt.redirect("drivers")
        await settle(engine)
        assert engine.waiting_lines.calls(GROUP + 1) == ["B", "C", "A", "D"]
        assert ("DELETE", "/channels/rb-A-1", {"reason_code": 16}) in ari.requests
        created = [params["channelId"] for _, path, params in ari.requests
                   if path == "/channels/create"]
        assert created.count("rb-A-1") == 1 and "rb-A-2" not in created
        assert not hunt.legs and not hunt.done
        await engine.waiting_lines.close()

    run(scenario())


def test_a_call_that_waited_out_one_group_waits_its_full_time_in_the_next() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        steps = Steps()
        first = replace(plan(max_wait=0.05), tenant_id=1)
        hunt = Hunt(ari, engine, "A", "caller-A", first, ToBusyQueue(max_wait=0.3),
                    call_log=call_log_into(steps.record))
        await hunt.start()
        await settle(engine)
        ari.busy.clear()
        engine.waiting_lines.wake()
        await eventually(lambda: ari.rang("A"))  # 1002 came free: its leg is being set up
        await eventually(lambda: hunt.line.waited_out)  # ... when the 0.05 s are over
        ari.busy = {"1003@acme.example"}
        await engine.on_event(event("StasisStart", "rb-A-1"))
        await engine.on_event(event("ChannelStateChange", "rb-A-1", state="Ringing"))
        await settle(engine)
        loop = asyncio.get_running_loop()
        redirected_at = loop.time()
        await hunt.redirect("drivers")
        await settle(engine)
        assert engine.waiting_lines.calls(GROUP + 1) == ["A"] and not hunt.done
        await eventually(lambda: hunt.done, timeout=3)
        assert loop.time() - redirected_at >= 0.3
        assert steps.kinds[-3:] == ["waiting", "waited", "ended"]
        await engine.waiting_lines.close()

    run(scenario())


PICKER = Target(key=4, dial="PJSIP/1004@1004@acme.example", label="1004")


def test_a_waiting_call_picked_up_leaves_the_line_and_its_wait_timer() -> None:
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        engine.waiting_lines.retry_seconds = 60  # turns come only from wake-ups here
        picked = await call(engine, ari, "A", max_wait=0.1)
        await call(engine, ari, "B")
        await engine.control.pick_up("acme.example", "A", PICKER, 30)
        await settle(engine)
        assert engine.waiting_lines.calls(GROUP) == ["B"]  # B is first now
        assert ("POST", "/channels/create", {
            "endpoint": PICKER.dial, "app": engine.app, "channelId": "rb-A-1",
            "appArgs": "leg,A", "originator": "caller-A"}) in ari.requests
        await asyncio.sleep(0.2)  # past A's max_wait: its timer is gone
        await settle(engine)
        assert not picked.line.waited_out and not picked.done
        await engine.waiting_lines.close()

    run(scenario())


def test_a_pick_up_is_handled_on_the_calls_own_queue() -> None:
    """The caller's hangup, queued before the pick-up, is handled first."""
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        await call(engine, ari, "A")
        await engine.on_event(event("ChannelHangupRequest", "caller-A"))
        with pytest.raises(CallControlError) as refused:
            await engine.control.pick_up("acme.example", "A", PICKER, 30)
        assert refused.value.reason == CallControlError.NO_CALL
        await settle(engine)
        assert not ari.rang("A") and engine.waiting_lines.calls(GROUP) == []
        await engine.waiting_lines.close()

    run(scenario())



class SlowInvite(RecordedEvents):
    """A dispatcher that answers the invite only once the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def invite(self, call_id: str, queue: Any) -> dict[str, Any] | None:
        await self.release.wait()
        return None


def test_a_pick_up_while_dispatch_is_asked_is_not_undone_when_it_answers() -> None:
    """The hunt does not start after the invite once a pick-up has rung the picker (it
    went past the pick-up's one wave and ended the call as not answered)."""
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        events = SlowInvite()
        plan = HuntPlan(label="ring group 6000", waves=((MEMBER,),), ring_time=20,
                        group_id=GROUP, tenant_id=1, domain="acme.example", events=events)
        hunt = Hunt(ari, engine, "A", "caller-A", plan)
        starting = asyncio.create_task(hunt.start())
        await engine.control.pick_up("acme.example", "A", PICKER, 30)
        events.release.set()
        await starting
        await settle(engine)
        assert not hunt.done and ari.rang("A")
        created = [p["endpoint"] for _, path, p in ari.requests if path == "/channels/create"]
        assert created == [PICKER.dial]
        await engine.waiting_lines.close()

    run(scenario())


class SlowHangupAri(BusyAri):
    """Every member free; a hangup request takes a moment, as Asterisk's answer does."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = set()

    async def delete(self, path: str, params: Any = None) -> Any:
        await asyncio.sleep(0.01)
        return await super().delete(path, params)


def test_a_caller_hanging_up_while_a_redirect_stops_the_legs_leaves_no_phone_ringing() -> None:
    """The redirect runs in the call's turn: the hangup waits for it, then ends every
    leg, the redirect's new one included (run beside the call, the redirect rang the new
    agent after the call had ended)."""
    async def scenario() -> None:
        ari = SlowHangupAri()
        engine = engine_with(ari)
        hunt = await ringing_in_first_group(engine, ari, "A", ToBusyQueue())
        redirecting = asyncio.create_task(hunt.redirect("drivers"))
        await eventually(lambda: any(m == "DELETE" for m, _, _ in ari.requests))
        await engine.on_event(event("ChannelHangupRequest", "caller-A", cause=16))
        await redirecting
        await settle(engine)
        created = {p["channelId"] for m, path, p in ari.requests if path == "/channels/create"}
        deleted = {path.removeprefix("/channels/") for m, path, _ in ari.requests
                   if m == "DELETE"}
        assert hunt.done and created == {"rb-A-1", "rb-A-2"} and created <= deleted
        await engine.waiting_lines.close()

    run(scenario())


class SlowQueue(ToBusyQueue):
    """A redirect lookup that answers only once the test lets it (a slow database)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def route_redirect(self, tenant_id: int, location: str,
                       caller_number: str) -> HuntPlan | None:
        self.release.wait(5)
        return super().route_redirect(tenant_id, location, caller_number)


def test_an_answer_that_comes_while_a_redirect_is_looked_up_wins() -> None:
    """The redirect's change runs in the call's turn: after the answer, it is ignored."""
    async def scenario() -> None:
        ari = BusyAri()
        engine = engine_with(ari)
        queue = SlowQueue()
        hunt = await ringing_in_first_group(engine, ari, "A", queue)
        redirecting = asyncio.create_task(hunt.redirect("drivers"))
        await asyncio.sleep(0.05)  # the lookup is running in its thread
        await engine.on_event(event("ChannelStateChange", "rb-A-1", state="Up"))
        await settle(engine)
        assert hunt.connected
        queue.release.set()
        await redirecting
        await settle(engine)
        assert hunt.connected and not hunt.done
        assert not any("1003" in str(params) for _, _, params in ari.requests)
        await engine.waiting_lines.close()

    run(scenario())
