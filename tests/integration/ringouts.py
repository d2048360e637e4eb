"""Helpers for RingOut tests: an office whose extension starts RingOuts, connected calls."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.ring_groups import Office
from tests.support.softphone import Call, Phone


class RingOutOffice(Office):
    """An office whose extension `owner` starts RingOuts through the API."""

    owner_id = ""

    def start(self, to: str, source: str, **fields: Any) -> str:
        body = {"from": {"phoneNumber": source}, "to": {"phoneNumber": to}, **fields}
        return str(self.api("POST", self.path(), json=body)["id"])

    def path(self, ringout_id: str = "") -> str:
        base = f"/restapi/v1.0/account/~/extension/{self.owner_id}/ring-out"
        return f"{base}/{ringout_id}" if ringout_id else base

    def status(self, ringout_id: str) -> dict[str, str]:
        return dict(self.api("GET", self.path(ringout_id))["status"])

    def wait_status(self, ringout_id: str, call: str, caller: str, callee: str,
                    timeout: float = 5) -> None:
        """Statuses are written off the call's path: poll the API, bounded."""
        wanted = {"callStatus": call, "callerStatus": caller, "calleeStatus": callee}
        deadline = time.monotonic() + timeout
        while (seen := self.status(ringout_id)) != wanted:
            if time.monotonic() > deadline:
                raise AssertionError(f"RingOut {ringout_id}: {seen}, wanted {wanted}")
            time.sleep(0.1)


def connect(office: RingOutOffice, caller: Phone, carrier: Phone, to: str) -> tuple[
        str, Call, Call]:
    ringout_id = office.start(to, caller.username)
    first = caller.wait_incoming()
    first.answer()
    second = carrier.wait_incoming_for(to)
    second.answer()
    office.wait_status(ringout_id, "Success", "Success", "Success")
    return ringout_id, first, second
