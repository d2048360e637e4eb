"""Call records: the engine's call events written to the database by one worker thread.

The engine never waits for the database: events go into a queue, and a single thread
writes them in order (a batch per transaction), each as a step of its call's record.
A step that cannot be written is logged; the call itself is never affected. Each step
is also kept on local disk until it is written (bridge/services/step_journal.py), so
that a process that dies first, or stops while the database is away, loses none: the
next start writes them. Other stores fed by the same events (RingOut statuses, hunt
memory) subscribe to the types they need here, so they share the thread, its
transaction and its ordering.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from bridge.flows.call_log import CallLog
from bridge.flows.events import (
    Answer,
    CallerKnown,
    CallEvent,
    CallParked,
    Ending,
    RecordingStarted,
    RecordOrigin,
    RingOutConnected,
    subscribed,
)
from bridge.services.errors import NotFound
from bridge.services.step_journal import StepJournal
from bridge.store.db import DATABASE_AWAY, why_away
from bridge.store.models import CallRecord, CallStep, aware
from bridge.store.session import Database

log = logging.getLogger(__name__)
E = TypeVar("E", bound=CallEvent)
Applier = Callable[[Connection, Any], None]
_STOP = object()
RETRY_AFTER = 1.0  # seconds between two tries to write while the database is away
# Steps the database refuses for this long are dropped (logged): an error that looked
# like an outage but lasts (a statement timeout, a full disk) must not hold every later
# step back for ever.
RETRY_FOR = 600.0
# Seconds the writer waits, once a step arrives, for those that follow: a call's burst
# of steps (arrived, dialled, ringing) and, under load, other calls' steps then share
# one transaction (50 ms against 5: about 15% less engine CPU per call at 50 calls/s,
# docs/benchmarks.md). Only with a journal: without, a step waiting in memory is lost
# if the process is killed. Never for a step somebody waits for (`_hurry`).
LINGER = 0.05
MAX_BATCH = 500  # steps per transaction: after an outage, the queue is written in parts
RECORDS = cast(Table, CallRecord.__table__)
STEPS = cast(Table, CallStep.__table__)
REMEMBERED_RECORDS = 10_000
# Built once and run with parameters (several rows at a time): a statement built per
# row cost more to build and key for the compiled cache than to run. The columns set
# are those of the parameters; an update's call id is `record`.
_OPEN, _STEP = insert(RECORDS), insert(STEPS)
_CHANGE = update(RECORDS).where(RECORDS.c.call_id == bindparam("record"))
_FIRST_ANSWER = update(RECORDS).where(RECORDS.c.call_id == bindparam("record"),
                                      RECORDS.c.answered_at.is_(None))  # the first stays


def tenant_call_record(session: Session, tenant_id: int, call_id: str) -> CallRecord:
    """A call of the tenant; another tenant's call is not found."""
    record = session.get(CallRecord, call_id)
    if record is None or record.tenant_id != tenant_id:
        raise NotFound(f"no call {call_id}")
    return record


