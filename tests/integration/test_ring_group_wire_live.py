"""Ring group calls as the phones see them on the wire: Request-URI, From, CANCEL causes,
who is never rung, and what the call record says about it (issue 13, points 9-14)."""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess, value
from tests.support.polling import wait_until
from tests.support.softphone import IncomingPolicy, Phone, sip_uri_user

RING_TIME = 2


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    return Office(bridge, phone).create()


def uri_host(header: str) -> str:
    """The host of the URI in a From/To header value."""
    match = re.search(r"<sips?:(?:[^@>]*@)?([^:;>]+)", header)
    assert match, f"no SIP URI in {header!r}"
    return match.group(1)


def test_a_member_is_invited_at_its_own_contact_from_the_tenant_domain(
    office: Office,
) -> None:
    member = office.phone("3301")
    caller = office.phone("3309")
    office.group("6401", ["3301"], ring_strategy="RING_SIMULTANEOUSLY",
                 extension_number_as_to_header=True)
    outgoing = caller.call("6401")
    incoming = member.wait_incoming()
    # The INVITE goes to the contact the phone registered (its own line), not to 6401.
    assert sip_uri_user(incoming.request_uri) == "3301"
    assert f":{member.port}" in incoming.request_uri
    # The caller is presented at the tenant's SIP domain, not at Asterisk's address.
    assert sip_uri_user(incoming.from_header) == "3309"
    assert uri_host(incoming.from_header) == office.domain
    outgoing.hangup()
    incoming.wait_disconnected()


def test_a_direct_call_is_from_the_tenant_domain(office: Office) -> None:
    callee = office.phone("3311")
    caller = office.phone("3319")
    outgoing = caller.call("3311")
    incoming = callee.wait_incoming()
    assert sip_uri_user(incoming.from_header) == "3319"
    assert uri_host(incoming.from_header) == office.domain
    outgoing.wait_ringing()
    outgoing.hangup()
    incoming.wait_disconnected()


def test_ring_time_zero_rings_nobody_and_applies_the_no_answer_rule_at_once(
    office: Office,
) -> None:
    members = [office.phone(n) for n in ("3321", "3322")]
    target = office.phone("3328")
    caller = office.phone("3329")
    office.group("6402", ["3321", "3322"], ring_strategy="PRIORITIZED_HUNT", ring_time=0,
                 no_answer_forward_rule={"action": "FORWARD_TO_NUMBER", "number": "3328"})
    outgoing = caller.call("6402")
    forwarded = target.wait_incoming(timeout=3)
    assert forwarded.arrived_at - outgoing.arrived_at < 1.5
    assert [len(m.incoming) for m in members] == [0, 0]
    forwarded.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    forwarded.wait_disconnected()
    record = office.bridge.call_record("6402")
    assert record.answered_by == "3328"
    assert any("ring_time is 0" in s.detail for s in record.steps)


def test_ring_time_zero_without_a_rule_hangs_up_at_once(office: Office) -> None:
    member = office.phone("3331")
    caller = office.phone("3339")
    office.group("6403", ["3331"], ring_strategy="PRIORITIZED_HUNT", ring_time=0)
    outgoing = caller.call("6403")
    outgoing.wait_disconnected(timeout=3)
    assert member.incoming == []
    assert office.bridge.call_record("6403").ended_at is not None


def test_a_forward_to_the_callers_own_extension_never_rings_the_caller(
    office: Office,
) -> None:
    member = office.phone("3341")
    caller = office.phone("3349")
    office.group("6404", ["3341", "3349"], ring_strategy="PRIORITIZED_HUNT",
                 ring_time=RING_TIME,
                 no_answer_forward_rule={"action": "FORWARD_TO_NUMBER", "number": "3349"})
    outgoing = caller.call("6404")
    member.wait_incoming()
    outgoing.wait_disconnected(timeout=RING_TIME + 3)
    assert caller.incoming == []  # neither by the hunt nor by the forward
    assert len(member.incoming) == 1
    record = office.bridge.call_record("6404")
    skipped = [s for s in record.steps if s.kind == "skipped"]
    assert [s.target for s in skipped] == ["3349"]
    assert "the caller" in skipped[0].detail
    assert record.end_reason is not None
    assert record.end_reason.startswith("ending (nobody answered forward to 3349")


