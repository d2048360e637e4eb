"""Whom a hunt never rings (the caller, paused members, unregistered phones) and
ring_time 0, against a fake ARI whose endpoints say whether they are registered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from bridge.asterisk.ari import AriError
from bridge.flows.call_log import CallLog
from bridge.flows.events import CallEvent
from bridge.flows.hunt import Hunt, HuntPlan, Origin
from bridge.gateway import Target
from tests.unit.fake_ari import FakeAri, engine_with


class EndpointsAri(FakeAri):
    """Endpoint reads answer `offline` for the endpoints in `offline`, else `online`."""

    def __init__(self, offline: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.offline = offline

    async def get(self, path: str, params: Any = None) -> Any:
        await super().get(path, params)
        resource = path.removeprefix("/endpoints/PJSIP/")
        return {"state": "offline" if resource in self.offline else "online",
                "channel_ids": []}

    def created(self) -> list[str]:
        return [params["endpoint"] for _, path, params in self.requests
                if path == "/channels/create"]


class RefusingAri(EndpointsAri):
    """Asterisk refuses to make a leg to an offline endpoint (500, as chan_pjsip does for
    an endpoint with no contact)."""

    async def post(self, path: str, params: Any = None, json: Any = None) -> Any:
        answer = await super().post(path, params, json)
        if path == "/channels/create" and params["endpoint"].split("@", 1)[-1] in self.offline:
            raise AriError(500, "POST", path, "Allocation failed")
        return answer

    def endpoint_reads(self) -> list[str]:
        return [path for method, path, _ in self.requests
                if method == "GET" and path.startswith("/endpoints/")]


class Registered:
    """The engine's registrations: these endpoints are surely online."""

    def __init__(self, online: set[str]) -> None:
        self.online = online

    def surely_online(self, endpoint: str) -> bool:
        return endpoint in self.online


class Steps(CallLog):
    def __init__(self) -> None:
        super().__init__()
        self.kept: list[tuple[str, str, str]] = []

    def publish(self, event: CallEvent) -> None:
        self.kept.append((event.kind, event.target, event.text))


def member(number: int) -> Target:
    return Target(key=number, dial=f"PJSIP/{number}@{number}@acme.example", label=str(number))


class Paused:
    """The directory's paused extensions, fixed."""

    def __init__(self, paused: Mapping[int, str]) -> None:
        self._paused = paused
        self.reads = 0

    def paused(self) -> Mapping[int, str]:
        self.reads += 1
        return self._paused


class OtherNodes:
    """The cluster's other Asterisk nodes: the endpoints on a call through them."""

    def __init__(self, talking: set[str]) -> None:
        self.talking = talking
        self.asked: list[str] = []

    async def on_a_call(self, endpoint_id: str) -> bool:
        self.asked.append(endpoint_id)
        return endpoint_id in self.talking


def run_hunt(ari: EndpointsAri, plan: HuntPlan, caller_endpoint: str = "",
             paused: Mapping[int, str] | None = None,
             other_nodes: OtherNodes | None = None,
             pauses: Paused | None = None,
             registrations: Registered | None = None,
             notes_legs: bool = False) -> tuple[Hunt, Steps]:
    async def scenario() -> tuple[Hunt, Steps]:
        engine = engine_with(ari)
        steps = Steps()
        hunt = Hunt(ari, engine, "A", "caller-A", plan, call_log=steps,
                    pauses=pauses or Paused(paused or {}), other_nodes=other_nodes,
                    registrations=registrations)
        hunt.origin = Origin(number="2009", endpoint=caller_endpoint)
        hunt.caller_notes_legs = notes_legs
        await hunt.start()
        await engine.settled()
        return hunt, steps
    return asyncio.run(scenario())


def test_an_unregistered_member_is_passed_over_before_any_request_to_ring_it() -> None:
    ari = EndpointsAri(offline={"2002@acme.example"})
    plan = HuntPlan(label="ring group 6000", waves=((member(2002), member(2003)),),
                    ring_time=20, group_id=7)
    _, steps = run_hunt(ari, plan)
    assert ari.created() == ["PJSIP/2003@2003@acme.example"]
    assert ("skipped", "2002", "passing over 2002: not registered") in steps.kept


