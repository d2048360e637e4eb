"""Ring groups on real calls: the strategies, availability, headers, answer, no answer."""

from __future__ import annotations

import pytest

from bridge.store.ids import decode_id
from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.polling import wait_until
from tests.support.softphone import IncomingPolicy, Phone

RING = IncomingPolicy.RING
RING_TIME = 2


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    return Office(bridge, phone).create()


def live_state(asterisk: Asterisk, recording: str) -> str:
    response = asterisk.ari("GET", f"/recordings/live/{recording}")
    return str(response.json()["state"]) if response.status_code == 200 else ""


WAV_HEADER = 44  # 8 kHz 16-bit mono after it: 16,000 bytes a second


def recorded_bytes(asterisk: Asterisk, recording: str) -> int:
    """Size of a recording's file in the container so far (0 before it exists)."""
    assert asterisk.container is not None
    found = asterisk.container.exec_run(
        ["stat", "-c", "%s", f"/var/spool/asterisk/recording/{recording}.wav"])
    assert isinstance(found.output, bytes)  # not streamed: the whole output at once
    return int(found.output) if found.exit_code == 0 else 0


def ring_order(phones: dict[str, Phone]) -> list[str]:
    calls = [(call.arrived_at, number) for number, p in phones.items() for call in p.incoming]
    return [number for _, number in sorted(calls)]


def test_simultaneous_rings_all_and_the_first_answer_wins(office: Office) -> None:
    members = {n: office.phone(n) for n in ("3001", "3002", "3003")}
    caller = office.phone("3009")
    office.group("6001", list(members), ring_strategy="RING_SIMULTANEOUSLY",
                 ring_time=RING_TIME * 5)
    outgoing = caller.call("6001")
    ringing = {n: p.wait_incoming() for n, p in members.items()}
    outgoing.wait_ringing()
    ringing["3002"].answer()
    outgoing.wait_answered()
    for number in ("3001", "3003"):
        ringing[number].wait_disconnected()
        assert ringing[number].state == "disconnected"
        ended_by = ringing[number].ended_by
        assert ended_by is not None
        method, headers = ended_by
        assert method == "CANCEL"
        assert 'cause=200;text="Call completed elsewhere"' in headers.get("Reason", "")
    assert ringing["3002"].state == "confirmed"
    outgoing.hangup()
    ringing["3002"].wait_disconnected()


def test_prioritized_hunt_rings_in_list_order_for_ring_time_each(office: Office) -> None:
    members = {n: office.phone(n) for n in ("3011", "3012", "3013")}
    caller = office.phone("3019")
    office.group("6002", ["3012", "3011", "3013"], ring_strategy="PRIORITIZED_HUNT",
                 ring_time=RING_TIME)
    outgoing = caller.call("6002")
    third = members["3013"].wait_incoming(timeout=3 * RING_TIME + 3)
    third.answer()
    outgoing.wait_answered()
    assert ring_order(members) == ["3012", "3011", "3013"]
    first, second = members["3012"].incoming[0], members["3011"].incoming[0]
    assert second.arrived_at - first.arrived_at == pytest.approx(RING_TIME, abs=0.8)
    assert third.arrived_at - second.arrived_at == pytest.approx(RING_TIME, abs=0.8)
    outgoing.hangup()

    record = office.bridge.call_record("6002")
    assert (record.caller, record.answered_by, record.end_cause) == ("3019", "3013", 16)
    assert [(s.kind, s.target) for s in record.steps if s.kind in (
        "arrived", "ringing", "rang", "answered", "ended")] == [
        ("arrived", ""), ("ringing", "3012"), ("rang", "3012"), ("ringing", "3011"),
        ("rang", "3011"), ("ringing", "3013"), ("answered", "3013"), ("ended", "")]


def test_cyclic_hunt_rotates_over_three_calls(office: Office) -> None:
    members = {n: office.phone(n, IncomingPolicy.ANSWER) for n in ("3021", "3022", "3023")}
    caller = office.phone("3029")
    office.group("6003", list(members), ring_strategy="CYCLIC_HUNT", ring_time=RING_TIME)
    answered_by = []
    for _ in range(3):
        outgoing = caller.call("6003")
        outgoing.wait_answered()
        answered_by.append(next(n for n, p in members.items()
                                if p.incoming and p.incoming[-1].state == "confirmed"))
        outgoing.hangup()
        for p in members.values():
            if p.incoming:
                p.incoming[-1].wait_disconnected()
    assert answered_by == ["3021", "3022", "3023"]


def test_unregistered_and_busy_members_are_passed_over_at_once(office: Office) -> None:
    office.extension("3031")  # never registers
    busy = office.phone("3032", IncomingPolicy.ANSWER)
    free = office.phone("3033")
    other = office.phone("3034")
    caller = office.phone("3039")
    office.group("6004", ["3031", "3032", "3033"], ring_strategy="PRIORITIZED_HUNT",
                 ring_time=RING_TIME * 3, skip_busy_member=True)
    talk = other.call("3032")
    talk.wait_answered()
    outgoing = caller.call("6004")
    reached = free.wait_incoming(timeout=RING_TIME)
    assert reached.arrived_at - outgoing.arrived_at < 1.0
    assert len(busy.incoming) == 1  # only the call from 3034
    reached.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    talk.hangup()


