"""RingOut statuses from the engine's RingOut events, written by the call-record writer.

Every change of a RingOut is a `RingOutStatusChanged` carrying the neutral states of the
call and its legs, stored in RingCentral's words. Its end (the flow's own, or that of a
RingOut adopted after a restart of ringbridge) closes the row: a connected call's
answered legs are Finished.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridge.flows.events import (
    CallEvent,
    RingOutEnded,
    RingOutEndedWhileDown,
    RingOutStatusChanged,
)
from bridge.services.call_records import DatabaseCallRecorder
from bridge.store.ids import decimal_id
from bridge.store.models import RingOut
from bridge.surfaces.ringcentral.statuses import Statuses, closed, statuses


def subscribe_ringout_statuses(recorder: DatabaseCallRecorder) -> None:
    recorder.subscribe(RingOutStatusChanged, apply_ringout_change)
    recorder.subscribe(RingOutEnded, apply_ringout_end)
    recorder.subscribe(RingOutEndedWhileDown, apply_ringout_end)


def apply_ringout_change(session: Session, event: RingOutStatusChanged) -> None:
    ringout = _ringout(session, event)
    if ringout is not None:
        write_statuses(ringout, statuses(event.call, event.caller, event.callee))


def apply_ringout_end(session: Session, event: RingOutEnded | RingOutEndedWhileDown) -> None:
    ringout = _ringout(session, event)
    if ringout is None:
        return
    write_statuses(ringout, closed(Statuses(ringout.call_status, ringout.caller_status,
                                    ringout.callee_status)))
    ringout.ended_at = ringout.ended_at or event.at


def _ringout(session: Session, event: CallEvent) -> RingOut | None:
    """The RingOut's row (its id is the call's), None when it was deleted meanwhile."""
    key = decimal_id(event.call_id)
    return session.get(RingOut, key) if key is not None else None


def write_statuses(ringout: RingOut, statuses: Statuses) -> None:
    ringout.call_status = statuses.call
    ringout.caller_status, ringout.callee_status = statuses.caller, statuses.callee
