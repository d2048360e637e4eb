"""Phone calls and parking (/uapi/phoneCalls) on real calls between softphones."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess
from tests.support.softphone import Call, Phone

PARK_SECONDS = 10  # the shortest maxInParking the API takes


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    return Office(bridge, phone).create()


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """The engine's view changes on its own events: read it until it shows `what`."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.1)
    return result


def calls_of(office: Office, extension: str) -> list[dict[str, Any]]:
    return list(office.api("GET", f"/uapi/phoneCalls/@me/{extension}")["entry"])


def statuses(call: dict[str, Any]) -> dict[str, int]:
    return {view["extension"]: view["status"] for view in call["phoneCallView"]}


def talking(office: Office, caller: Phone, callee: Phone) -> tuple[Call, Call, dict[str, Any]]:
    """caller → callee, answered; returns both legs and the call as the API shows it."""
    out = caller.call(callee.username)
    incoming = callee.wait_incoming()
    incoming.answer()
    out.wait_answered()
    call = wait_until(lambda: next((c for c in calls_of(office, caller.username)
                                    if set(statuses(c).values()) == {5}), None),
                      5, "both parties on call")
    return out, incoming, call


def park(office: Office, extension: str, call: dict[str, Any], view: str,
         seconds: int | str = PARK_SECONDS) -> Any:
    return office.bridge.api("PUT", f"/uapi/phoneCalls/@me/{extension}/{call['id']}",
                             office.token, json={"action": "Park", "phoneCallViewId": view,
                                                 "maxInParking": seconds})


def view_of(call: dict[str, Any], extension: str) -> dict[str, Any]:
    return next(v for v in call["phoneCallView"] if v.get("extension") == extension)


def rtp_flowing(call: Call) -> bool:
    before = call.rtp_received()
    time.sleep(0.5)
    return call.rtp_received() > before


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


def test_park_times_out_back_to_the_parker(office: Office) -> None:
    caller, callee = office.phone("4011"), office.phone("4012")
    out, incoming, call = talking(office, caller, callee)
    response = park(office, "4011", call, view_of(call, "4012")["id"], str(PARK_SECONDS))
    assert response.status_code == 200, response.text
    (parked,) = response.json()
    view = view_of(parked, "4012")
    assert (view["parkedPos"], view["parkedBy"]) == ("701", "4011")
    assert "parked" in view
    out.wait_disconnected()  # the parker is freed
    assert incoming.state == "confirmed"
    assert rtp_flowing(incoming)  # music on hold
    listed = calls_of(office, "4011")
    assert [c["id"] for c in listed] == [call["id"]]
    assert view_of(listed[0], "4012")["parkedPos"] == "701"
    back = caller.wait_incoming(timeout=PARK_SECONDS + 5)
    back.answer()
    back.wait_answered()
    wait_until(lambda: [c for c in calls_of(office, "4011")
                        if statuses(c) == {"4012": 5, "4011": 5}], 5, "parker talking again")
    assert incoming.state == "confirmed"
    back.hangup()
    incoming.wait_disconnected()
