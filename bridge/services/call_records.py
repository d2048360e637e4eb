"""Call records: the engine's steps written to the database by one worker thread.

The engine never waits for the database: steps go into a queue, and a single thread
writes them in order (a batch per transaction). A step that cannot be written is
logged; the call itself is never affected. Other stores fed by the same steps (RingOut
statuses) plug in as extra appliers, so they share the thread and its ordering.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bridge.services.errors import NotFound
from bridge.store.models import CallRecord, CallStep
from bridge.store.session import Database

log = logging.getLogger(__name__)
_STOP = object()


def tenant_call_record(session: Session, tenant_id: int, call_id: str) -> CallRecord:
    """A call of the tenant; another tenant's call is not found."""
    record = session.get(CallRecord, call_id)
    if record is None or record.tenant_id != tenant_id:
        raise NotFound(f"no call {call_id}")
    return record


@dataclass(frozen=True)
class Step:
    call_id: str
    at: datetime
    kind: str
    target: str
    detail: str
    fields: dict[str, Any]


Applier = Callable[[Session, Step], None]


class DatabaseCallRecorder:
    def __init__(self, database: Database, extra: Sequence[Applier] = ()) -> None:
        """`extra`: more writers of each step, run in the same transaction after ours."""
        self.database = database
        self.appliers: tuple[Applier, ...] = (_apply, *extra)
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="call-records", daemon=True)
        self._thread.start()

    def record(self, call_id: str, kind: str, target: str, detail: str,
               fields: dict[str, Any]) -> None:
        """`fields["at"]`, when given, is when the step happened (a call that ended while
        ringbridge was down); else it is now."""
        at = fields.pop("at", None) or datetime.now(UTC)
        self._queue.put(Step(call_id, at, kind, target, detail, fields))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every step recorded so far is written (stop, tests)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(5)

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            steps = [item for item in batch if isinstance(item, Step)]
            if steps:
                self._write(steps)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is _STOP for item in batch):
                return

    def _write(self, steps: list[Step]) -> None:
        try:
            with self.database.session() as session:
                for step in steps:
                    for apply in self.appliers:
                        apply(session, step)
        except Exception:  # a record lost is logged; the call is never affected
            log.exception("%d call record step(s) not written", len(steps))


def _apply(session: Session, step: Step) -> None:
    record = session.get(CallRecord, step.call_id)
    if record is None:
        record = CallRecord(call_id=step.call_id, received_at=step.at,
                            caller=str(step.fields.get("caller", ""))[:64],
                            dialled=str(step.fields.get("dialled", ""))[:64],
                            tenant_id=step.fields.get("tenant_id"),
                            ring_group_id=step.fields.get("ring_group_id"))
        session.add(record)
    if step.kind == "invited":
        record.dispatch_snapshot = step.fields.get("snapshot")
    elif step.kind == "recording":
        record.recording = step.target[:128]
    elif step.kind == "answered" and record.answered_at is None:
        record.answered_at, record.answered_by = step.at, step.target
    elif step.kind == "ended":
        record.ended_at, record.end_reason = step.at, step.detail[:256]
        record.end_cause = step.fields.get("cause")
    session.add(CallStep(call_id=step.call_id, at=step.at, kind=step.kind,
                         target=step.target[:64], detail=step.detail[:512]))
    session.flush()
