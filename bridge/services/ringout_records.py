"""RingOut statuses from the engine's RingOut events, written by the call-record writer.

Every change of a RingOut is a `RingOutStatusChanged` carrying the neutral states of the
call and its legs, stored in RingCentral's words. Its end (the flow's own, or that of a
RingOut adopted after a restart of ringbridge) closes the row: a connected call's
answered legs are Finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
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


def apply_ringout_change(connection: Connection, event: RingOutStatusChanged) -> None:
    with _ringout(connection, event) as ringout:
        if ringout is not None:
            write_statuses(ringout, statuses(event.call, event.caller, event.callee))


def apply_ringout_end(connection: Connection,
                      event: RingOutEnded | RingOutEndedWhileDown) -> None:
    with _ringout(connection, event) as ringout:
        if ringout is None:
            return
        write_statuses(ringout, closed(Statuses(ringout.call_status, ringout.caller_status,
                                        ringout.callee_status)))
        ringout.ended_at = ringout.ended_at or event.at


@contextmanager
def _ringout(connection: Connection, event: CallEvent) -> Iterator[RingOut | None]:
    """The RingOut's row (its id is the call's), None when it was deleted meanwhile; what
    the block changes is written in the connection's transaction (the writer's)."""
    key = decimal_id(event.call_id)
    with Session(connection) as session:
        yield session.get(RingOut, key) if key is not None else None
        session.flush()


def write_statuses(ringout: RingOut, statuses: Statuses) -> None:
    ringout.call_status = statuses.call
    ringout.caller_status, ringout.callee_status = statuses.caller, statuses.callee
