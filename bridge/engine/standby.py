"""What an engine standing by (bridge/engine/lease.py) answers the API: it runs no call,
but knows which node's engine runs its app, and passes on to it what is asked of that
app's calls: live calls, the panel and its changes, actions on a call, RingOut cancels.
So any node's API shows and acts on every call of the cluster.

With no engine to pass on to (none runs the app, or it is asked by another node, which
passes nothing on twice): reads and RingOuts pass it over (EngineNotReached, as for an
engine that is not running); an action on a live call is refused as not its call, so a
call nobody has is 404, not "retry". Its own node's state (status, overview, recordings)
and RingOuts started are never passed on, and a pushed or removed extension needs
nothing (the engine running the app follows the directory; one taking over pushes every
extension when it connects).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from bridge.gateway import (
    CallRefused,
    CancelOutcome,
    EngineGateway,
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

FORWARDED_WAIT = 2.0  # seconds: a wait passed on to another node is this long at most


class StandbyGateway:
    def __init__(self, what: str,
                 running: Callable[[], EngineGateway | None] = lambda: None) -> None:
        self.what = what  # the lease: Asterisk node and app
        self.running = running  # the engine of another node that runs the app, if any
        self.taken_over = threading.Event()  # set when this node's engine replaces this

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
        """The running engine's count; with none, nothing changes while standing by and
        a take-over ends the wait, as a change."""
        if (running := self.running()) is not None:  # in slices: it may die meanwhile
            return running.changes(seen, min(wait, FORWARDED_WAIT))
        return seen + 1 if self.taken_over.wait(wait) else seen

    def panel(self, domain: str) -> PanelView:
        return self._running_or(self._elsewhere()).panel(domain)

    def push(self, endpoint: SipEndpoint) -> None:
        return None

    def remove(self, endpoint_id: str) -> None:
        return None

    def delete_recordings(self, names: list[str]) -> list[str]:
        raise self._elsewhere()

    def start_ringout(self, plan: RingOutPlan) -> None:
        raise self._elsewhere()

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        return self._running_or(self._elsewhere()).cancel_ringout(call_id)

    def live_calls(self, domain: str) -> list[LiveCall]:
        return self._running_or(self._elsewhere()).live_calls(domain)

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        return self._running_or(self._not_here(call_id)).park(domain, call_id, view, parker,
                                                                timeout)

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        return self._running_or(self._not_here(call_id)).unpark(domain, call_id, target, wait)

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        return self._running_or(self._not_here(call_id)).pick_up(domain, call_id, target, wait)

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        return self._running_or(self._not_here(call_id)).hang_up(domain, call_id, view)

    def _running_or(self, refusal: Exception) -> EngineGateway:
        """The engine that runs the app, to pass the call on to; `refusal` with none."""
        if (running := self.running()) is None:
            raise refusal
        return running
