"""RingOut statuses from the engine's RingOut events, written by the call-record writer.

Every change of a RingOut is a `RingOutStatusChanged` carrying the neutral states of the
call and its legs, stored in RingCentral's words. Its end (the flow's own, or that of a
RingOut adopted after a restart of ringbridge) closes the row: a connected call's
answered legs are Finished.
"""

from __future__ import annotations

from sqlalchemy import Connection, update
from sqlalchemy.orm import Session

from bridge.flows.events import (
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


def apply_ringout_change(connection: Connection, event: RingOutStatusChanged) -> None:
    """An ended row is final: a change the writer still held when the API cancelled the
    RingOut is older than that end and must not undo it. One conditional statement, so
    a cancel committing meanwhile is seen (PostgreSQL checks the row again once the
    cancel's lock is released; SQLite has one writer at a time)."""
    key = decimal_id(event.call_id)
    now = statuses(event.call, event.caller, event.callee)
    connection.execute(
        update(RingOut).where(RingOut.id == key, RingOut.ended_at.is_(None))
        .values(call_status=now.call, caller_status=now.caller, callee_status=now.callee))


def apply_ringout_end(connection: Connection,
                      event: RingOutEnded | RingOutEndedWhileDown) -> None:
    """Close the row unless it has ended already (cancelled through the API, whose
    statuses stand). The end is claimed first, which locks the row, so the statuses
    closed are the latest."""
    key = decimal_id(event.call_id)
    claimed = connection.execute(
        update(RingOut).where(RingOut.id == key, RingOut.ended_at.is_(None))
        .values(ended_at=event.at))
    if claimed.rowcount != 1:
        return
    with Session(connection) as session:
        ringout = session.get_one(RingOut, key)
        write_statuses(ringout, closed(Statuses(ringout.call_status, ringout.caller_status,
                                        ringout.callee_status)))
        session.flush()


def write_statuses(ringout: RingOut, statuses: Statuses) -> None:
    ringout.call_status = statuses.call
    ringout.caller_status, ringout.callee_status = statuses.caller, statuses.callee
