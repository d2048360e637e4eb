"""RingOut on real calls: extension phones and the carrier trunk, driven through the API.

The bridge runs with a 5 s ring time and a 3 s prompt timeout (tests/support/
bridge_process.py), so the no-answer cases take seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.flows.ringout import BACKSTOP_SECONDS
from tests.integration.conftest import PhoneFactory
from tests.integration.ringouts import RingOutOffice, connect
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.polling import wait_until
from tests.support.softphone import Call, IncomingPolicy, Phone

CALLER_ID = "+14155550100"
RING_TIME = 5
PROMPT_TIMEOUT = 3


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> RingOutOffice:
    made = RingOutOffice(bridge, phone).create()
    made.owner_id = made.extension("4000", caller_ids=[CALLER_ID])
    return made


@pytest.fixture
def carrier(trunk: PhoneFactory) -> Phone:
    return trunk()


def assert_talking(*calls: Call) -> None:
    for call in calls:
        call.wait_rtp(20)


def test_internal_caller_then_external_callee_presenting_the_caller_id(
    office: RingOutOffice, carrier: Phone,
) -> None:
    caller = office.phone("4001")
    ringout_id = office.start("+14155550150", "4001", callerId={"phoneNumber": CALLER_ID})
    assert office.status(ringout_id) == {"callStatus": "InProgress",
                                         "callerStatus": "InProgress",
                                         "calleeStatus": "InProgress"}
    first = caller.wait_incoming()
    assert "+14155550150" in first.from_header  # the user sees whom they are calling
    assert carrier.incoming == []  # leg 2 waits for leg 1
    first.answer()
    office.wait_status(ringout_id, "InProgress", "Success", "InProgress")
    second = carrier.wait_incoming_for("+14155550150")
    assert CALLER_ID in second.from_header
    assert CALLER_ID in second.invite_headers["P-Asserted-Identity"]
    second.answer()
    office.wait_status(ringout_id, "Success", "Success", "Success")
    assert_talking(first, second)
    second.hangup()
    first.wait_disconnected()
    office.wait_status(ringout_id, "Success", "Finished", "Finished")
    record = office.bridge.call_record("+14155550150")
    assert (record.call_id, record.caller) == (ringout_id, "4001")
    assert record.answered_by == "+14155550150"  # leg 2 answering connects the call
    assert record.answered_at is not None and record.ended_at is not None
    assert record.received_at < record.answered_at < record.ended_at


def test_a_subscriber_hears_every_status_a_poller_reads(
    office: RingOutOffice, carrier: Phone, receiver: DispatchReceiver,
) -> None:
    """The owner extension's telephony sessions, to a WebHook: each notification's
    parties say the RingOut's leg statuses, in the order a client polling reads them."""
    receiver.respond(200, echo=("Validation-Token",))
    filters = [f"/restapi/v1.0/account/~/extension/{office.owner_id}/telephony/sessions"]
    office.api("POST", "/restapi/v1.0/subscription", json={
        "eventFilters": filters,
        "deliveryMode": {"transportType": "WebHook", "address": f"{receiver.url}/rc"}})
    [handshake] = receiver.requests
    assert handshake.body == b"" and handshake.headers["Validation-Token"]
    caller = office.phone("4111")
    ringout_id = office.start("+14155550197", "4111")
    polled = [office.status(ringout_id)]
    first = caller.wait_incoming()
    first.answer()
    office.wait_status(ringout_id, "InProgress", "Success", "InProgress")
    polled.append(office.status(ringout_id))
    second = carrier.wait_incoming_for("+14155550197")
    second.answer()
    office.wait_status(ringout_id, "Success", "Success", "Success")
    polled.append(office.status(ringout_id))
    second.hangup()
    first.wait_disconnected()
    office.wait_status(ringout_id, "Success", "Finished", "Finished")
    polled.append(office.status(ringout_id))

    notes = [r.json for r in receiver.wait_for(lambda r: r.json is not None, count=5)]
    assert [n["body"]["sequence"] for n in notes] == [1, 2, 3, 4, 5]
    assert {n["body"]["sessionId"] for n in notes} == {ringout_id}
    assert {n["event"].rsplit("/extension/")[1] for n in notes} == {
        f"{office.owner_id}/telephony/sessions"}
    heard = [leg_statuses(n["body"]["parties"]) for n in notes]
    assert list(dict.fromkeys(heard)) == [(p["callerStatus"], p["calleeStatus"])
                                          for p in polled]