def test_headers_identify_the_group_at_the_phone(office: Office) -> None:
    member = office.phone("3041")
    caller = office.phone("3049")
    office.group("6005", ["3041"], ring_strategy="RING_SIMULTANEOUSLY", enable_paid=True,
                 enable_prid=True, extension_number_as_to_header=True)
    outgoing = caller.call("6005")
    incoming = member.wait_incoming()
    headers = incoming.invite_headers
    assert headers["P-Asserted-Identity"] == f'"group 6005" <sip:6005@{office.domain}>'
    assert headers["Remote-Party-ID"].startswith(f'"group 6005" <sip:6005@{office.domain}>')
    # extension_number_as_to_header never moves the Request-URI off the phone's contact
    # (Asterisk 22 can change To only together with it): the member's own line rings.
    assert incoming.request_user == "3041" and f":{member.port}" in incoming.request_uri
    outgoing.hangup()
    incoming.wait_disconnected()


def test_paging_auto_answers_and_every_member_hears_the_caller(office: Office) -> None:
    members = {n: office.phone(n, IncomingPolicy.ANSWER) for n in ("3051", "3052")}
    caller = office.phone("3059")
    office.group("6006", list(members), ring_strategy="PAGING_INTERCOM")
    outgoing = caller.call("6006")
    calls = [p.wait_incoming() for p in members.values()]
    for call in calls:
        assert "answer-after=0" in call.invite_headers["Call-Info"]
        assert "info=alert-autoanswer" in call.invite_headers["Alert-Info"]
        call.wait_answered()
    outgoing.wait_answered()
    for call in calls:
        call.wait_rtp(20)  # every member hears the caller
    outgoing.hangup()
    for call in calls:
        call.wait_disconnected()


def test_caller_abandon_stops_every_leg_at_once(office: Office) -> None:
    members = {n: office.phone(n) for n in ("3061", "3062")}
    caller = office.phone("3069")
    office.group("6007", list(members), ring_strategy="RING_SIMULTANEOUSLY", ring_time=30)
    outgoing = caller.call("6007")
    ringing = [p.wait_incoming() for p in members.values()]
    outgoing.hangup()
    for call in ringing:
        call.wait_disconnected(timeout=2)
        assert call.ended_by is not None and call.ended_by[0] == "CANCEL"
        assert "completed elsewhere" not in call.ended_by[1].get("Reason", "").lower()


@pytest.mark.parametrize("action", ["HANGUP", "FORWARD_TO_NUMBER", "REPEAT"])
def test_no_answer_rules(office: Office, action: str) -> None:
    member = office.phone("3071")
    caller = office.phone("3079")
    target = office.phone("3078")
    rule = {"action": action, "number": "3078" if action == "FORWARD_TO_NUMBER" else None}
    office.group("6008", ["3071"], ring_strategy="PRIORITIZED_HUNT", ring_time=RING_TIME,
                 no_answer_forward_rule=rule)
    outgoing = caller.call("6008")
    if action == "HANGUP":
        outgoing.wait_disconnected(timeout=RING_TIME + 3)
        assert len(member.incoming) == 1
    elif action == "FORWARD_TO_NUMBER":
        forwarded = target.wait_incoming(timeout=RING_TIME + 3)
        forwarded.answer()
        outgoing.wait_answered()
        outgoing.hangup()
    else:
        outgoing.wait_disconnected(timeout=3 * RING_TIME + 5)
        assert len(member.incoming) == 3


def answer_one_call(caller: Phone, number: str, members: dict[str, Phone]) -> str:
    """Call `number`, return which member answered (members answer by policy), hang up."""
    outgoing = caller.call(number)
    outgoing.wait_answered()
    winner = next(n for n, p in members.items()
                  if p.incoming and p.incoming[-1].state == "confirmed")
    outgoing.hangup()
    members[winner].incoming[-1].wait_disconnected()
    return winner


def test_least_worked_starts_with_the_member_idle_longest(office: Office) -> None:
    members = {n: office.phone(n, IncomingPolicy.ANSWER) for n in ("3081", "3082", "3083")}
    caller = office.phone("3089")
    office.group("6009", list(members), ring_strategy="LEAST_WORKED_HUNT", ring_time=RING_TIME)
    # Nobody has answered yet: list order. Then each answer sends the next call on.
    winners = [answer_one_call(caller, "6009", members) for _ in range(4)]
    assert winners == ["3081", "3082", "3083", "3081"]


