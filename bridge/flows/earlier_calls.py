"""Closing the calls of an earlier ringbridge that ended while no ringbridge ran them.

A call's record and its dispatch events are the work of the flow that runs it. When
ringbridge restarts, the calls of the process before are either found in Asterisk
(adopted, taken up again) or gone; either way each one's record is closed once, at the
time Asterisk says it ended when it can say, and the dispatcher gets the call's one end
(`missed` when nobody answered, then `cleared`), as the flow would have sent them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bridge.flows.call_events import CallEvents, Queue, tell_dispatch
from bridge.flows.call_log import CallLog
from bridge.flows.events import CallParked, EndedWhileDown, RingOutEndedWhileDown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlierCall:
    """What the database knows of a call: `events` is None when there is nobody to tell
    of its end (no dispatch for it, or its `cleared` has gone out already); `recorded`:
    a recording of it (the call's or a voicemail) was started, as far as the record
    knows."""

    call_id: str
    received: datetime
    answered: datetime | None
    ended: bool
    events: CallEvents | None = None
    queue: Queue = (None, None)
    agent_id: str | None = None
    ringout_callee: str | None = None  # a RingOut's callee (its status row closes with it)
    recorded: bool = False
    records: bool = False  # its ring group records its answered calls
    told: frozenset[str] = frozenset()  # the dispatch events logged or stored for it

    @property
    def ringout(self) -> bool:
        return self.ringout_callee is not None


class EarlierCalls(Protocol):
    """The database's calls (bridge/services/earlier_calls.py); called in worker threads."""

    def find(self, call_id: str, answered_by: str | None = None) -> EarlierCall | None:
        """The call, if it has a record; `answered_by` (an extension number) names who
        answered it when the record does not know yet."""

    def open_before(self, moment: datetime) -> list[str]:
        """Calls received before `moment` whose record is not closed."""

    def claim_end(self, call_id: str, at: datetime) -> bool:
        """Mark the call's record ended at `at` unless it is already; True for the one
        caller that did (engines closing the same record at once: one tells of it)."""


class NoEarlierCalls:
    """Nothing recorded (unit tests of flows)."""

    def find(self, call_id: str, answered_by: str | None = None) -> EarlierCall | None:
        return None

    def open_before(self, moment: datetime) -> list[str]:
        return []

    def claim_end(self, call_id: str, at: datetime) -> bool:
        return True


class Closer:
    """Closes earlier calls, each once (a record written a moment ago may not show it)."""

    def __init__(self, calls: EarlierCalls, call_log: CallLog) -> None:
        self.calls = calls
        self.call_log = call_log
        self._closed: set[str] = set()
        self._parked: set[str] = set()  # calls whose park it finished

    def closed_by_its_flow(self, call_id: str) -> None:
        """A flow ended this call (its record may not show it yet): not to close again."""
        self._closed.add(call_id)

    async def find(self, call_id: str, answered_by: str | None = None) -> EarlierCall | None:
        try:
            return await asyncio.to_thread(self.calls.find, call_id, answered_by)
        except Exception:  # the database may be away: the call goes on without its record
            log.exception("call %s: its record could not be read", call_id)
            return None

    async def close(self, call_id: str, why: str, *, at: datetime | None = None,
                    cause: int | None = None) -> bool:
        """Record the end (`at`: when it happened, if known) and tell the dispatcher;
        False when there was nothing to close."""
        if not call_id or call_id in self._closed:
            return False
        self._closed.add(call_id)
        call = await self.find(call_id)
        if call is None or call.ended:
            return False
        at = at or datetime.now(UTC)
        try:
            if not await asyncio.to_thread(self.calls.claim_end, call_id, at):
                return False  # another engine closed it at this very moment
        except Exception:
            log.exception("call %s: its record could not be closed", call_id)
            return False
        self.ended(call, why, at=at, cause=cause)
        return True

    def ended(self, call: EarlierCall, why: str, *, at: datetime | None = None,
              cause: int | None = None, agent_id: str | None = None) -> None:
        """The call's end, recorded and sent (its `missed` too when nobody answered)."""
        self._closed.add(call.call_id)
        if call.events is not None:
            tell_dispatch(self.call_log, call.call_id, call.events)
        kind = RingOutEndedWhileDown if call.ringout else EndedWhileDown
        self.call_log.publish(kind(
            call_id=call.call_id, at=at or datetime.now(UTC), why=why, cause=cause,
            received=call.received, answered_at=call.answered, queue=call.queue,
            agent_id=agent_id or call.agent_id, recorded=call.recorded))

    async def parked(self, call_id: str, why: str, cause: int,
                     answered_by: str | None = None, answered: datetime | None = None
                     ) -> None:
        """The call was being parked when its ringbridge died: its parties' call ends
        (the dispatcher gets `cleared`, as after a park) and its record stays open while
        it waits in the lot. `answered`: when, if the record does not say (a kill -9
        may come before the answer is written)."""
        if call_id in self._parked:
            return
        self._parked.add(call_id)
        call = await self.find(call_id, answered_by)
        if call is None or call.ended:
            return
        if call.events is not None:
            tell_dispatch(self.call_log, call_id, call.events, call.told)
        self.call_log.publish(CallParked(
            call_id=call_id, why=why, cause=cause, received=call.received,
            answered_at=call.answered or answered, queue=call.queue,
            agent_id=call.agent_id, recorded=call.recorded))

    async def close_open(self, before: datetime, running: set[str]) -> int:
        """Close every record left open by calls received before `before` (the earlier
        process's) that are not `running` now; returns how many were closed."""
        try:
            open_calls = await asyncio.to_thread(self.calls.open_before, before)
        except Exception:
            log.exception("the records of calls before the restart could not be read")
            return 0
        closed = 0
        for call_id in (c for c in open_calls if c not in running):
            closed += await self.close(
                call_id, "ended while ringbridge was down: none of its channels was left "
                "in Asterisk when ringbridge came back (the time recorded is when it came "
                "back)")
        return closed