def leg_statuses(parties: list[dict[str, Any]]) -> tuple[str, str]:
    """A RingOut's (callerStatus, calleeStatus) as its session's parties tell them."""
    words = {"Proceeding": "InProgress", "Answered": "Success"}

    def status(party: dict[str, Any] | None) -> str:
        if party is None:  # not dialled yet
            return "InProgress"
        code = party["status"]["code"]
        return str(words.get(code) or party["status"]["reason"])

    return status(parties[0]), status(parties[1] if len(parties) > 1 else None)


def test_external_caller_then_internal_callee(office: RingOutOffice, carrier: Phone) -> None:
    callee = office.phone("4012")
    ringout_id = office.start("4012", "+14155550160")
    first = carrier.wait_incoming_for("+14155550160")
    assert callee.incoming == []
    first.answer()
    second = callee.wait_incoming()
    assert CALLER_ID in second.from_header  # the extension's first caller id
    second.answer()
    office.wait_status(ringout_id, "Success", "Success", "Success")
    assert_talking(first, second)
    first.hangup()
    second.wait_disconnected()
    office.wait_status(ringout_id, "Success", "Finished", "Finished")


@pytest.mark.parametrize("policy, status", [(IncomingPolicy.BUSY, "Busy"),
                                            (IncomingPolicy.RING, "NoAnswer")])
def test_caller_busy_or_not_answering_never_rings_the_callee(
    office: RingOutOffice, carrier: Phone, policy: IncomingPolicy, status: str,
) -> None:
    caller = office.phone("4021", policy)
    ringout_id = office.start("+14155550170", "4021")
    first = caller.wait_incoming()
    first.wait_disconnected(timeout=RING_TIME + 3)
    office.wait_status(ringout_id, "CannotReach", status, "InProgress")
    assert carrier.incoming == []


def test_unregistered_caller_is_a_generic_error(office: RingOutOffice, carrier: Phone) -> None:
    office.extension("4031")  # no phone registers
    ringout_id = office.start("+14155550171", "4031")
    office.wait_status(ringout_id, "CannotReach", "GenericError", "InProgress")
    assert carrier.incoming == []


@pytest.mark.parametrize("policy, status", [(IncomingPolicy.BUSY, "Busy"),
                                            (IncomingPolicy.RING, "NoAnswer")])
def test_callee_busy_or_not_answering_cannot_reach(
    office: RingOutOffice, policy: IncomingPolicy, status: str,
) -> None:
    caller = office.phone("4041")
    callee = office.phone("4042", policy)
    ringout_id = office.start("4042", "4041")
    first = caller.wait_incoming()
    first.answer()
    second = callee.wait_incoming()
    second.wait_disconnected(timeout=RING_TIME + 3)
    first.wait_disconnected()
    office.wait_status(ringout_id, "CannotReach", "Success", status)


def test_prompt_then_key_1_rings_the_callee(office: RingOutOffice, carrier: Phone) -> None:
    caller = office.phone("4051")
    ringout_id = office.start("+14155550180", "4051", playPrompt=True)
    first = caller.wait_incoming()
    first.answer()
    first.wait_answered()
    first.wait_rtp(20)  # the prompt plays (about 50 packets a second) ...
    assert carrier.incoming == []  # ... and leg 2 waits for the key
    first.send_dtmf("1")
    second = carrier.wait_incoming_for("+14155550180")
    second.answer()
    office.wait_status(ringout_id, "Success", "Success", "Success")
    first.hangup()
    second.wait_disconnected()


def test_prompt_without_a_key_ends_the_attempt(office: RingOutOffice, carrier: Phone) -> None:
    caller = office.phone("4061")
    ringout_id = office.start("+14155550181", "4061", playPrompt=True)
    first = caller.wait_incoming()
    first.answer()
    first.wait_answered()
    first.send_dtmf("2")  # not the key asked for
    first.wait_disconnected(timeout=PROMPT_TIMEOUT + 3)
    office.wait_status(ringout_id, "CannotReach", "NoAnswer", "InProgress")
    assert carrier.incoming == []