def test_skill_levels_ring_level_by_level(office: Office) -> None:
    members = {n: office.phone(n) for n in ("3091", "3092", "3093")}
    caller = office.phone("3099")
    office.group("6010", [("3091", 2), ("3092", 3), ("3093", 1)],
                 ring_strategy="SKILL_BASED_ROUTING_PRIORITIZED_HUNT", ring_time=RING_TIME)
    outgoing = caller.call("6010")
    last = members["3092"].wait_incoming(timeout=3 * RING_TIME + 3)
    assert ring_order(members) == ["3093", "3091", "3092"]
    last.answer()
    outgoing.wait_answered()
    outgoing.hangup()


def test_hunt_memory_survives_a_restart_of_ringbridge(
    office: Office, bridge: BridgeProcess
) -> None:
    members = {n: office.phone(n, IncomingPolicy.ANSWER) for n in ("3101", "3102")}
    caller = office.phone("3109")
    office.group("6011", list(members), ring_strategy="CYCLIC_HUNT", ring_time=RING_TIME)
    assert answer_one_call(caller, "6011", members) == "3101"
    bridge.stop()
    bridge.start()
    assert answer_one_call(caller, "6011", members) == "3102"


def test_concurrent_calls_into_a_cyclic_group_start_on_different_members(
    office: Office,
) -> None:
    members = {n: office.phone(n) for n in ("3111", "3112", "3113")}
    callers = [office.phone("3118"), office.phone("3119")]
    office.group("6012", list(members), ring_strategy="CYCLIC_HUNT", ring_time=10)
    calls = [caller.call("6012") for caller in callers]
    # Each call starts on its own member: 3111 and 3112 ring once each, 3113 not at all.
    members["3111"].wait_incoming()
    members["3112"].wait_incoming()
    assert len(members["3111"].incoming) == len(members["3112"].incoming) == 1
    assert members["3113"].incoming == []
    for call in calls:
        call.hangup()


def test_a_did_from_the_carrier_reaches_its_group(
    office: Office, trunk: PhoneFactory
) -> None:
    member = office.phone("3121")
    office.group("6013", ["3121"], ring_strategy="RING_SIMULTANEOUSLY",
                 did_numbers=["+14155550123"])
    carrier = trunk()
    outgoing = carrier.call("+14155550123")
    incoming = member.wait_incoming()
    incoming.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    incoming.wait_disconnected()


def test_no_answer_forwards_out_through_the_carrier_with_the_groups_caller_id(
    office: Office, trunk: PhoneFactory
) -> None:
    member = office.phone("3131")
    caller = office.phone("3139")
    carrier = trunk()
    office.group("6014", ["3131"], ring_strategy="PRIORITIZED_HUNT", ring_time=RING_TIME,
                 no_answer_forward_rule={"action": "FORWARD_TO_NUMBER",
                                         "number": "+14155550177"},
                 outbound_caller_ids=[{"provider_id": "carrier", "caller_id": "+14155550100",
                                       "description": "main line"}])
    outgoing = caller.call("6014")
    member.wait_incoming()
    out = carrier.wait_incoming_for("+14155550177", timeout=RING_TIME + 3)
    assert "<sip:+14155550100@" in out.from_header
    assert "<sip:+14155550100@" in out.invite_headers["P-Asserted-Identity"]
    out.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    out.wait_disconnected()


@pytest.mark.parametrize("ending", ["hangup", "pound"])
def test_no_answer_to_voicemail_records_a_message_for_the_group(
    office: Office, asterisk: Asterisk, ending: str
) -> None:
    office.phone("3141")
    caller = office.phone("3149")
    # A number of its own per variant: call_record() finds the newest call to a number.
    number = {"hangup": "6015", "pound": "6016"}[ending]
    group_id = office.group(number, ["3141"], ring_strategy="PRIORITIZED_HUNT",
                            ring_time=RING_TIME, no_answer_forward_rule={
                                "action": "FORWARD_TO_VOICEMAIL", "number": None})
    outgoing = caller.call(number)
    outgoing.wait_answered(timeout=RING_TIME + 3)
    outgoing.wait_rtp(30)  # the prompt sends audio
    # The log is the whole session's: match this group's box, not an earlier test's.
    name = office.bridge.wait_log(
        rf"recording a message as (voicemail-{decode_id(group_id)}-\S+)").group(1)
    wait_until(lambda: live_state(asterisk, name) == "recording", timeout=10,
               what=f"recording {name} to start after the prompt")
    wait_until(lambda: recorded_bytes(asterisk, name) >= WAV_HEADER + 8000, timeout=10,
               what=f"half a second of the caller's audio in {name}")  # the caller speaks
    if ending == "hangup":
        outgoing.hangup()  # "when you are done, hang up"
    else:
        outgoing.send_dtmf("#")  # or press #: ringbridge ends the call
        outgoing.wait_disconnected(timeout=5)
    record = office.bridge.call_record(number)
    (step,) = [s for s in record.steps if s.kind == "voicemail"]
    stored = {r["name"] for r in asterisk.ari("GET", "/recordings/stored").json()}
    assert step.target == name and name in stored
    assert step.target.startswith("voicemail-")
