"""Phone calls and parking (/uapi/phoneCalls) on real calls between softphones."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from tests.integration.conftest import PhoneFactory
from tests.integration.phone_calls import (
    PARK_SECONDS,
    calls_of,
    park,
    statuses,
    take,
    talking,
    view_of,
)
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess
from tests.support.polling import wait_until
from tests.support.softphone import IncomingPolicy, sip_uri_user


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    return Office(bridge, phone).create()


def views(call: dict[str, Any]) -> dict[str, str | None]:
    """Each view's id → its extension."""
    return {v["id"]: v.get("extension") for v in call["phoneCallView"]}


def one_record(office: Office, call: dict[str, Any]) -> dict[str, Any]:
    """The call's record once it is closed: one record for the whole call."""
    def closed() -> dict[str, Any] | None:
        record: dict[str, Any] = office.api("GET", f"/api/call_records/{call['id']}")
        return record if record["ended_at"] else None

    return wait_until(closed, 5, "the call's record closed")


def kinds(record: dict[str, Any]) -> list[str]:
    return [step["kind"] for step in record["steps"]]


# The steps of a call (or a call taken back) that rings one phone, which answers.
CALL_STEPS = ["arrived", "hunting", "dialling", "ringing", "answered"]


def close_in_time(first: str, second: str) -> bool:
    moments = [datetime.fromisoformat(when.replace("Z", "+00:00")) for when in (first, second)]
    return abs((moments[1] - moments[0]).total_seconds()) < 1


def test_the_list_shows_ringing_then_talking(office: Office) -> None:
    caller, callee = office.phone("4001"), office.phone("4002")
    out = caller.call("4002")
    incoming = callee.wait_incoming()
    out.wait_ringing()
    ringing = wait_until(lambda: [c for c in calls_of(office, "4001")
                                  if statuses(c) == {"4001": 4, "4002": 3}], 5, "ringing")
    (call,) = ringing
    assert call["extension"] == "4001"
    caller_view, callee_view = call["phoneCallView"]
    assert (caller_view["id"], caller_view["source"], caller_view["destination"],
            caller_view["flow"]) == ("00", ["4001"], ["4002"], 2)
    assert "ringing" in callee_view and "answered" not in callee_view
    assert "parked" not in callee_view and "answered" not in call  # nulls left out
    assert calls_of(office, "4002")[0]["id"] == call["id"]
    incoming.answer()
    out.wait_answered()
    wait_until(lambda: statuses(calls_of(office, "4002")[0]) == {"4001": 5, "4002": 5}, 5,
               "both on call")
    out.hangup()
    incoming.wait_disconnected()
    wait_until(lambda: calls_of(office, "4001") == [], 5, "the call gone from the list")


def test_a_party_on_hold_shows_who_holds_it(office: Office) -> None:
    caller, callee = office.phone("4006"), office.phone("4007")
    out, incoming, call = talking(office, caller, callee)
    incoming.hold()  # 4007's phone sends a re-INVITE with sendonly media
    held = wait_until(lambda: next((c for c in calls_of(office, "4006")
                                    if "onHold" in view_of(c, "4006")), None), 5, "on hold")
    assert view_of(held, "4006")["holder"] == "4007"
    assert "onHold" not in view_of(held, "4007") and "holder" not in view_of(held, "4007")
    incoming.unhold()
    wait_until(lambda: all("onHold" not in v for v in calls_of(office, "4006")[0][
        "phoneCallView"]), 5, "off hold")
    out.hangup()
    incoming.wait_disconnected()
    record = one_record(office, call)
    assert kinds(record) == [*CALL_STEPS, "hold", "unhold", "ended"]


