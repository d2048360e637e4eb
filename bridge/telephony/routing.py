"""What the engine asks the database when a call arrives (implemented in services)."""

from __future__ import annotations

from typing import Protocol

from bridge.telephony.hunt import HuntMemory, HuntPlan


class Directory(HuntMemory, Protocol):
    """Numbers → hunt plans, and the hunt memory the plans are ordered by.

    Called from worker threads (blocking database work never runs on the loop).
    """

    def route_dial(self, domain: str, number: str, caller_number: str) -> HuntPlan | None:
        """A number dialled by a phone of the tenant whose SIP domain is `domain`."""

    def route_did(self, number: str, caller_number: str) -> HuntPlan | None:
        """A number (DID) called from the carrier trunk."""
