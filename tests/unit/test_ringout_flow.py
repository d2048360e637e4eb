"""The RingOut state machine against the recording fake ARI of the call-flow tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bridge.engine.engine import Engine
from bridge.flows.call_log import CallLog
from bridge.flows.events import CallEvent, RingOutStatusChanged
from bridge.flows.ringout import RingOut, leg_failure
from bridge.gateway import CancelOutcome, LegPlan, RingOutPlan
from bridge.surfaces.ringcentral.statuses import LEG_STATUS, Statuses, statuses
from tests.unit.async_support import TIMEOUT, eventually
from tests.unit.fake_ari import FakeAri, deliver, engine_with, event

CALLER, CALLEE = "rb-77-1", "rb-77-2"


class Steps:
    """Records the flow's events (what the database writers would get), its statuses
    in RingCentral's words."""

    def __init__(self) -> None:
        self.statuses: list[tuple[str, str, str]] = []
        self.kinds: list[str] = []

    def record(self, event: CallEvent) -> None:
        self.kinds.append(event.kind)
        if isinstance(event, RingOutStatusChanged):
            named = statuses(event.call, event.caller, event.callee)
            self.statuses.append((named.call, named.caller, named.callee))

    def log(self) -> CallLog:
        call_log = CallLog()
        call_log.subscribe(CallEvent, self.record)
        return call_log


def plan(play_prompt: bool = False, prompt_timeout: int = 10, ring_time: int = 30
         ) -> RingOutPlan:
    return RingOutPlan(
        call_id="77", tenant_id=1,
        caller=LegPlan("PJSIP/3001@3001@a.example", "3001", presented="+14155550123"),
        callee=LegPlan("PJSIP/+14155550123@carrier", "+14155550123", presented="+14155550100"),
        play_prompt=play_prompt, ring_time=ring_time, prompt_timeout=prompt_timeout)


Scenario = Callable[[Engine, RingOut], Awaitable[None]]


def run(scenario: Scenario, **plan_fields: Any) -> tuple[FakeAri, RingOut, Steps]:
    async def go() -> tuple[FakeAri, RingOut, Steps]:
        ari, steps = FakeAri(), Steps()
        engine = engine_with(ari)
        flow = RingOut(ari, engine, plan(**plan_fields), steps.log())
        await flow.start()
        await scenario(engine, flow)
        return ari, flow, steps

    return asyncio.run(go())


async def caller_answers(engine: Engine, _: RingOut) -> None:
    await deliver(engine, event("StasisStart", CALLER))
    await deliver(engine, event("ChannelStateChange", CALLER, state="Up"))


async def both_answer(engine: Engine, flow: RingOut) -> None:
    await caller_answers(engine, flow)
    await deliver(engine, event("StasisStart", CALLEE))
    await deliver(engine, event("ChannelStateChange", CALLEE, state="Up"))


def test_success_dials_leg_2_after_leg_1_and_bridges_them() -> None:
    async def scenario(engine: Engine, flow: RingOut) -> None:
        await both_answer(engine, flow)
        await deliver(engine, event("ChannelHangupRequest", CALLEE, cause=16))

    ari, flow, steps = run(scenario)
    posts = [(path, params) for method, path, params in ari.requests if method == "POST"]
    assert posts[0] == ("/channels/create", {
        "endpoint": "PJSIP/3001@3001@a.example", "app": "ringbridge", "channelId": CALLER,
        "appArgs": "ringout,77", "formats": "ulaw,alaw,gsm"})
    # Each leg's From comes from its connected line, set as Asterisk creates the leg.
    for leg, shown in ((CALLER, "<+14155550123>"), (CALLEE, "<+14155550100>")):
        assert ari.bodies[f"/channels/create:{leg}"] == {
            "variables": {"CONNECTEDLINE(all,i)": shown}}
    assert not [p for path, p in posts if path.endswith("/variable")
                and p["variable"] == "CONNECTEDLINE(all,i)"]
    create_2 = next(p for path, p in posts if path == "/channels/create"
                    and p["channelId"] == CALLEE)
    assert create_2["originator"] == CALLER
    assert ("/bridges/rb-77/addChannel", {"channel": f"{CALLER},{CALLEE}"}) in posts
    assert steps.statuses == [
        ("InProgress", "InProgress", "InProgress"), ("InProgress", "Success", "InProgress"),
        ("InProgress", "Success", "InProgress"), ("Success", "Success", "Success"),
        ("Success", "Finished", "Finished")]
    assert flow.done and steps.kinds[-1] == "ended"


@pytest.mark.parametrize("dial_status, cause, status", [
    ("BUSY", 17, "Busy"), ("NOANSWER", 19, "NoAnswer"), ("CHANUNAVAIL", 20, "GenericError"),
    ("", 17, "Busy"), ("", 21, "Busy"), ("", 19, "NoAnswer"), ("", 3, "GenericError")])