def test_an_unregistered_member_is_passed_over_without_a_request_or_a_warning(
    office: Office,
) -> None:
    office.extension("3351")  # never registers
    member = office.phone("3352")
    caller = office.phone("3359")
    office.group("6405", ["3351", "3352"], ring_strategy="RING_SIMULTANEOUSLY",
                 ring_time=RING_TIME * 3)
    seen = len(office.bridge.log())
    outgoing = caller.call("6405")
    incoming = member.wait_incoming()
    incoming.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    incoming.wait_disconnected()
    record = office.bridge.call_record("6405")
    log = office.bridge.log()[seen:]
    assert "WARNING" not in log and "cannot ring" not in log
    assert re.search(r"INFO .*passing over 3351: not registered", log)
    assert [(s.kind, s.target) for s in record.steps if s.kind == "skipped"] == [
        ("skipped", "3351")]
    assert record.answered_by == "3352"


def test_a_member_whose_phone_unregistered_is_passed_over_on_the_next_call(
    office: Office,
) -> None:
    """The engine knows registered phones without a request per call: a phone that
    rang on one call and then unregistered is passed over on the next, without a leg
    made for it, once the engine heard of it."""
    leaving = office.phone("3353")
    staying = office.phone("3354")
    caller = office.phone("3358")
    office.group("6406", ["3353", "3354"], ring_strategy="RING_SIMULTANEOUSLY",
                 ring_time=RING_TIME * 3)

    def answered_by(member: Phone, ringing_too: Phone | None = None) -> None:
        outgoing = caller.call("6406")
        if ringing_too is not None:
            ringing_too.wait_incoming()
        incoming = member.wait_incoming()
        incoming.answer()
        outgoing.wait_answered()
        outgoing.hangup()
        incoming.wait_disconnected()

    answered_by(staying, ringing_too=leaving)
    heard = contact_changes(office.bridge)
    leaving.unregister()
    wait_until(lambda: contact_changes(office.bridge) > heard, 5,
               "the engine hearing of the phone's removal")
    seen = len(office.bridge.log())
    answered_by(staying)
    assert len(leaving.incoming) == 1  # the first call rang it, the second did not
    log = office.bridge.log()[seen:]
    assert "WARNING" not in log and "cannot ring" not in log
    assert re.search(r"INFO .*passing over 3353: not registered", log)
    record = office.bridge.call_records("6406", 2)[-1]  # the second call's, once written
    assert [s.kind for s in record.steps if s.target == "3353"] == ["skipped"]


def contact_changes(bridge: BridgeProcess) -> float:
    """Changes of phones' registrations the engine heard of so far."""
    return value(bridge.metrics(), "ringbridge_contact_changes_total")


def test_the_record_has_the_cause_the_cancel_carried(office: Office) -> None:
    first = office.phone("3361")
    office.phone("3362", IncomingPolicy.ANSWER)
    caller = office.phone("3369")
    office.group("6436", ["3361", "3362"], ring_strategy="PRIORITIZED_HUNT",
                 ring_time=RING_TIME)
    outgoing = caller.call("6436")
    unanswered = first.wait_incoming()
    unanswered.wait_disconnected(timeout=RING_TIME + 3)
    assert unanswered.ended_by is not None
    method, headers = unanswered.ended_by
    match = re.search(r"Q\.850;cause=(\d+)", headers.get("Reason", ""))
    assert method == "CANCEL" and match, headers
    outgoing.wait_answered()
    outgoing.hangup()
    record = office.bridge.call_record("6436")
    assert record.answered_by == "3362"
    (rang,) = [s for s in record.steps if s.kind == "rang" and s.target == "3361"]
    assert rang.detail.startswith("3361 did not answer (")
    assert rang.detail.endswith(f"cause {match.group(1)})")
