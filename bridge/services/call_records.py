"""Call records: the engine's call events written to the database by one worker thread.

The engine never waits for the database: events go into a queue, and a single thread
writes them in order (a batch per transaction), each as a step of its call's record.
A step that cannot be written is logged; the call itself is never affected. Other
stores fed by the same events (RingOut statuses, hunt memory) subscribe to the types
they need here, so they share the thread, its transaction and its ordering.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from bridge.flows.call_log import CallLog
from bridge.flows.events import (
    Answer,
    CallerKnown,
    CallEvent,
    Ending,
    RecordingStarted,
    RecordOrigin,
    subscribed,
)
from bridge.services.errors import NotFound
from bridge.store.models import CallRecord, CallStep
from bridge.store.session import Database

log = logging.getLogger(__name__)
E = TypeVar("E", bound=CallEvent)
Applier = Callable[[Session, Any], None]
_STOP = object()


def tenant_call_record(session: Session, tenant_id: int, call_id: str) -> CallRecord:
    """A call of the tenant; another tenant's call is not found."""
    record = session.get(CallRecord, call_id)
    if record is None or record.tenant_id != tenant_id:
        raise NotFound(f"no call {call_id}")
    return record


class DatabaseCallRecorder:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._appliers: dict[type, list[Applier]] = defaultdict(list)
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="call-records", daemon=True)
        self._thread.start()

    def follow(self, call_log: CallLog) -> None:
        """Record every event the engine publishes."""
        call_log.subscribe(CallEvent, self.record)

    def subscribe(self, kind: type[E], apply: Callable[[Session, E], None]) -> None:
        """`apply(session, event)` for each event of type `kind`, in this writer's thread
        and transaction, after the event's step is stored."""
        self._appliers[kind].append(apply)

    def record(self, event: CallEvent) -> None:
        self._queue.put(event)

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
            events = [item for item in batch if isinstance(item, CallEvent)]
            if events:
                self._write(events)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is _STOP for item in batch):
                return

    def _write(self, events: list[CallEvent]) -> None:
        try:
            with self.database.session() as session:
                for event in events:
                    _store(session, event)
                    for apply in subscribed(self._appliers, event):
                        apply(session, event)
        except Exception:  # a record lost is logged; the call is never affected
            log.exception("%d call record step(s) not written", len(events))


def _store(session: Session, event: CallEvent) -> None:
    record = session.get(CallRecord, event.call_id)
    if record is None:
        origin = event.origin() or RecordOrigin(caller="", dialled="")
        record = CallRecord(call_id=event.call_id, received_at=event.at,
                            caller=origin.caller[:64], dialled=origin.dialled[:64],
                            tenant_id=origin.tenant_id, ring_group_id=origin.ring_group_id)
        session.add(record)
    if isinstance(event, CallerKnown):
        record.dispatch_snapshot = event.snapshot
    elif isinstance(event, RecordingStarted):
        record.recording = event.name[:128]
    elif isinstance(event, Answer) and record.answered_at is None:
        record.answered_at, record.answered_by = event.at, event.member
    elif isinstance(event, Ending):
        record.ended_at, record.end_reason = event.at, event.text[:256]
        record.end_cause = event.cause
    session.add(CallStep(call_id=event.call_id, at=event.at, kind=event.kind,
                         target=event.target[:64], detail=event.text[:512]))
    session.flush()