class DatabaseCallRecorder:
    def __init__(self, database: Database, retry_after: float = RETRY_AFTER,
                 retry_for: float = RETRY_FOR, journal: StepJournal | None = None,
                 linger: float = LINGER) -> None:
        """`retry_after`: seconds between two tries while the database is away, for at
        most `retry_for` seconds; `journal`: where steps are kept until written (the
        steps it was left are written first); `linger`: LINGER's, with a journal."""
        self.database = database
        self._journal = journal
        self._linger = linger if journal is not None else 0.0
        self._keeping = threading.Lock()
        # Set once the steps the journal was left are written (at once without any).
        self.replayed = threading.Event()
        self._replayed_missing = 0  # of the steps replayed, those the database lacked
        self._connection = database.kept()  # the writer thread's alone
        self._retry_after = retry_after
        self._retry_for = retry_for
        self._stopping = threading.Event()
        self._appliers: dict[type, list[Applier]] = defaultdict(list)
        # What the engine recorded and the writer has not taken yet. A deque and an
        # event rather than a queue.Queue: a step recorded while the writer is busy
        # costs an append, no lock or notification of its own.
        self._waiting: deque[object] = deque()
        self._arrived = threading.Event()
        # Set when what waits must be written without lingering: a flush, the stop, a
        # step the engine reads back at once (`CallEvent.read_back`: the hunt memory a
        # group's next call is routed by), or the end of a call the outside world is
        # told of (dispatch `cleared`, whose callUrl is the record: complete when the
        # dispatcher reads it).
        self._hurry = threading.Event()
        self._told_of: Callable[[str], bool] = lambda _call_id: False
        # The calls whose records are known to exist (newest last): no look-up for them.
        self._stored: OrderedDict[str, None] = OrderedDict()
        self._thread = threading.Thread(target=self._work, name="call-records", daemon=True)
        self._thread.start()

    def follow(self, call_log: CallLog) -> None:
        """Record every event the engine publishes."""
        self._told_of = call_log.followed
        call_log.subscribe(CallEvent, self.record)

    def subscribe(self, kind: type[E], apply: Callable[[Connection, E], None]) -> None:
        """`apply(connection, event)` for each event of type `kind`, in this writer's
        thread and transaction, after the event's step is stored."""
        self._appliers[kind].append(apply)

    def record(self, event: CallEvent) -> None:
        if self._journal is None:
            self._hand_over(event)
            return
        with self._keeping:  # the writer tells the journal what it did in queue order
            self._journal.keep(event)
            self._hand_over(event)
        if event.read_back or (isinstance(event, Ending) and self._told_of(event.call_id)):
            self._hurry.set()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every step recorded so far is written (stop, tests)."""
        done = threading.Event()
        self._hand_over(done)
        self._hurry.set()
        done.wait(timeout)

    def close(self) -> None:
        self._stopping.set()
        self._hand_over(_STOP)
        self._hurry.set()
        self._thread.join(5)
        if not self._thread.is_alive():
            self._connection.close()
            if self._journal is not None:
                self._journal.close()

    def _hand_over(self, item: object) -> None:
        """Any thread. The writer clears `_arrived` before it takes what waits, so an
        item appended after that take sets it again: none is left unseen."""
        self._waiting.append(item)
        if not self._arrived.is_set():
            self._arrived.set()

    def _take(self) -> list[object]:
        """What waits, oldest first (at most MAX_BATCH), once there is something and the
        writer lingered for what follows it. A hurry set after `clear()` is for an item
        handed over before it: taken now, or by the next batch, which does not linger."""
        while not self._waiting:
            self._arrived.wait()
            self._arrived.clear()
        if self._linger:
            self._hurry.wait(self._linger)
        self._hurry.clear()
        batch: list[object] = []
        while self._waiting and len(batch) < MAX_BATCH:
            batch.append(self._waiting.popleft())
        return batch

    def _work(self) -> None:
        if self._journal is not None and not self._replay(self._journal.left):
            return
        self.replayed.set()
        while True:
            # Under load, what queued during the last transaction is the batch.
            batch = self._take()
            events = [item for item in batch if isinstance(item, CallEvent)]
            if events and not self._written(events):
                return
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if any(item is _STOP for item in batch):
                return

    def _replay(self, steps: list[CallEvent]) -> bool:
        """The steps a process that ended left on disk: those the database lacks."""
        for start in range(0, len(steps), MAX_BATCH):
            if not self._written(steps[start:start + MAX_BATCH], replayed=True):
                return False
        if steps:
            log.log(logging.WARNING if self._replayed_missing else logging.INFO,
                    "%d call record steps left on disk by a process that ended: the "
                    "database lacked %d of them, written now", len(steps),
                    self._replayed_missing)
        steps.clear()
        return True

    def _written(self, events: list[CallEvent], replayed: bool = False) -> bool:
        """Whether the writer is done with `events` (written, or dropped as logged);
        not when ringbridge stopped while the database was away: the journal keeps
        them for the next start."""
        if not self._write_once_there(events, replayed):
            return False
        if self._journal is not None:
            self._journal.done(len(events))
        return True

    def _write_once_there(self, events: list[CallEvent], replayed: bool = False) -> bool:
        """Write the steps; while the database is away (restarting), keep them and try
        again every `retry_after` seconds: a restart loses no step. Later steps wait in
        the queue meanwhile, so each call's steps stay in order. False when ringbridge
        stopped first. `replayed`: steps the database may have already (skipped)."""
        away_since: float | None = None
        while True:
            try:
                if not self._write(events, replayed):
                    return False
            except DATABASE_AWAY as exc:
                self._stored.clear()
                if away_since is None:
                    away_since = time.monotonic()
                    log.warning("the database is unavailable (%s); %d call record steps "
                                "kept, tried again every %g s", why_away(exc),
                                len(events), self._retry_after)
                if time.monotonic() - away_since > self._retry_for:
                    log.error("%d call record steps not written: the database refused "
                              "them for %.0f s (%s)", len(events), self._retry_for,
                              why_away(exc))
                    return True
                if self._stopping.wait(self._retry_after):
                    log.error("%d call record steps not written: the database was still "
                              "unavailable when ringbridge stopped", len(events))
                    return False
                continue
            if away_since is not None:
                log.info("the database is back: %d call record steps written %.1f s late",
                         len(events), time.monotonic() - away_since)
            return True

    def _write(self, events: list[CallEvent], replayed: bool = False) -> bool:
        """Raises DATABASE_AWAY's errors; any other failure is logged and the steps that
        caused it are dropped, never the call. False as _write_once_there."""
        try:
            # A bare connection, kept: an ORM session per transaction cost the writer a
            # third of its time, and most transactions are one or two steps of a call.
            with self._connection.transaction() as connection:
                if replayed:
                    events = _not_stored(connection, events)
                self._store(connection, events)
                for event in events:
                    for apply in subscribed(self._appliers, event):
                        apply(connection, event)
        except DATABASE_AWAY:
            raise
        except Exception:  # a record lost is logged; the call is never affected
            self._stored.clear()  # the transaction's new records are not there after all
            if len(events) == 1:
                log.exception("call record step not written: %s %s",
                              events[0].call_id, events[0].kind)
                return True
            log.exception("%d call record steps not written together; one by one now",
                          len(events))
            # one bad step must not take the others with it
            return all(self._write_once_there([event], replayed) for event in events)
        if replayed:
            self._replayed_missing += len(events)
        return True

    def _store(self, connection: Connection, events: list[CallEvent]) -> None:
        """A batch of events as rows: the records they open, the changes they make to
        their records and one step each, in a few statements rather than a few per event."""
        if not events:
            return
        fresh = self._opened_records(connection, events)
        changes: dict[str, dict[str, Any]] = {}
        answers: dict[str, dict[str, Any]] = {}
        for event in events:
            opened = fresh.get(event.call_id)
            answer = _answer(event)
            change = _record_change(event)
            if answer is not None:  # the first answer stays
                if opened is not None:
                    if "answered_at" not in opened:
                        opened.update(answer)
                else:
                    answers.setdefault(event.call_id, answer)
            elif opened is not None:
                opened.update(change)
            elif change:
                changes.setdefault(event.call_id, {}).update(change)
        for statement, rows in ((_OPEN, list(fresh.values())),
                                (_CHANGE, _keyed(changes)), (_FIRST_ANSWER, _keyed(answers))):
            for same_columns in _by_columns(rows):
                connection.execute(statement, same_columns)
        connection.execute(_STEP, [
            {"call_id": e.call_id, "at": e.at, "kind": e.kind, "target": e.target[:64],
             "detail": e.text[:512]} for e in events])

    def _opened_records(self, connection: Connection,
                        events: list[CallEvent]) -> dict[str, dict[str, Any]]:
        """The rows of the records that these events open (their calls have none yet:
        a new call's, or one the database does not have); the columns no event has set
        are left out, so that they are NULL (a JSON None would not be)."""
        new_calls = {event.call_id for event in events if event.new_call}
        # Each id is looked up: `set - self._stored.keys()` walks every remembered record
        # for each batch (2.2 ms of CPU per call with 10,000: scripts/bench records).
        unknown = {event.call_id for event in events
                   if event.call_id not in self._stored and event.call_id not in new_calls}
        stored = set(connection.scalars(
            select(RECORDS.c.call_id).where(RECORDS.c.call_id.in_(unknown)))) if unknown \
            else set()
        opened: dict[str, dict[str, Any]] = {}
        for event in events:
            call_id = event.call_id
            if call_id in self._stored or call_id in stored or call_id in opened:
                continue
            origin = event.origin() or RecordOrigin(caller="", dialled="")
            opened[call_id] = {
                "call_id": call_id, "received_at": event.at, "caller": origin.caller[:64],
                "dialled": origin.dialled[:64], "tenant_id": origin.tenant_id,
                "ring_group_id": origin.ring_group_id}
        for call_id in (*stored, *opened):
            self._stored[call_id] = None
        while len(self._stored) > REMEMBERED_RECORDS:
            self._stored.popitem(last=False)
        return opened


def _not_stored(connection: Connection, events: list[CallEvent]) -> list[CallEvent]:
    """The events whose steps the database does not have (by call, kind, time and
    target, as stored)."""
    stored = {(row.call_id, row.kind, aware(row.at), row.target) for row in connection.execute(
        select(STEPS.c.call_id, STEPS.c.kind, STEPS.c.at, STEPS.c.target).where(
            STEPS.c.call_id.in_({event.call_id for event in events})))}
    return [event for event in events
            if (event.call_id, event.kind, event.at, event.target[:64]) not in stored]


def _keyed(values_by_call: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Changes as the parameters of _CHANGE or _FIRST_ANSWER (the call id as `record`)."""
    return [{"record": call_id, **values} for call_id, values in values_by_call.items()]


def _by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows in groups with the same columns: one statement runs for each group."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    return list(groups.values())


def _answer(event: CallEvent) -> dict[str, Any] | None:
    """Who answered, if `event` is an answer: a hunted member, or a RingOut's callee as
    the two legs connect (its caller answering only starts the attempt)."""
    if isinstance(event, Answer):
        return {"answered_at": event.at, "answered_by": event.member}
    if isinstance(event, RingOutConnected):
        return {"answered_at": event.at, "answered_by": event.leg[:64]}
    return None


def _record_change(event: CallEvent) -> dict[str, Any]:
    """What `event` sets on its call's record (nothing for most steps; answers are
    `_answer`'s)."""
    if isinstance(event, CallerKnown):
        return {"dispatch_snapshot": event.snapshot}
    if isinstance(event, RecordingStarted):
        return {"recording": event.name[:128]}
    if isinstance(event, Ending) and not isinstance(event, CallParked):
        return {"ended_at": event.at, "end_reason": event.text[:256], "end_cause": event.cause}
    return {}
