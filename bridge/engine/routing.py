"""What the engine asks the database when a call arrives (implemented in services)."""

from __future__ import annotations

from typing import Protocol

from bridge.flows.hunt import HuntPlan
from bridge.flows.hunt_redirects import Redirects
from bridge.flows.pauses import Pauses


class Directory(Redirects, Pauses, Protocol):
    """Numbers → hunt plans (ordered by the hunt memory), redirect targets, and the
    paused members.

    Called from worker threads (blocking database work never runs on the loop).
    """

    def route_dial(self, domain: str, number: str, caller_number: str) -> HuntPlan | None:
        """A number dialled by a phone of the tenant whose SIP domain is `domain`."""

    def route_did(self, number: str, caller_number: str) -> HuntPlan | None:
        """A number (DID) called from a carrier trunk; the plan's `caller_number` is the
        trunk's caller as the engine presents it (E.164, or `anonymous`)."""