def test_park_times_out_back_to_the_parker(office: Office) -> None:
    caller, callee = office.phone("4011"), office.phone("4012")
    out, incoming, call = talking(office, caller, callee)
    response = park(office, "4011", call, view_of(call, "4012")["id"], str(PARK_SECONDS))
    assert response.status_code == 200, response.text
    (parked,) = response.json()
    view = view_of(parked, "4012")
    assert (view["parkedPos"], view["parkedBy"]) == (701, "4011")
    assert "parked" in view
    # The same PhoneCall: its id, the parked party's view, owner and times.
    assert (parked["id"], view["id"], parked["extension"], parked["answered"]) == (
        call["id"], "01", "4011", call["answered"])
    assert (view["source"], view["destination"]) == (["4011"], ["4012"])
    out.wait_disconnected()  # the parker is freed
    assert incoming.state == "confirmed"
    incoming.wait_rtp(10)  # music on hold
    listed = calls_of(office, "4011")
    assert [c["id"] for c in listed] == [call["id"]]
    assert view_of(listed[0], "4012")["parkedPos"] == 701
    back = caller.wait_incoming(timeout=PARK_SECONDS + 5)
    back.answer()
    back.wait_answered()
    (again,) = wait_until(lambda: [c for c in calls_of(office, "4011")
                                   if statuses(c) == {"4012": 5, "4011": 5}], 5,
                          "parker talking again")
    assert (again["id"], again["answered"], again["extension"]) == (
        call["id"], call["answered"], "4011")
    assert views(again) == {"01": "4012", "02": "4011"}  # the parker, rung back, is new
    assert incoming.state == "confirmed"
    back.hangup()
    incoming.wait_disconnected()
    record = one_record(office, call)  # parked, rung back, answered: one call
    assert kinds(record) == [*CALL_STEPS, "parked", *CALL_STEPS, "ended"]
    assert record["end_reason"] == "ending (4011 hung up)"
    assert close_in_time(record["answered_at"], call["answered"])  # the first answer


@pytest.mark.parametrize("action", ["UnPark", "PickUp"])
def test_a_parked_call_taken_to_a_third_phone(office: Office, action: str) -> None:
    """UnPark (and PickUp of a parked call) rings `sendCallTo`, which gets the party."""
    caller, callee, third = office.phone("4021"), office.phone("4022"), office.phone("4023")
    out, incoming, call = talking(office, caller, callee)
    assert park(office, "4021", call, view_of(call, "4022")["id"], 60).status_code == 200
    out.wait_disconnected()
    response = take(office, "4021", call, action, "4023")
    assert response.status_code == 200, response.text
    (answer,) = response.json()  # the PhoneCall, out of the lot
    assert (answer["id"], answer["answered"], views(answer)["01"]) == (
        call["id"], call["answered"], "4022")
    ring = third.wait_incoming()
    assert "4022" in ring.from_header  # the parked party's number is shown
    ring.answer()
    ring.wait_answered()
    now = wait_until(lambda: [c for c in calls_of(office, "4023")
                              if statuses(c) == {"4022": 5, "4023": 5}], 5, "third talking")
    assert (now[0]["id"], now[0]["answered"], now[0]["extension"]) == (
        call["id"], call["answered"], "4021")
    assert views(now[0]) == {"01": "4022", "02": "4023"}
    assert all("parked" not in v for v in now[0]["phoneCallView"])
    ring.wait_rtp(10)
    ring.hangup()
    incoming.wait_disconnected()
    record = one_record(office, call)  # the talk after the UnPark is the same call's
    assert kinds(record) == [*CALL_STEPS, "parked", *CALL_STEPS[1:], "ended"]
    assert record["end_reason"] == "ending (4023 hung up)"


@pytest.mark.parametrize(("action", "caller_id", "shown"), [
    ("UnPark", "John Doe <42420042>", ('"John Doe"', "42420042")),
    ("PickUp", "+14155550100", (None, "+14155550100"))])