def test_a_member_surely_registered_is_rung_without_a_read_of_its_endpoint() -> None:
    ari = RefusingAri()
    plan = HuntPlan(label="ring group 6000", waves=((member(2002), member(2003)),),
                    ring_time=20, group_id=7)
    run_hunt(ari, plan, registrations=Registered({"2002@acme.example"}))
    assert ari.endpoint_reads() == ["/endpoints/PJSIP/2003@acme.example"]  # not known
    assert len(ari.created()) == 2


def test_skip_busy_reads_every_endpoint_registered_or_not() -> None:
    """Whether a phone is on a call is Asterisk's to say, at the moment of ringing."""
    ari = RefusingAri()
    plan = HuntPlan(label="ring group 6000", waves=((member(2002),),), ring_time=20,
                    group_id=7, skip_busy=True)
    run_hunt(ari, plan, registrations=Registered({"2002@acme.example"}))
    assert ari.endpoint_reads() == ["/endpoints/PJSIP/2002@acme.example"]


def test_a_phone_that_left_before_the_engine_heard_is_passed_over_when_refused(
        caplog: pytest.LogCaptureFixture) -> None:
    """The engine's list says registered, Asterisk has no contact any more and refuses
    the leg: the member is passed over as not registered, and the hunt goes on."""
    ari = RefusingAri(offline={"2002@acme.example"})
    plan = HuntPlan(label="ring group 6000", waves=((member(2002),), (member(2003),)),
                    ring_time=20, group_id=7)
    with caplog.at_level(logging.INFO):
        hunt, steps = run_hunt(ari, plan, registrations=Registered(
            {"2002@acme.example", "2003@acme.example"}))
    assert ("skipped", "2002", "passing over 2002: not registered") in steps.kept
    assert ari.created() == ["PJSIP/2002@2002@acme.example", "PJSIP/2003@2003@acme.example"]
    assert "cannot ring" not in caplog.text and not hunt.done


def test_a_leg_refused_to_a_registered_phone_is_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    ari = EndpointsAri()
    ari.failing = ("/channels/create",)
    plan = HuntPlan(label="ring group 6000", waves=((member(2002),),), ring_time=20)
    with caplog.at_level(logging.INFO):
        _, steps = run_hunt(ari, plan)
    assert "cannot ring 2002" in caplog.text
    assert not any(kind == "skipped" for kind, _, _ in steps.kept)


def test_a_wave_of_unregistered_members_moves_on_and_the_caller_hears_cause_20() -> None:
    ari = EndpointsAri(offline={"2002@acme.example"})
    plan = HuntPlan(label="ring group 6000", waves=((member(2002),),), ring_time=20)
    hunt, _ = run_hunt(ari, plan)
    assert ari.created() == [] and hunt.done
    assert ("DELETE", "/channels/caller-A", {"reason_code": 20}) in ari.requests


def test_a_member_on_a_call_through_another_cluster_node_is_busy_to_skip_busy() -> None:
    """Calls are dealt round a cluster's Asterisk nodes: this node's Asterisk does not
    see the member's call through another, which is asked too."""
    others = OtherNodes({"2002@acme.example"})
    plan = HuntPlan(label="ring group 6000", waves=((member(2002), member(2003)),),
                    ring_time=20, group_id=7, skip_busy=True)
    ari = EndpointsAri()
    _, steps = run_hunt(ari, plan, other_nodes=others)
    assert ari.created() == ["PJSIP/2003@2003@acme.example"]
    assert ("skipped", "2002", "passing over 2002: already on a call") in steps.kept
    ari = EndpointsAri()
    run_hunt(ari, replace(plan, skip_busy=False), other_nodes=others)
    assert len(ari.created()) == 2  # without skip_busy, busy or not is never asked
    assert others.asked == ["2002@acme.example", "2003@acme.example"]


