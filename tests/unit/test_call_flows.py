"""Call-flow logic against a recording fake ARI (the real one is in the integration tests)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from bridge.config import Settings
from bridge.engine.engine import Engine, _caller_domain
from bridge.flows.hunt import Hunt, HuntPlan
from bridge.gateway import Target
from tests.unit.fake_ari import FakeAri, NothingPaused, engine_with, event


class DirectCall(Hunt):
    @property
    def callee_id(self) -> str:
        return "rb-CALL-1"


async def start_call(engine: Engine, ari: FakeAri) -> DirectCall:
    target = Target(key=0, dial="PJSIP/1002@1002", label="1002")
    plan = HuntPlan(label="extension 1002", waves=((target,),), ring_time=30)
    flow = DirectCall(ari, engine, "CALL", "caller", plan)
    flow.caller_notes_legs = True  # as the engine starts a call offered by [stasis-wait]
    await flow.start()
    return flow


def test_callee_busy_is_passed_on_to_the_caller_as_cause_17() -> None:
    async def scenario() -> list[tuple[str, str, dict[str, Any]]]:
        ari = FakeAri()
        engine = engine_with(ari)
        flow = await start_call(engine, ari)
        await engine.on_event(event("StasisStart", flow.callee_id))
        await engine.on_event(event("ChannelDestroyed", flow.callee_id, cause=17))
        await engine.settled()
        assert engine.active_calls == 0
        return ari.requests

    requests = asyncio.run(scenario())
    assert ("DELETE", "/channels/caller", {"reason_code": 17}) in requests


def test_a_failed_ari_request_ends_the_call_and_hangs_up_both_legs() -> None:
    async def scenario() -> tuple[Engine, FakeAri, DirectCall]:
        ari = FakeAri(failing=("/addChannel",))
        engine = engine_with(ari)
        flow = await start_call(engine, ari)
        await engine.on_event(event("StasisStart", flow.callee_id))
        await engine.on_event(event("ChannelStateChange", flow.callee_id, state="Up"))
        await engine.settled()
        return engine, ari, flow

    engine, ari, flow = asyncio.run(scenario())
    assert engine.active_calls == 0
    deleted = {path for method, path, _ in ari.requests if method == "DELETE"}
    assert {"/channels/caller", f"/channels/{flow.callee_id}", "/bridges/rb-CALL"} <= deleted


def test_ringing_callee_rings_the_caller_and_answer_bridges_both() -> None:
    async def scenario() -> tuple[FakeAri, DirectCall]:
        ari = FakeAri()
        engine = engine_with(ari)
        flow = await start_call(engine, ari)
        await engine.on_event(event("StasisStart", flow.callee_id))
        await engine.on_event(event("ChannelStateChange", flow.callee_id, state="Ringing"))
        await engine.on_event(event("ChannelStateChange", flow.callee_id, state="Up"))
        await engine.settled()
        return ari, flow

    ari, flow = asyncio.run(scenario())
    paths = [path for _, path, _ in ari.requests]
    assert paths == [
        "/endpoints/PJSIP/1002",
        "/channels/create", f"/channels/{flow.callee_id}/dial",
        "/channels/caller/ring",
        "/bridges/rb-CALL", "/bridges/rb-CALL/addChannel", "/channels/caller/answer",
    ]
    assert ari.requests[-2][2] == {"channel": f"caller,{flow.callee_id}"}
    # Each party's hangup notes the time on the other (for a ringbridge that was down
    # then: docs/restarts.md), with no request: the callee's handler as Asterisk creates
    # it, the caller's from the dialplan ([rb-caller-left], counting up to RB_LEGS).
    created = ari.bodies[f"/channels/create:{flow.callee_id}"]["variables"]
    assert created["CHANNEL(hangup_handler_push)"] == "rb-left,s,1(caller)"
    assert created["SHARED(RB_LEGS,caller)"] == flow.callee_id.rsplit("-", 1)[1]


def test_a_call_offered_by_the_dialplan_is_named_and_its_legs_counted_without_a_request(
) -> None:
    """The caller's hangup notes on each leg come from its dialplan handler
    [rb-caller-left]: it needs RB_CALL (one request per call) and RB_LEGS, which each
    leg's creation sets; no request per leg."""
    async def scenario() -> FakeAri:
        ari = FakeAri()
        engine = engine_with(ari)
        await engine.on_event(event("StasisStart", "caller", args=["dial", "1002"]))
        await engine.settled()
        return ari

    ari = asyncio.run(scenario())
    [(_, create, made)] = [r for r in ari.requests if r[1] == "/channels/create"]
    call_id = made["appArgs"].removeprefix("leg,")
    assert made["channelId"] == f"rb-{call_id}-1"
    assert [(path, body) for _, path, body in ari.requests if path.endswith("/variable")] == [
        ("/channels/caller/variable", {"variable": "RB_CALL", "value": call_id})]
    variables = ari.bodies[f"{create}:rb-{call_id}-1"]["variables"]
    assert variables["SHARED(RB_LEGS,caller)"] == "1"