def test_cancel_while_the_callee_rings(office: RingOutOffice, carrier: Phone) -> None:
    caller = office.phone("4071")
    ringout_id = office.start("+14155550190", "4071")
    first = caller.wait_incoming()
    first.answer()
    second = carrier.wait_incoming_for("+14155550190")
    response = office.bridge.api("DELETE", office.path(ringout_id), office.token)
    assert response.status_code == 204
    first.wait_disconnected()
    second.wait_disconnected()
    office.wait_status(ringout_id, "CannotReach", "Rejected", "Rejected")


def test_cancel_while_the_caller_rings(office: RingOutOffice, carrier: Phone) -> None:
    caller = office.phone("4072")
    ringout_id = office.start("+14155550191", "4072")
    first = caller.wait_incoming()
    assert office.bridge.api("DELETE", office.path(ringout_id), office.token
                             ).status_code == 204
    first.wait_disconnected()
    office.wait_status(ringout_id, "CannotReach", "Rejected", "InProgress")
    assert carrier.incoming == []


def test_cancel_after_connect_leaves_the_call_up(office: RingOutOffice,
                                                 carrier: Phone) -> None:
    caller = office.phone("4081")
    ringout_id, first, second = connect(office, caller, carrier, "+14155550192")
    response = office.bridge.api("DELETE", office.path(ringout_id), office.token)
    assert response.status_code == 409
    assert response.json()["errorCode"] == "CMN-409"
    assert_talking(first, second)
    assert (first.state, second.state) == ("confirmed", "confirmed")
    first.hangup()
    second.wait_disconnected()
    office.wait_status(ringout_id, "Success", "Finished", "Finished")
    over = office.bridge.api("DELETE", office.path(ringout_id), office.token)
    assert over.status_code == 204  # nothing is left to end
    assert office.status(ringout_id) == {"callStatus": "Success",
                                         "callerStatus": "Finished",
                                         "calleeStatus": "Finished"}


def test_a_restart_of_ringbridge_keeps_the_call_and_its_status(
    office: RingOutOffice, carrier: Phone, asterisk: Asterisk,
) -> None:
    caller = office.phone("4091")
    ringout_id, first, second = connect(office, caller, carrier, "+14155550193")
    seen = len(office.bridge.log())
    office.bridge.stop()
    office.bridge.start()
    deadline = time.monotonic() + 10
    while not re.search(r"ARI connected: .*, [1-9]\d* adopted", office.bridge.log()[seen:]):
        assert time.monotonic() < deadline, "the call was not adopted after the restart"
        time.sleep(0.1)
    assert office.status(ringout_id) == {"callStatus": "Success", "callerStatus": "Success",
                                         "calleeStatus": "Success"}
    assert_talking(first, second)
    second.hangup()
    first.wait_disconnected()
    office.wait_status(ringout_id, "Success", "Finished", "Finished")
    # The end is recorded (Finished) before the legs and then the bridge are deleted.
    wait_until(lambda: not [b for b in asterisk.ari("GET", "/bridges").json()
                            if b["id"] == f"rb-{ringout_id}"], 5, "the RingOut's bridge gone")


@pytest.fixture
def legs_ringing_a_minute(bridge: BridgeProcess) -> Iterator[None]:
    """RingOuts whose legs Asterisk gives up on only after a minute (its dial timeout is
    the ring time plus a backstop): however slow the machine is to restart ringbridge,
    the new one finds them still ringing."""
    with bridge.restarted_with(RINGOUT_RING_TIME="60"):
        yield


def test_a_ringout_ringing_across_a_restart_of_ringbridge_is_ended(
    office: RingOutOffice, legs_ringing_a_minute: None,
) -> None:
    caller = office.phone("4092")
    ringout_id = office.start("+14155550194", "4092")
    ringing = caller.wait_incoming()
    ringing.wait_ringing()
    office.bridge.stop()
    seen = len(office.bridge.log())
    office.bridge.start()
    # The new ringbridge found the leg still ringing and hung it up itself.
    office.bridge.wait_log(rf"channel rb-{ringout_id}-1: a leg of call {ringout_id}, "
                           "which no flow runs any more; hanging up", after=seen)
    ringing.wait_disconnected()  # nobody would connect it now: the phone stops ringing
    assert ringing.ended_by is not None and ringing.ended_by[0] == "CANCEL"
    office.wait_status(ringout_id, "NoAnsweringMachine", "InProgress", "InProgress")