def test_the_caller_id_given_is_what_the_phone_taking_the_call_sees(
        office: Office, action: str, caller_id: str, shown: tuple[str | None, str]) -> None:
    """The vendor's `Name <number>` reached the phone as `"<John Doe" <sip:42420042%3e@…>`;
    text with CR/LF was taken as it was."""
    caller, callee, third = office.phone("4151"), office.phone("4152"), office.phone("4153")
    out, incoming, call = talking(office, caller, callee)
    assert park(office, "4151", call, view_of(call, "4152")["id"], 60).status_code == 200
    out.wait_disconnected()
    path = f"/uapi/phoneCalls/@me/4151/{call['id']}"
    refused = office.bridge.api("PUT", path, office.token, json={
        "action": action, "sendCallTo": "4153", "callerId": "x\r\nX-Injected: 1",
        "phoneCallViewId": "01"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        400, "pc_callerid_invalid")
    response = office.bridge.api("PUT", path, office.token, json={
        "action": action, "sendCallTo": "4153", "callerId": caller_id,
        "phoneCallViewId": "01"})
    assert response.status_code == 200, response.text
    ring = third.wait_incoming()
    name, number = shown
    display, _, address = ring.from_header.partition("<")
    assert sip_uri_user(address.split(">", 1)[0]) == number, ring.from_header
    assert display.strip() == (name or ""), ring.from_header
    assert "X-Injected" not in ring.invite_headers
    ring.answer()
    ring.wait_rtp(10)
    ring.hangup()
    incoming.wait_disconnected()


def test_unpark_not_answered_puts_the_call_back_in_its_slot_for_the_time_left(
        office: Office) -> None:
    """The call goes back to slot 701 and rings its parker back when the time it was
    parked for runs out, not that time again."""
    caller, callee, third = office.phone("4026"), office.phone("4027"), office.phone("4028")
    out, incoming, call = talking(office, caller, callee)
    parked_at = time.monotonic()
    assert park(office, "4026", call, view_of(call, "4027")["id"], 20).status_code == 200
    out.wait_disconnected()
    response = take(office, "4026", call, "UnPark", "4028", waitForPickup="8")
    assert response.status_code == 200, response.text
    ring = third.wait_incoming()
    ring.wait_disconnected(timeout=12)  # 8 s, then Asterisk cancels it
    (back,) = wait_until(lambda: [c for c in calls_of(office, "4026") if any(
        "parkedPos" in v for v in c["phoneCallView"])], 5, "parked again")
    assert (back["id"], view_of(back, "4027")["parkedPos"], view_of(back, "4027")["id"]) == (
        call["id"], 701, "01")
    assert incoming.state == "confirmed"
    comeback = caller.wait_incoming(timeout=30)
    rang_after = time.monotonic() - parked_at
    assert 17 < rang_after < 25, rang_after  # 20 s after the park (28 s after: again)
    comeback.answer()
    comeback.wait_answered()
    (again,) = wait_until(lambda: [c for c in calls_of(office, "4026")
                                   if statuses(c) == {"4027": 5, "4026": 5}], 5, "rung back")
    assert (again["id"], views(again)) == (call["id"], {"01": "4027", "03": "4026"})
    comeback.hangup()
    incoming.wait_disconnected()
    record = one_record(office, call)
    assert kinds(record) == [*CALL_STEPS, "parked", "hunting", "dialling", "ringing", "rang",
                             "parked", *CALL_STEPS, "ended"]


def test_a_phone_of_the_tenant_takes_the_call_back_by_dialling_the_slot(
        office: Office, bridge: BridgeProcess, phone: PhoneFactory) -> None:
    caller, callee = office.phone("4031"), office.phone("4032")
    stranger_office = Office(bridge, phone).create()
    stranger = stranger_office.phone("4031")  # same number, another tenant
    out, incoming, call = talking(office, caller, callee)
    response = park(office, "4031", call, view_of(call, "4032")["id"], 60)
    slot = str(view_of(response.json()[0], "4032")["parkedPos"])
    out.wait_disconnected()

    attempt = stranger.call(slot)  # another tenant's phone never reaches it
    attempt.wait_disconnected(timeout=10)
    assert stranger_office.api("GET", "/uapi/phoneCalls/@me/4031")["entry"] == []
    assert incoming.state == "confirmed"

    again = caller.call(slot)
    again.wait_answered()
    (taken,) = wait_until(lambda: [c for c in calls_of(office, "4031")
                                   if statuses(c) == {"4031": 5, "4032": 5}], 5, "taken back")
    assert (taken["id"], taken["answered"], views(taken)) == (
        call["id"], call["answered"], {"01": "4032", "02": "4031"})
    again.wait_rtp(10)
    again.hangup()
    incoming.wait_disconnected()
    record = one_record(office, call)
    assert kinds(record) == [*CALL_STEPS, "parked", "arrived", "answered", "ended"]


def test_a_parked_caller_who_hangs_up_leaves_the_list(office: Office) -> None:
    caller, callee = office.phone("4041"), office.phone("4042")
    out, incoming, call = talking(office, caller, callee)
    response = park(office, "4042", call, view_of(call, "4041")["id"], 60)  # park the caller
    assert view_of(response.json()[0], "4041")["parkedBy"] == "4042"
    incoming.wait_disconnected()
    assert len(calls_of(office, "4042")) == 1
    out.hangup()
    wait_until(lambda: calls_of(office, "4042") == [], 5, "the parked call gone")
    record = one_record(office, call)
    assert kinds(record) == [*CALL_STEPS, "parked", "ended"]
    assert record["end_reason"] == "4041 hung up while parked at 701"


def test_a_full_lot_is_an_error_and_the_call_goes_on(office: Office) -> None:
    parker = office.phone("4051")
    callees = [office.phone(f"406{i}") for i in range(3)]  # the test lot has 2 slots
    legs = []
    for callee in callees[:2]:
        out, incoming, call = talking(office, parker, callee)
        assert park(office, "4051", call, view_of(call, callee.username)["id"]).status_code \
            == 200
        out.wait_disconnected()
        legs.append(incoming)
    out, incoming, call = talking(office, parker, callees[2])
    response = park(office, "4051", call, view_of(call, "4062")["id"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "pc_parkinglot_full"
    assert (out.state, incoming.state) == ("confirmed", "confirmed")
    out.wait_rtp(10)
    incoming.wait_rtp(10)
    (talk,) = [c for c in calls_of(office, "4051") if c["id"] == call["id"]]
    assert statuses(talk) == {"4051": 5, "4062": 5}
    out.hangup()
    incoming.wait_disconnected()
    for parked in legs:
        parked.hangup()


def test_park_without_a_call_id_parks_every_call_of_the_extension(office: Office) -> None:
    caller, callee = office.phone("4071"), office.phone("4072")
    out, incoming, call = talking(office, caller, callee)
    response = office.bridge.api("PUT", "/uapi/phoneCalls/@me/4071", office.token,
                                 json={"action": "Park", "maxInParking": 30})
    assert response.status_code == 200, response.text
    assert [c["id"] for c in response.json()] == [call["id"]]
    assert view_of(response.json()[0], "4072")["parkedBy"] == "4071"
    out.wait_disconnected()
    nothing = office.bridge.api("PUT", "/uapi/phoneCalls/@me/4071", office.token,
                                json={"action": "Park"})
    assert nothing.status_code == 204  # the parked call has no other party to park
    incoming.hangup()


def test_pick_up_takes_a_ringing_call_to_another_phone(office: Office) -> None:
    caller, callee, other = office.phone("4081"), office.phone("4082"), office.phone("4083")
    out = caller.call("4082")
    ringing = callee.wait_incoming()
    (call,) = wait_until(lambda: calls_of(office, "4082"), 5, "ringing call")
    response = office.bridge.api("PUT", f"/uapi/phoneCalls/@me/4082/{call['id']}",
                                 office.token, json={"action": "PickUp", "sendCallTo": "4083"})
    assert response.status_code == 200, response.text
    ringing.wait_disconnected()
    picked = other.wait_incoming()
    picked.answer()
    out.wait_answered()
    wait_until(lambda: statuses(calls_of(office, "4081")[0]) == {"4081": 5, "4083": 5}, 5,
               "talking to the phone that picked up")
    out.hangup()
    picked.wait_disconnected()


def test_delete_hangs_up_one_party_or_the_whole_call(office: Office) -> None:
    a, b, c = office.phone("4091"), office.phone("4092"), office.phone("4093")
    out, incoming, call = talking(office, a, b)
    response = office.bridge.api("DELETE", f"/uapi/phoneCalls/@me/4091/{call['id']}",
                                 office.token, params={"phoneNumber": "4092"})
    assert (response.status_code, response.json()) == (200, [{"id": call["id"]}])
    incoming.wait_disconnected()
    out.wait_disconnected()
    out2, incoming2, call2 = talking(office, c, b)
    response = office.bridge.api("DELETE", "/uapi/phoneCalls/@me/4093", office.token)
    assert (response.status_code, response.json()) == (200, [{"id": call2["id"]}])
    out2.wait_disconnected()
    incoming2.wait_disconnected()
    empty = office.bridge.api("DELETE", "/uapi/phoneCalls/@me/4093", office.token)
    assert empty.status_code == 204


def test_delete_hangs_up_a_parked_call(office: Office) -> None:
    caller, callee = office.phone("4096"), office.phone("4097")
    out, incoming, call = talking(office, caller, callee)
    assert park(office, "4096", call, view_of(call, "4097")["id"], 60).status_code == 200
    out.wait_disconnected()
    to_itself = take(office, "4096", call, "UnPark", "4097")
    assert (to_itself.status_code, to_itself.json()["error"]["code"]) == (
        400, "pc_sendcallto_invalid")
    response = office.bridge.api("DELETE", f"/uapi/phoneCalls/@me/4096/{call['id']}",
                                 office.token)
    assert (response.status_code, response.json()) == (200, [{"id": call["id"]}])
    incoming.wait_disconnected()
    wait_until(lambda: calls_of(office, "4096") == [], 5, "the parked call gone")


def test_errors_on_a_live_call_and_another_tenants_call(
        office: Office, bridge: BridgeProcess, phone: PhoneFactory) -> None:
    caller, callee = office.phone("4101"), office.phone("4102")
    other = Office(bridge, phone).create()
    other.extension("4101")
    out, incoming, call = talking(office, caller, callee)
    path = f"/uapi/phoneCalls/@me/4101/{call['id']}"

    def code(method: str, where: str, token: str = office.token, **kwargs: Any) -> tuple:
        response = bridge.api(method, where, token, **kwargs)
        return response.status_code, response.json()["error"]["code"]

    view = view_of(call, "4102")["id"]
    for bad in (9, 3601, "abc", "", True, 12.5, None):
        assert code("PUT", path, json={"action": "Park", "phoneCallViewId": view,
                                       "maxInParking": bad}) == (400, "pc_parktimeout_invalid")
    assert code("PUT", path, json={"action": "Park", "phoneCallViewId": "07"}) == (
        400, "pc_phonecallview_invalid")
    assert code("PUT", path, json={"action": "Park"}) == (400, "pc_phonecallview_invalid")
    assert code("PUT", "/uapi/phoneCalls/@me/4101/nosuchcall", json={
        "action": "Park", "phoneCallViewId": view}) == (400, "pc_phonecall_invalid")
    assert code("GET", "/uapi/phoneCalls/@me/4101/no-such") == (400, "pc_phonecall_invalid")
    assert code("PUT", path, json={"action": "UnPark", "sendCallTo": "4102",
                                   "phoneCallViewId": view}) == (
        400, "pc_phonecallview_invalid")  # not parked
    assert code("PUT", path, json={"action": "UnPark", "sendCallTo": "4102"}) == (
        400, "pc_phonecallview_invalid")  # which party?
    assert code("PUT", path, json={"action": "Park", "phoneCallViewId": "00"}) == (
        400, "pc_phonecallview_invalid")  # 4101 itself: the ring back would ring it
    assert code("PUT", path, json={"action": "UnPark", "sendCallTo": "9999"}) == (
        400, "pc_sendcallto_invalid")
    assert code("PUT", path, json={"action": "Hold"}) == (400, "pc_action_invalid")
    # The other tenant: its own 4101 has no calls, and this call id is not one of its.
    assert other.api("GET", "/uapi/phoneCalls/@me/4101")["entry"] == []
    assert code("GET", path, other.token) == (400, "pc_phonecall_invalid")
    assert code("PUT", path, other.token, json={"action": "Park", "phoneCallViewId": view}) \
        == (400, "pc_phonecall_invalid")
    assert code("DELETE", path, other.token) == (400, "pc_phonecall_invalid")
    assert code("GET", "/uapi/phoneCalls/@me/4102", other.token) == (404, "extension_not_found")
    assert (out.state, incoming.state) == ("confirmed", "confirmed")
    out.hangup()
    incoming.wait_disconnected()


def test_parked_calls_are_read_again_after_a_restart_of_ringbridge(
        office: Office, bridge: BridgeProcess) -> None:
    caller, callee = office.phone("4111"), office.phone("4112")
    out, incoming, call = talking(office, caller, callee)
    assert park(office, "4111", call, view_of(call, "4112")["id"], 60).status_code == 200
    out.wait_disconnected()
    bridge.stop()
    bridge.start()
    (listed,) = calls_of(office, "4111")
    view = view_of(listed, "4112")
    assert (listed["id"], view["id"], view["parkedPos"], view["parkedBy"]) == (
        call["id"], "01", 701, "4111")
    assert (listed["answered"], listed["extension"]) == (call["answered"], "4111")
    started, kept = (datetime.fromisoformat(c["published"].replace("Z", "+00:00"))
                     for c in (call, listed))
    assert abs((kept - started).total_seconds()) < 0.01  # when the call began, not the park
    incoming.hangup()
    wait_until(lambda: calls_of(office, "4111") == [], 5, "the parked call gone")


def test_a_call_from_the_carrier_to_a_group_is_listed_and_parked(
        office: Office, trunk: PhoneFactory) -> None:
    member = office.phone("4121")
    office.group("6121", ["4121"], ring_strategy="RING_SIMULTANEOUSLY",
                 did_numbers=["+14155550188"])
    carrier = trunk()
    outgoing = carrier.call("+14155550188")
    incoming = member.wait_incoming()
    (call,) = wait_until(lambda: calls_of(office, "4121"), 5, "the call listed")
    caller_view = call["phoneCallView"][0]
    assert (call["extension"], caller_view["flow"], caller_view["destination"]) == (
        "4121", 8, ["+14155550188"])
    assert "extension" not in caller_view  # an outside party
    incoming.answer()
    outgoing.wait_answered()
    wait_until(lambda: statuses(calls_of(office, "4121")[0]) == {None: 5, "4121": 5}, 5,
               "talking")
    response = park(office, "4121", call, "00")
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    parked = answer["phoneCallView"][0]
    assert (parked["parkedBy"], parked["flow"], parked["source"]) == (
        "4121", 8, [call["phoneCallView"][0]["source"][0]])
    assert (answer["id"], answer["extension"]) == (call["id"], "4121")
    incoming.wait_disconnected()
    assert outgoing.state == "confirmed"
    outgoing.hangup()
    wait_until(lambda: calls_of(office, "4121") == [], 5, "the parked call gone")


def test_a_call_talking_across_a_restart_of_ringbridge_is_listed_and_hung_up(
        office: Office, bridge: BridgeProcess) -> None:
    caller, callee = office.phone("4131"), office.phone("4132")
    out, incoming, call = talking(office, caller, callee)
    bridge.stop()
    bridge.start()
    (listed,) = wait_until(lambda: calls_of(office, "4132"), 5, "the adopted call")
    assert (listed["id"], statuses(listed)) == (call["id"], {"4131": 5, "4132": 5})
    assert [v["id"] for v in listed["phoneCallView"]] == ["00", "01"]
    assert listed["phoneCallView"][0]["destination"] == ["4132"]
    answered = [datetime.fromisoformat(c["answered"]) for c in (call, listed)]
    assert abs((answered[1] - answered[0]).total_seconds()) < 1  # still answered
    assert all(view["answered"] for view in listed["phoneCallView"])
    refused = park(office, "4132", listed, "00")
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        400, "pc_phonecall_invalid")
    assert "restart" in refused.json()["error"]["message"]
    response = office.bridge.api("DELETE", f"/uapi/phoneCalls/@me/4132/{call['id']}",
                                 office.token)
    assert (response.status_code, response.json()) == (200, [{"id": call["id"]}])
    out.wait_disconnected()
    incoming.wait_disconnected()
    record = office.bridge.call_record("4132")
    assert (record.call_id, record.end_reason) == (call["id"], "ending (hung up through the API)")


def test_a_parker_who_refuses_the_ring_back_ends_the_parked_call(office: Office) -> None:
    caller, callee = office.phone("4141"), office.phone("4142")
    out, incoming, call = talking(office, caller, callee)
    assert park(office, "4141", call, view_of(call, "4142")["id"]).status_code == 200
    out.wait_disconnected()
    caller.policy = IncomingPolicy.BUSY
    back = caller.wait_incoming(timeout=PARK_SECONDS + 5)
    incoming.wait_disconnected()  # documented: hung up, not parked again
    assert back.state == "disconnected"
    wait_until(lambda: calls_of(office, "4141") == [], 5, "the call gone")
