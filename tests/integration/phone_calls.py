"""Helpers for phone call tests: calls as /uapi/phoneCalls lists them, talking, parking."""

from __future__ import annotations

from typing import Any

from tests.integration.ring_groups import Office
from tests.support.polling import wait_until
from tests.support.softphone import Call, Phone

PARK_SECONDS = 10  # the shortest maxInParking the API takes


def calls_of(office: Office, extension: str) -> list[dict[str, Any]]:
    return list(office.api("GET", f"/uapi/phoneCalls/@me/{extension}")["entry"])


def statuses(call: dict[str, Any]) -> dict[str | None, int]:
    return {view.get("extension"): view["status"] for view in call["phoneCallView"]}


def talking(office: Office, caller: Phone, callee: Phone) -> tuple[Call, Call, dict[str, Any]]:
    """caller → callee, answered; returns both legs and the call as the API shows it."""
    out = caller.call(callee.username)
    incoming = callee.wait_incoming()
    incoming.answer()
    out.wait_answered()
    both = {caller.username: 5, callee.username: 5}
    call = wait_until(lambda: next((c for c in calls_of(office, caller.username)
                                    if statuses(c) == both), None), 5, "both parties on call")
    return out, incoming, call


def park(office: Office, extension: str, call: dict[str, Any], view: str,
         seconds: int | str = PARK_SECONDS) -> Any:
    return office.bridge.api("PUT", f"/uapi/phoneCalls/@me/{extension}/{call['id']}",
                             office.token, json={"action": "Park", "phoneCallViewId": view,
                                                 "maxInParking": seconds})


def take(office: Office, extension: str, call: dict[str, Any], action: str, to: str,
         **fields: Any) -> Any:
    """UnPark or PickUp of the call's parked party ("01") to `to`."""
    return office.bridge.api("PUT", f"/uapi/phoneCalls/@me/{extension}/{call['id']}",
                             office.token, json={"action": action, "sendCallTo": to,
                                                 "phoneCallViewId": "01", **fields})


def view_of(call: dict[str, Any], extension: str) -> dict[str, Any]:
    return next(v for v in call["phoneCallView"] if v.get("extension") == extension)
