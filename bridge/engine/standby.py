"""What an engine standing by (bridge/engine/lease.py) answers the API: it runs no call.

Reads and RingOuts pass it over (EngineNotReached, as for an engine that is not running);
an action on a live call is refused as not its call, so the engine that has the call
answers, and a call nobody has is 404, not "retry"; a pushed or removed extension needs
nothing (an engine taking over pushes every extension when it connects).
"""

from __future__ import annotations

import threading

from bridge.gateway import (
    CallRefused,
    CancelOutcome,
    EngineNotReached,
    EngineOverview,
    EngineStatus,
    LiveCall,
    PanelView,
    ParkedCall,
    RingOutPlan,
    SipEndpoint,
    Target,
)


class StandbyGateway:
    def __init__(self, what: str) -> None:
        self.what = what  # the lease: Asterisk node and app
        self.taken_over = threading.Event()  # set when the engine replaces this

    def _elsewhere(self) -> EngineNotReached:
        return EngineNotReached(f"standing by for {self.what}: another node runs it")

    def _not_here(self, call_id: str) -> CallRefused:
        return CallRefused(CallRefused.NO_CALL, f"call {call_id} is not on {self.what} "
                           "here (standing by)")

    def status(self) -> EngineStatus:
        return EngineStatus(ari=False, ami=False)

    def overview(self) -> EngineOverview:
        raise self._elsewhere()

    def changes(self, seen: int, wait: float) -> int:
        """Nothing changes while standing by; a take-over ends the wait, as a change."""
        return seen + 1 if self.taken_over.wait(wait) else seen

    def panel(self, domain: str) -> PanelView:
        raise self._elsewhere()

    def push(self, endpoint: SipEndpoint) -> None:
        return None

    def remove(self, endpoint_id: str) -> None:
        return None

    def delete_recordings(self, names: list[str]) -> list[str]:
        raise self._elsewhere()

    def start_ringout(self, plan: RingOutPlan) -> None:
        raise self._elsewhere()

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        raise self._elsewhere()

    def live_calls(self, domain: str) -> list[LiveCall]:
        raise self._elsewhere()

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        raise self._not_here(call_id)

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        raise self._not_here(call_id)

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        raise self._not_here(call_id)

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        raise self._not_here(call_id)