@pytest.mark.parametrize("name, domain", [
    ("PJSIP/1001-0000002a", ""),
    ("PJSIP/1001@acme.example-0000002a", "acme.example"),
    ("PJSIP/2001@a-b.example-00000001", "a-b.example"),
])
def test_caller_domain_comes_from_the_channel_name(name: str, domain: str) -> None:
    assert _caller_domain(name) == domain


class SlowDirectory(NothingPaused):
    """Plans a direct call to 2002, but only once the test lets it (a slow database)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def route_dial(self, domain: str, number: str, caller_number: str) -> HuntPlan:
        assert self.release.wait(5), "the test never released the plan"
        target = Target(key=7, dial="PJSIP/2002@2002@acme.example", label="2002")
        return HuntPlan(label="extension 2002", waves=((target,),), ring_time=30)

    def route_did(self, number: str, caller_number: str) -> None:
        return None


def stasis_start(channel_id: str, name: str, number: str) -> dict[str, Any]:
    return {"type": "StasisStart", "args": ["dial", number],
            "channel": {"id": channel_id, "name": name, "state": "Ring",
                        "caller": {"number": "2001"}}}


def slow_engine() -> tuple[FakeAri, SlowDirectory, Engine]:
    ari, directory = FakeAri(), SlowDirectory()
    engine = Engine(Settings(ari_password="x", ami_secret="y"), lambda: [], directory)
    engine.ari = ari  # type: ignore[assignment]
    return ari, directory, engine


async def settle(engine: Engine) -> None:
    await engine.settled()


def test_a_slow_plan_does_not_hold_up_other_calls() -> None:
    async def scenario() -> FakeAri:
        ari, directory, engine = slow_engine()
        await engine.on_event(stasis_start("slow", "PJSIP/2001@acme.example-1", "2002"))
        await engine.on_event(stasis_start("demo", "PJSIP/1001-2", "1002"))
        async with asyncio.timeout(2):
            while not any(p == "/channels/create" for _, p, _ in ari.requests):
                await asyncio.sleep(0.01)
        created = [q for _, p, q in ari.requests if p == "/channels/create"]
        assert [c["endpoint"] for c in created] == ["PJSIP/1002@1002"]
        directory.release.set()
        await settle(engine)
        return ari

    ari = asyncio.run(scenario())
    endpoints = [q["endpoint"] for _, p, q in ari.requests if p == "/channels/create"]
    assert endpoints == ["PJSIP/1002@1002", "PJSIP/2002@2002@acme.example"]


def test_a_caller_who_hangs_up_while_the_call_is_planned_rings_nobody() -> None:
    async def scenario() -> FakeAri:
        ari, directory, engine = slow_engine()
        await engine.on_event(stasis_start("gone", "PJSIP/2001@acme.example-1", "2002"))
        await engine.on_event(event("ChannelHangupRequest", "gone", cause=16))
        directory.release.set()
        await settle(engine)
        assert engine.active_calls == 0
        return ari

    ari = asyncio.run(scenario())
    assert not any(path == "/channels/create" for _, path, _ in ari.requests)


class GatedAri(FakeAri):
    """Holds requests to `gated` paths until the test opens the gate (a slow Asterisk)."""

    def __init__(self, gated: str) -> None:
        super().__init__()
        self.gated = gated
        self.gate = asyncio.Event()

    async def _record(self, method: str, path: str, params: Any) -> Any:
        if path == self.gated:
            await self.gate.wait()
        return await super()._record(method, path, params)


def test_a_call_waiting_on_asterisk_does_not_hold_up_another_calls_events() -> None:
    async def scenario() -> None:
        ari = GatedAri("/channels/rb-SLOW-1/dial")
        engine = engine_with(ari)
        target = Target(key=0, dial="PJSIP/1002@1002", label="1002")
        plan = HuntPlan(label="extension 1002", waves=((target,),), ring_time=30)
        slow = Hunt(ari, engine, "SLOW", "caller-a", plan)
        fast = Hunt(ari, engine, "FAST", "caller-b", plan)
        await slow.start()
        await fast.start()
        await engine.on_event(event("StasisStart", "rb-SLOW-1"))  # its dial hangs
        await engine.on_event(event("StasisStart", "rb-FAST-1"))
        async with asyncio.timeout(2):
            while ("POST", "/channels/rb-FAST-1/dial") not in [r[:2] for r in ari.requests]:
                await asyncio.sleep(0.01)
        assert ("POST", "/channels/rb-SLOW-1/dial") not in [r[:2] for r in ari.requests]
        ari.gate.set()
        await engine.settled()
        assert ("POST", "/channels/rb-SLOW-1/dial") in [r[:2] for r in ari.requests]
    asyncio.run(scenario())


class SlowBusyAri(FakeAri):
    """Endpoint reads: `busy` ones answer at once that they are on a call; the others
    answer they are free only once the test opens `gate` (a slower read)."""

    def __init__(self, busy: set[str]) -> None:
        super().__init__()
        self.busy = busy
        self.gate = asyncio.Event()

    async def get(self, path: str, params: Any = None) -> Any:
        await super().get(path, params)
        resource = path.removeprefix("/endpoints/PJSIP/")
        if resource in self.busy:
            return {"channel_ids": ["someone"]}
        await self.gate.wait()
        return {"channel_ids": []}

    def created(self) -> list[str]:
        return [params["endpoint"] for _, path, params in self.requests
                if path == "/channels/create"]


def test_a_busy_member_answering_first_does_not_end_a_simultaneous_wave() -> None:
    """2002 is busy and says so first; 2003, free, answers later: 2003 rings, and the
    next wave (2004) does not."""
    async def scenario() -> None:
        ari = SlowBusyAri({"2002@acme.example"})
        engine = engine_with(ari)
        busy, free, later = (Target(key=n, dial=f"PJSIP/{n}@{n}@acme.example", label=str(n))
                             for n in (2002, 2003, 2004))
        plan = HuntPlan(label="ring group 6000", waves=((busy, free), (later,)),
                        ring_time=20, skip_busy=True, group_id=7)
        hunt = Hunt(ari, engine, "A", "caller-A", plan)
        starting = asyncio.create_task(hunt.start())
        async with asyncio.timeout(2):
            while sum(method == "GET" for method, _, _ in ari.requests) < 2:
                await asyncio.sleep(0)
        for _ in range(5):  # the busy answer is handled in full before 2003's comes
            await asyncio.sleep(0)
        assert ari.created() == []
        ari.gate.set()
        await starting
        await engine.settled()
        assert ari.created() == [free.dial] and hunt.wave_index == 0
    asyncio.run(scenario())


def test_a_wave_with_every_member_busy_moves_on_once() -> None:
    async def scenario() -> None:
        ari = SlowBusyAri({"2002@acme.example", "2003@acme.example"})
        ari.gate.set()
        engine = engine_with(ari)
        first, second, later = (Target(key=n, dial=f"PJSIP/{n}@{n}@acme.example",
                                       label=str(n)) for n in (2002, 2003, 2004))
        plan = HuntPlan(label="ring group 6000", waves=((first, second), (later,)),
                        ring_time=20, skip_busy=True, group_id=7)
        hunt = Hunt(ari, engine, "A", "caller-A", plan)
        await hunt.start()
        await engine.settled()
        assert ari.created() == [later.dial] and hunt.wave_index == 1
    asyncio.run(scenario())


def test_a_request_failing_while_ringbridge_stops_leaves_the_call_up() -> None:
    """The call is left to the next ringbridge: nothing is hung up (before, the request
    that failed as the connection closed ended the call and hung up its caller)."""
    async def scenario() -> tuple[Engine, FakeAri]:
        ari = FakeAri(failing=("/addChannel",))
        engine = engine_with(ari)
        flow = await start_call(engine, ari)
        await engine.on_event(event("StasisStart", flow.callee_id))
        await engine.settled()
        engine.stop_calls()
        await engine.on_event(event("ChannelStateChange", flow.callee_id, state="Up"))
        await engine.settled()
        return engine, ari

    engine, ari = asyncio.run(scenario())
    assert engine.active_calls == 1
    assert not any(method == "DELETE" for method, _, _ in ari.requests)


def test_a_slot_another_cluster_node_parks_in_is_refused_for_the_edge_to_try_the_next(
        ) -> None:
    """A cluster's Asterisk nodes share the slots (bridge/config.py parking_share): a
    phone dialling a slot of another node's share gets 502 (cause 27), on which the SIP
    edge sends the INVITE to the next node; nothing is planned for it here."""
    node = Settings(ari_password="x", ami_secret="y", ari_url="http://127.0.0.11:8088/ari",
                    standby_asterisks="127.0.0.12", parking_positions="701-720")

    async def scenario() -> FakeAri:
        ari, directory = FakeAri(), SlowDirectory()
        engine = Engine(node, lambda: [], directory)
        engine.ari = ari  # type: ignore[assignment]
        await engine.on_event(stasis_start("elsewhere", "PJSIP/2001@acme.example-1", "715"))
        await settle(engine)
        assert engine.other_asterisks is not None
        await engine.other_asterisks.close()
        return ari

    ari = asyncio.run(scenario())
    assert ari.requests == [("DELETE", "/channels/elsewhere", {"reason_code": 27})]
