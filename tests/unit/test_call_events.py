"""Typed call events: the steps they are stored as, their publisher, RingCentral's names."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.flows.call_events import tell_dispatch
from bridge.flows.call_log import CallLog
from bridge.flows.events import (
    Answer,
    AnsweredWhileDown,
    CallArrived,
    CallEnded,
    CallerKnown,
    CallEvent,
    CallState,
    CallWaiting,
    EndedWhileDown,
    Ending,
    Forwarded,
    HuntRepeated,
    HuntStarted,
    LegState,
    MemberAnswered,
    MemberDialled,
    MemberNotAnswered,
    MemberRinging,
    MemberSkipped,
    PageAnswered,
    ParkedCallCameBack,
    ParkedCallRingingBack,
    ParkedCallTakenBack,
    ParkingFailed,
    PickedUp,
    RecordingFailed,
    RecordingStarted,
    Redirected,
    RedirectIgnored,
    RingOutCalleeRinging,
    RingOutCallerAnswered,
    RingOutCancelled,
    RingOutConnected,
    RingOutEnded,
    RingOutHungUp,
    RingOutLegFailed,
    RingOutNotConfirmed,
    RingOutStarted,
    RingOutStatusChanged,
    UnknownNumber,
    VoicemailStarted,
    WaitOver,
)
from bridge.flows.hunt import Hunt, HuntPlan
from bridge.gateway import Target
from bridge.surfaces.ringcentral.statuses import Statuses, closed, statuses
from tests.unit.async_support import run
from tests.unit.fake_ari import FakeAri, engine_with, event
from tests.unit.recorded_events import RecordedEvents

STATES: dict[str, Any] = {"call": CallState.TRYING, "caller": LegState.CALLING,
                          "callee": LegState.CALLING}

# Each event, and the (kind, target, text) its flow stored as a string step before.
STEPS: list[tuple[CallEvent, tuple[str, str, str]]] = [
    (CallArrived(call_id="c", caller="2001", dialled="6000", label="ring group 6000 (Sales)",
                 channel_id="ch1"),
     ("arrived", "", "2001 -> 6000 (ring group 6000 (Sales), channel ch1)")),
    (ParkedCallTakenBack(call_id="c", caller="2001", dialled="701"),
     ("arrived", "", "2001 takes back the call parked at 701")),
    (ParkedCallRingingBack(call_id="c", caller="2009", dialled="2001"),
     ("arrived", "", "the parking time ran out; ringing back 2001")),
    (UnknownNumber(call_id="c", caller="2001", dialled="999"),
     ("unknown", "", "2001 -> 999: not a number we know; announcing")),
    (CallerKnown(call_id="c", snapshot={"priority": "high"}),
     ("invited", "", "dispatch knows the caller: {'priority': 'high'}")),
    (HuntStarted(call_id="c", label="ring group 6000", waves=2, ring_time=20),
     ("hunting", "", "hunting ring group 6000: 2 wave(s), 20 s each")),
    (HuntStarted(call_id="c", label="ring group 6000", waves=2, ring_time=0),
     ("hunting", "", "not ringing ring group 6000: its ring_time is 0")),
    (MemberSkipped(call_id="c", member="2002", why="not registered"),
     ("skipped", "2002", "passing over 2002: not registered")),
    (MemberDialled(call_id="c", member="2002", channel_id="rb-c-1"),
     ("dialling", "2002", "ringing 2002 (rb-c-1)")),
    (MemberNotAnswered(call_id="c", member="2002", dial_status="BUSY", cause=17),
     ("rang", "2002", "2002 did not answer (BUSY, cause 17)")),
    (MemberNotAnswered(call_id="c", member="2002", dial_status="", cause=19),
     ("rang", "2002", "2002 did not answer (cause 19)")),
    (HuntRepeated(call_id="c", round=2, rounds=3),
     ("repeated", "", "nobody answered; round 2 of 3")),
    (PickedUp(call_id="c", member="2003"), ("picked-up", "2003", "picked up for 2003")),
    (RedirectIgnored(call_id="c", location="A7", why="3 redirects already"),
     ("redirect", "A7", "dispatch redirect to A7 ignored: 3 redirects already")),
    (Redirected(call_id="c", location="A7", label="agent A7 (extension 2004)"),
     ("redirected", "A7", "dispatch redirected the call to A7 (agent A7 (extension 2004))")),
    (CallWaiting(call_id="c", why="no member is free", label="ring group 6000", place=2,
                 priority="high", max_wait=30),
     ("waiting", "", "no member is free in ring group 6000: waiting, number 2 in line "
      "(priority high), up to 30 s")),
    (WaitOver(call_id="c", label="ring group 6000", max_wait=30),
     ("waited", "", "no member of ring group 6000 came free in 30 s")),
    (MemberRinging(call_id="c", member="2002"), ("ringing", "2002", "2002 ringing")),
    (MemberAnswered(call_id="c", member="2002"),
     ("answered", "2002", "2002 answered; bridging")),
    (PageAnswered(call_id="c", member="2003"),
     ("answered", "2003", "2003 answered the page too")),
    (AnsweredWhileDown(call_id="c", member="2002"),
     ("answered", "2002", "2002 answered while ringbridge was down; connected to the caller "
      "when it came back")),
    (RecordingFailed(call_id="c", name="call-c", error="409 Conflict"),
     ("recording-failed", "call-c", "the call cannot be recorded: 409 Conflict")),
    (RecordingStarted(call_id="c", name="call-c"), ("recording", "call-c", "recording as call-c")),
    (Forwarded(call_id="c", label="ring group 6000", member="+442071234567"),
     ("forwarded", "+442071234567", "nobody answered ring group 6000; forwarding to "
      "+442071234567")),
    (VoicemailStarted(call_id="c", label="ring group 6000", name="voicemail-7-c"),
     ("voicemail", "voicemail-7-c", "nobody answered ring group 6000; recording a message "
      "as voicemail-7-c")),
    (ParkingFailed(call_id="c", channel_id="rb-c-1"),
     ("park-failed", "", "rb-c-1 could not be parked; back in the call")),
    (ParkedCallCameBack(call_id="c", member="2001", description="Asterisk rang 2001 back"),
     ("comeback", "2001", "Asterisk rang 2001 back")),
    (CallEnded(call_id="c", why="caller hung up"), ("ended", "", "ending (caller hung up)")),
    (RingOutEnded(call_id="c", why="callee hung up"), ("ended", "", "ending (callee hung up)")),
    (EndedWhileDown(call_id="c", why="the caller hung up while ringbridge was down"),
     ("ended", "", "the caller hung up while ringbridge was down")),
    (RingOutStarted(call_id="c", caller_number="3001", callee_number="+14155550123",
                    tenant_id=1, **STATES),
     ("ringout", "", "ringing 3001 first, then +14155550123")),
    (RingOutCallerAnswered(call_id="c", leg="3001", **STATES),
     ("ringout", "3001", "3001 answered")),
    (RingOutCalleeRinging(call_id="c", leg="+14155550123", **STATES),
     ("ringout", "+14155550123", "ringing +14155550123")),
    (RingOutConnected(call_id="c", leg="+14155550123", **STATES),
     ("ringout", "+14155550123", "+14155550123 answered; connecting")),
    (RingOutNotConfirmed(call_id="c", prompt_timeout=10, **STATES),
     ("ringout", "", "no key pressed within 10 s")),
    (RingOutHungUp(call_id="c", party="callee", **STATES), ("ringout", "", "callee hung up")),
    (RingOutCancelled(call_id="c", **STATES), ("ringout", "", "cancelled through the API")),
]


@pytest.mark.parametrize("event, step", STEPS, ids=[type(e).__name__ for e, _ in STEPS])
def test_each_event_is_stored_as_the_step_it_was(event: CallEvent,
                                                 step: tuple[str, str, str]) -> None:
    assert (event.kind, event.target, event.text) == step


@pytest.mark.parametrize("failure, word", [(LegState.BUSY, "Busy"),
                                           (LegState.NO_ANSWER, "NoAnswer"),
                                           (LegState.UNREACHABLE, "GenericError")])
def test_a_failed_legs_step_keeps_its_words(failure: LegState, word: str) -> None:
    event = RingOutLegFailed(call_id="c", leg="3001", failure=failure, **STATES)
    assert (event.kind, event.target, event.text) == ("ringout", "3001", f"3001: {word}")


def test_only_events_that_open_a_call_say_who_called_what() -> None:
    opening = [e for e, _ in STEPS if e.origin() is not None]
    assert [type(e).__name__ for e in opening] == [
        "CallArrived", "ParkedCallTakenBack", "ParkedCallRingingBack", "UnknownNumber",
        "RingOutStarted"]
    ringout = opening[-1].origin()
    assert ringout is not None
    assert (ringout.caller, ringout.dialled, ringout.tenant_id) == ("3001", "+14155550123", 1)


def test_each_subscriber_gets_the_types_it_subscribed_to_and_their_subclasses() -> None:
    call_log = CallLog()
    got: dict[str, list[str]] = {"all": [], "answers": [], "ringout": [], "ends": []}
    call_log.subscribe(CallEvent, lambda e: got["all"].append(type(e).__name__))
    call_log.subscribe(Answer, lambda e: got["answers"].append(type(e).__name__))
    call_log.subscribe(RingOutStatusChanged, lambda e: got["ringout"].append(type(e).__name__))
    call_log.subscribe(Ending, lambda e: got["ends"].append(type(e).__name__))
    for published, _ in STEPS:
        call_log.publish(published)
    assert len(got["all"]) == len(STEPS)
    assert got["answers"] == ["MemberAnswered", "PageAnswered", "AnsweredWhileDown"]
    assert got["ringout"] == ["RingOutStarted", "RingOutCallerAnswered", "RingOutCalleeRinging",
                              "RingOutConnected", "RingOutNotConfirmed", "RingOutHungUp",
                              "RingOutCancelled"]
    assert got["ends"] == ["CallEnded", "RingOutEnded", "EndedWhileDown"]


def test_a_calls_own_subscription_hears_only_that_call_and_ends_with_it() -> None:
    call_log = CallLog()
    heard: list[tuple[str, str]] = []
    call_log.subscribe(CallEvent, lambda e: heard.append((e.call_id, e.kind)), call_id="A")
    call_log.publish(MemberRinging(call_id="B", member="2002"))
    call_log.publish(MemberRinging(call_id="A", member="2002"))
    call_log.publish(CallEnded(call_id="A", why="caller hung up"))
    call_log.publish(MemberRinging(call_id="A", member="2002"))
    assert heard == [("A", "ringing"), ("A", "ended")]


def test_a_subscriber_that_raises_is_logged_and_the_others_still_hear(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bridge.calls")
    call_log = CallLog()
    heard: list[CallEvent] = []

    def broken(_: CallEvent) -> None:
        raise RuntimeError("broken")

    call_log.subscribe(MemberRinging, broken)
    call_log.subscribe(MemberRinging, heard.append)
    ringing = MemberRinging(call_id="A", member="2002")
    call_log.publish(ringing)
    assert heard == [ringing]
    assert "call A: a subscriber to MemberRinging failed; the call goes on" in caplog.text
    assert "call A: 2002 ringing" in caplog.text


def test_dispatch_hears_connected_and_the_end_from_the_calls_events() -> None:
    call_log, events = CallLog(), RecordedEvents()
    tell_dispatch(call_log, "A", events)
    received = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    call_log.publish(MemberRinging(call_id="A", member="2002"))
    call_log.publish(PageAnswered(call_id="A", member="2003"))
    call_log.publish(MemberAnswered(call_id="A", member="2002", agent_id="ag-2"))
    call_log.publish(CallEnded(call_id="A", why="caller hung up", received=received,
                               answered_at=received + timedelta(seconds=5), agent_id="ag-2",
                               recorded=True))
    assert events.sent == [("connected", "ag-2", None), ("ended", "ag-2", True)]
    assert events.recorded is True


def test_a_connected_the_dispatcher_has_already_is_not_sent_again() -> None:
    """A ringbridge killed between a member's answer (its `connected` stored) and the
    bridge connects the two when it is back: the dispatcher heard that answer once."""
    for told, sent in (((), ["connected", "ended"]), ({"invite", "connected"}, ["ended"])):
        call_log, events = CallLog(), RecordedEvents()
        tell_dispatch(call_log, "A", events, told)
        call_log.publish(AnsweredWhileDown(call_id="A", member="2002", agent_id="ag-2"))
        call_log.publish(CallEnded(call_id="A", why="caller hung up"))
        assert [kind for kind, _, _ in events.sent] == sent


def test_a_hunts_end_tells_dispatch_nobody_answered_once_the_caller_gives_up() -> None:
    events = RecordedEvents()

    async def scenario() -> None:
        ari = FakeAri()
        engine = engine_with(ari)
        member = Target(key=2, dial="PJSIP/1002@1002@acme.example", label="1002")
        plan = HuntPlan(label="ring group 6000", waves=((member,),), ring_time=20,
                        group_id=7, events=events)
        hunt = Hunt(ari, engine, "A", "caller-A", plan)
        await hunt.start()
        await engine.on_event(event("ChannelHangupRequest", "caller-A"))
        await engine.settled()

    run(scenario())
    assert events.sent == [("ended", None, False)]


@pytest.mark.parametrize("strategy, read_back", [
    ("CYCLIC_HUNT", True), ("SKILL_BASED_ROUTING_LEAST_WORKED_HUNT", True),
    ("RING_SIMULTANEOUSLY", False), ("PRIORITIZED_HUNT", False)])
def test_a_members_ringing_and_answer_are_read_back_when_the_strategy_routes_by_them(
        strategy: str, read_back: bool) -> None:
    """The hunt memory's steps of a group that orders its members by it are written
    without the writer's linger: the group's next call is routed by them."""
    published: list[MemberRinging | MemberAnswered] = []

    async def scenario() -> None:
        ari, call_log = FakeAri(), CallLog()
        engine = engine_with(ari)
        call_log.subscribe(MemberRinging, published.append)
        call_log.subscribe(MemberAnswered, published.append)
        member = Target(key=2, dial="PJSIP/1002@1002@acme.example", label="1002")
        plan = HuntPlan(label="ring group 6000", waves=((member,),), ring_time=20,
                        group_id=7, strategy=strategy)
        await Hunt(ari, engine, "A", "caller-A", plan, call_log=call_log).start()
        for kind, state in (("StasisStart", "Down"), ("ChannelStateChange", "Ringing"),
                            ("ChannelStateChange", "Up")):
            await engine.on_event(event(kind, "rb-A-1", state=state))
        await engine.on_event(event("ChannelHangupRequest", "caller-A"))
        await engine.settled()

    run(scenario())
    assert [(type(e), e.group_id, e.extension_id, e.read_back) for e in published] == [
        (MemberRinging, 7, 2, read_back), (MemberAnswered, 7, 2, read_back)]


def test_a_direct_calls_steps_are_not_read_back() -> None:
    assert not MemberRinging(call_id="A", member="1002").read_back
    assert not CallEnded(call_id="A", why="caller hung up").read_back


@pytest.mark.parametrize("call, caller, callee, named", [
    (CallState.TRYING, LegState.CALLING, LegState.CALLING,
     Statuses("InProgress", "InProgress", "InProgress")),
    (CallState.TRYING, LegState.ANSWERED, LegState.CALLING,
     Statuses("InProgress", "Success", "InProgress")),
    (CallState.CONNECTED, LegState.ANSWERED, LegState.ANSWERED,
     Statuses("Success", "Success", "Success")),
    (CallState.CONNECTED, LegState.HUNG_UP, LegState.HUNG_UP,
     Statuses("Success", "Finished", "Finished")),
    (CallState.NOT_REACHED, LegState.BUSY, LegState.CALLING,
     Statuses("CannotReach", "Busy", "InProgress")),
    (CallState.NOT_REACHED, LegState.ANSWERED, LegState.NO_ANSWER,
     Statuses("CannotReach", "Success", "NoAnswer")),
    (CallState.NOT_REACHED, LegState.UNREACHABLE, LegState.CALLING,
     Statuses("CannotReach", "GenericError", "InProgress")),
    (CallState.NOT_REACHED, LegState.CANCELLED, LegState.CANCELLED,
     Statuses("CannotReach", "Rejected", "Rejected")),
])
def test_ringcentral_names_every_neutral_state(call: CallState, caller: LegState,
                                               callee: LegState, named: Statuses) -> None:
    assert statuses(call, caller, callee) == named


@pytest.mark.parametrize("before, after", [
    (Statuses("Success", "Success", "Success"), Statuses("Success", "Finished", "Finished")),
    (Statuses("Success", "Finished", "Success"), Statuses("Success", "Finished", "Finished")),
    (Statuses("InProgress", "Success", "InProgress"),
     Statuses("NoAnsweringMachine", "Success", "InProgress")),
    (Statuses("CannotReach", "Busy", "InProgress"), Statuses("CannotReach", "Busy", "InProgress")),
])
def test_a_ringout_that_ends_is_closed_in_ringcentrals_words(before: Statuses,
                                                            after: Statuses) -> None:
    assert closed(before) == after