def test_a_paused_member_is_passed_over_with_its_reason_without_asking_asterisk() -> None:
    ari = EndpointsAri()
    plan = HuntPlan(label="ring group 6000", waves=((member(2002), member(2003)),
                                                    (member(2004),)),
                    ring_time=20, group_id=7)
    _, steps = run_hunt(ari, plan, paused={2002: "lunch", 2004: ""})
    assert ari.created() == ["PJSIP/2003@2003@acme.example"]
    assert ("skipped", "2002", "passing over 2002: paused (lunch)") in steps.kept
    assert not any(path == "/endpoints/PJSIP/2002@acme.example"
                   for _, path, _ in ari.requests)


def test_the_first_wave_takes_the_pauses_read_with_the_plan_and_later_ones_read_them(
        ) -> None:
    """The router reads the pauses as it makes a group's plan: the first wave needs no
    read of its own; a later wave (a member paused meanwhile) reads them again."""
    ari = EndpointsAri()
    plan = HuntPlan(label="ring group 6000", waves=((member(2002),), (member(2003),)),
                    ring_time=20, group_id=7, paused={2002: "lunch"})
    directory = Paused({2003: "meeting"})
    hunt, steps = run_hunt(ari, plan, pauses=directory)
    assert ("skipped", "2002", "passing over 2002: paused (lunch)") in steps.kept
    assert ("skipped", "2003", "passing over 2003: paused (meeting)") in steps.kept
    assert directory.reads == 1 and ari.created() == [] and hunt.done


def test_a_group_of_paused_members_rings_nobody_and_the_caller_hears_cause_20() -> None:
    ari = EndpointsAri()
    plan = HuntPlan(label="ring group 6000", waves=((member(2002),), (member(2003),)),
                    ring_time=20, group_id=7)
    hunt, steps = run_hunt(ari, plan, paused={2002: "", 2003: "meeting"})
    assert ari.created() == [] and hunt.done
    assert ("skipped", "2002", "passing over 2002: paused") in steps.kept
    assert ("DELETE", "/channels/caller-A", {"reason_code": 20}) in ari.requests


def test_a_call_outside_a_ring_group_rings_a_paused_phone() -> None:
    """A pause is an agent's availability to ring groups: a direct call, a pick-up or a
    forward (group_id None) names the phone it rings."""
    ari = EndpointsAri()
    plan = HuntPlan(label="extension 2002", waves=((member(2002),),), ring_time=20)
    run_hunt(ari, plan, paused={2002: "lunch"})
    assert ari.created() == ["PJSIP/2002@2002@acme.example"]


def test_the_caller_is_never_rung_by_a_forward_to_its_own_extension() -> None:
    ari = EndpointsAri()
    plan = HuntPlan(label="ring group 6000", waves=((member(2009),),), ring_time=20)
    hunt, steps = run_hunt(ari, plan, caller_endpoint="2009@acme.example")
    assert ari.created() == [] and hunt.done
    assert ("skipped", "2009", "passing over 2009: it is the caller") in steps.kept
    assert not any(path == "/endpoints/PJSIP/2009@acme.example"
                   for _, path, _ in ari.requests)


def test_a_call_from_the_trunk_may_be_forwarded_out_through_it() -> None:
    ari = EndpointsAri()
    out = Target(key=0, dial="PJSIP/+14155550177@carrier", label="+14155550177")
    plan = HuntPlan(label="forward", waves=((out,),), ring_time=20)
    run_hunt(ari, plan, caller_endpoint="carrier")
    assert ari.created() == [out.dial]


def test_ring_time_zero_rings_nobody_and_applies_the_no_answer_rule() -> None:
    applied: list[str] = []

    async def rule(hunt: Hunt) -> None:
        applied.append(hunt.call_id)
        await hunt.end("rule applied")

    ari = EndpointsAri()
    plan = HuntPlan(label="ring group 6000", waves=((member(2002),), (member(2003),)),
                    ring_time=0, group_id=7, max_wait=60, no_answer=rule)
    hunt, steps = run_hunt(ari, plan)
    assert ari.created() == [] and applied == ["A"] and hunt.done
    assert ("hunting", "", "not ringing ring group 6000: its ring_time is 0") in steps.kept
    assert hunt.line.waiting_in is None  # rings nobody, so never waits for a free member