def test_callee_failures_map_to_statuses_and_cannot_reach(dial_status: str, cause: int,
                                                          status: str) -> None:
    async def scenario(engine: Engine, flow: RingOut) -> None:
        await caller_answers(engine, flow)
        await deliver(engine, event("StasisStart", CALLEE))
        if dial_status:
            await deliver(engine, {"type": "Dial", "peer": {"id": CALLEE},
                                   "dialstatus": dial_status})
        await deliver(engine, event("ChannelHangupRequest", CALLEE, cause=cause))

    ari, flow, steps = run(scenario)
    assert steps.statuses[-1] == ("CannotReach", "Success", status)
    assert ("DELETE", f"/channels/{CALLER}", {"reason_code": 16}) in ari.requests
    assert flow.done


def test_caller_busy_never_dials_the_callee() -> None:
    async def scenario(engine: Engine, flow: RingOut) -> None:
        await deliver(engine, event("StasisStart", CALLER))
        await deliver(engine, {"type": "Dial", "peer": {"id": CALLER}, "dialstatus": "BUSY"})
        await deliver(engine, event("ChannelHangupRequest", CALLER, cause=17))

    ari, _, steps = run(scenario)
    assert steps.statuses[-1] == ("CannotReach", "Busy", "InProgress")
    assert all(p.get("channelId") != CALLEE for _, _, p in ari.requests)


def test_a_failed_create_is_a_generic_error() -> None:
    async def go() -> tuple[RingOut, Steps]:
        ari, steps = FakeAri(failing=("/channels/create",)), Steps()
        flow = RingOut(ari, engine_with(ari), plan(), steps.log())
        await flow.start()
        return flow, steps

    flow, steps = asyncio.run(go())
    assert flow.done and steps.statuses[-1] == ("CannotReach", "GenericError", "InProgress")


def test_prompt_waits_for_1_and_ignores_other_keys() -> None:
    async def scenario(engine: Engine, flow: RingOut) -> None:
        await caller_answers(engine, flow)
        await deliver(engine, {"type": "ChannelDtmfReceived", "digit": "2",
                               "channel": {"id": CALLER}})
        assert flow.callee_leg == ""
        await deliver(engine, {"type": "ChannelDtmfReceived", "digit": "1",
                               "channel": {"id": CALLER}})

    ari, flow, _ = run(scenario, play_prompt=True)
    paths = [path for _, path, _ in ari.requests]
    assert f"/channels/{CALLER}/play/77-prompt" in paths
    assert ("DELETE", "/playbacks/77-prompt", {}) in ari.requests
    assert flow.callee_leg == CALLEE and not flow.done


async def wait_done(flow: RingOut) -> None:
    """The flow's own timer ends it on the loop: wait for that, failing if it never does."""
    await eventually(lambda: flow.done, timeout=TIMEOUT)


def test_our_ring_timeout_is_no_answer() -> None:
    async def scenario(engine: Engine, flow: RingOut) -> None:
        await deliver(engine, event("StasisStart", CALLER))
        await wait_done(flow)

    ari, flow, steps = run(scenario, ring_time=0)
    assert ("POST", f"/channels/{CALLER}/dial", {"timeout": 5}) in ari.requests
    assert flow.done and steps.statuses[-1] == ("CannotReach", "NoAnswer", "InProgress")
    assert ("DELETE", f"/channels/{CALLER}", {"reason_code": 16}) in ari.requests


def test_prompt_timeout_ends_with_the_caller_not_answering() -> None:
    async def scenario(engine: Engine, flow: RingOut) -> None:
        await caller_answers(engine, flow)
        await wait_done(flow)

    _, flow, steps = run(scenario, play_prompt=True, prompt_timeout=0)
    assert flow.done and flow.callee_leg == ""
    assert steps.statuses[-1] == ("CannotReach", "NoAnswer", "InProgress")


def test_cancel_rejects_live_legs_but_not_a_connected_call() -> None:
    async def ringing(engine: Engine, flow: RingOut) -> None:
        await caller_answers(engine, flow)
        await deliver(engine, event("StasisStart", CALLEE))
        outcome = await flow.cancel()
        assert not outcome.connected and outcome.states is not None
        left = statuses(outcome.states.call, outcome.states.caller, outcome.states.callee)
        assert left == Statuses("CannotReach", "Rejected", "Rejected")

    ari, flow, steps = run(ringing)
    assert steps.statuses[-1] == ("CannotReach", "Rejected", "Rejected")
    assert {f"/channels/{CALLER}", f"/channels/{CALLEE}"} <= {
        path for method, path, _ in ari.requests if method == "DELETE"}

    async def connected(engine: Engine, flow: RingOut) -> None:
        await both_answer(engine, flow)
        assert await flow.cancel() == CancelOutcome(connected=True)

    _, flow, steps = run(connected)
    assert not flow.done and steps.statuses[-1] == ("Success", "Success", "Success")


def test_caller_hanging_up_while_the_callee_rings_rejects_leg_2() -> None:
    async def scenario(engine: Engine, flow: RingOut) -> None:
        await caller_answers(engine, flow)
        await deliver(engine, event("StasisStart", CALLEE))
        await deliver(engine, event("ChannelHangupRequest", CALLER, cause=16))

    _, _, steps = run(scenario)
    assert steps.statuses[-1] == ("CannotReach", "Finished", "Rejected")


def test_leg_failure_prefers_the_dial_status() -> None:
    assert LEG_STATUS[leg_failure("NOANSWER", 17)] == "NoAnswer"
    assert LEG_STATUS[leg_failure("", None)] == "GenericError"