def test_a_ringout_whose_callee_answers_while_ringbridge_is_down_is_connected(
    office: RingOutOffice, carrier: Phone, legs_ringing_a_minute: None,
) -> None:
    caller = office.phone("4095")
    ringout_id = office.start("+14155550198", "4095")
    first = caller.wait_incoming()
    first.answer()
    second = carrier.wait_incoming_for("+14155550198")
    office.bridge.kill()
    second.answer()
    time.sleep(1)
    seen = len(office.bridge.log())
    office.bridge.start()
    office.bridge.wait_log(rf"call {ringout_id}: the RingOut's callee answered while "
                           "ringbridge was down; connected", after=seen)
    assert_talking(first, second)
    assert (first.state, second.state) == ("confirmed", "confirmed")
    office.wait_status(ringout_id, "Success", "Success", "Success")
    second.hangup()
    first.wait_disconnected()
    office.wait_status(ringout_id, "Success", "Finished", "Finished")
    record = office.bridge.call_record("+14155550198")
    assert (record.call_id, record.answered_by) == (ringout_id, "+14155550198")
    assert record.ended_at is not None


def test_a_users_token_is_refused_another_users_extension(
        office: RingOutOffice, carrier: Phone) -> None:
    """A user's token could ring out from another user's extension (issue 13)."""
    printed = office.bridge.cli("users", "create", "--tenant", office.company,
                                "--username", "ann")
    ann_id = re.search(r"\(id (\S+), role user\)", printed)
    assert ann_id is not None, printed
    ann_token = office.bridge.cli("tokens", "create", "--tenant", office.company,
                                  "--user", "ann").strip()
    office.extension("4101", user_id=ann_id.group(1))
    ann_phone, bob_phone = office.phone("4101"), office.phone("4102")
    body = {"from": {"phoneNumber": "4102"}, "to": {"phoneNumber": "+14155550199"}}
    refused = office.bridge.api("POST", office.path(), ann_token,  # 4000: not ann's
                                json={**body, "callerId": {"phoneNumber": CALLER_ID}})
    assert refused.status_code == 403 and refused.json()["errorCode"] == "CMN-408"
    # Her own extension (`~`) works: her phone rings first.
    own = office.bridge.api("POST", "/restapi/v1.0/account/~/extension/~/ring-out",
                            ann_token, json={**body, "from": {"phoneNumber": "4101"}})
    assert own.status_code == 200, own.text
    ann_phone.wait_incoming().reject()
    # The tenant token reaches the other extension: Bob's phone rings, for it alone.
    started = office.start("+14155550199", "4102")
    bob_phone.wait_incoming().reject()
    office.wait_status(started, "CannotReach", "Busy", "InProgress")
    assert len(bob_phone.incoming) == 1 and carrier.incoming == []


def test_a_ringout_whose_legs_asterisk_hung_up_while_ringbridge_was_down_is_ended(
    office: RingOutOffice,
) -> None:
    caller = office.phone("4093")
    ringout_id = office.start("+14155550195", "4093")
    ringing = caller.wait_incoming()
    ringing.wait_ringing()
    office.bridge.kill()
    # Down longer than the leg's dial timeout: Asterisk itself gives up on the leg.
    ringing.wait_disconnected(timeout=RING_TIME + BACKSTOP_SECONDS + 5)
    assert ringing.ended_by is not None and ringing.ended_by[0] == "CANCEL"
    seen = len(office.bridge.log())
    office.bridge.start()
    office.bridge.wait_log(r"ARI connected:", after=seen)
    office.wait_status(ringout_id, "NoAnsweringMachine", "InProgress", "InProgress")
    record = office.bridge.call_record("+14155550195")
    assert record.call_id == ringout_id and record.end_reason is not None


def test_a_connected_ringout_whose_phones_hung_up_while_ringbridge_was_down_is_finished(
    office: RingOutOffice, carrier: Phone, asterisk: Asterisk,
) -> None:
    caller = office.phone("4094")
    ringout_id, first, second = connect(office, caller, carrier, "+14155550196")
    office.bridge.kill()
    for call in (first, second):
        call.hangup()
        call.wait_disconnected()
    seen = len(office.bridge.log())
    office.bridge.start()
    office.bridge.wait_log(r"ARI connected:", after=seen)
    office.wait_status(ringout_id, "Success", "Finished", "Finished")
    # The end is recorded (Finished) before the legs and then the bridge are deleted.
    wait_until(lambda: not [b for b in asterisk.ari("GET", "/bridges").json()
                            if b["id"] == f"rb-{ringout_id}"], 5, "the RingOut's bridge gone")