def test_a_leg_that_rang_out_is_recorded_with_the_cause_of_its_destruction() -> None:
    """Our dial timeout ends a leg with ChannelHangupRequest cause 32 (not a Q.850 cause;
    the phone's CANCEL says 19), then ChannelDestroyed cause 19: 19 is recorded."""
    async def scenario() -> tuple[Hunt, Steps]:
        ari = EndpointsAri()
        engine = engine_with(ari)
        steps = Steps()
        plan = HuntPlan(label="ring group 6000", waves=((member(2002),), (member(2003),)),
                        ring_time=20)
        hunt = Hunt(ari, engine, "A", "caller-A", plan, call_log=steps)
        await hunt.start()
        await engine.settled()
        leg = {"type": "x", "channel": {"id": "rb-A-1", "state": "Ringing"}}
        for kind, cause in (("ChannelHangupRequest", 32), ("StasisEnd", None),
                            ("ChannelDestroyed", 19)):
            await engine.on_event({**leg, "type": kind, "cause": cause})
            await engine.settled()
            if kind != "ChannelDestroyed":
                assert ari.created() == [member(2002).dial]  # the next wave waits for it
        assert ari.created() == [member(2002).dial, member(2003).dial]
        return hunt, steps

    _, steps = asyncio.run(scenario())
    assert ("rang", "2002", "2002 did not answer (cause 19)") in steps.kept


def test_a_legs_headers_and_connected_line_are_set_as_asterisk_creates_it() -> None:
    """No request of their own: one fewer round trip to Asterisk per header and for the
    leg's hangup note, per leg. Each leg also counts itself on the caller (RB_LEGS, the
    leg's number) for the caller's dialplan handler [rb-caller-left]."""
    ari = EndpointsAri()
    forward = Target(key=0, dial="PJSIP/+442071234567@carrier", label="+442071234567",
                     caller_number="+442079460000", caller_name="Main")
    plan = HuntPlan(label="ring group 6000", waves=((member(2002), forward),), ring_time=20,
                    headers={"P-Asserted-Identity": '"Main" <sip:6000@acme.example>'})
    hunt, _ = run_hunt(ari, plan)
    assert list(hunt.legs) == ["rb-A-1", "rb-A-2"]
    to_member, to_forward = (ari.bodies[f"/channels/create:{leg}"]["variables"]
                             for leg in hunt.legs)
    header = {"PJSIP_HEADER(add,P-Asserted-Identity)": '"Main" <sip:6000@acme.example>',
              "CHANNEL(hangup_handler_push)": f"rb-left,s,1({hunt.caller_id})"}
    assert to_member == {**header, "SHARED(RB_LEGS,caller-A)": "1"}
    assert to_forward == {**header, "SHARED(RB_LEGS,caller-A)": "2",
                          "CONNECTEDLINE(all,i)": '"Main" <+442079460000>'}
    set_apart = [(path, p["variable"]) for _, path, p in ari.requests
                 if path.endswith("/variable")]
    # A caller with no handler of its own from the dialplan (one taken back from a
    # parking lot) has its notes pushed, one request per leg: it existed before them.
    assert sorted(set_apart) == [(f"/channels/{hunt.caller_id}/variable",
                                  "CHANNEL(hangup_handler_push)")] * 2


def test_a_caller_offered_through_the_dialplan_needs_no_request_per_leg() -> None:
    """Its handler [rb-caller-left], pushed in [stasis-wait], notes on every leg."""
    ari = EndpointsAri()
    plan = HuntPlan(label="ring group 6000", waves=((member(2002), member(2003)),),
                    ring_time=20)
    hunt, _ = run_hunt(ari, plan, notes_legs=True)
    assert len(hunt.legs) == 2
    assert [path for _, path, _ in ari.requests if path.endswith("/variable")] == []
