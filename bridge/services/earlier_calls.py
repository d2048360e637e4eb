"""The engine's view of the calls an earlier ringbridge ran (bridge.flows.earlier_calls)."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bridge.flows.call_events import Queue
from bridge.flows.earlier_calls import EarlierCall
from bridge.services.dispatch import dispatch_events_of
from bridge.services.routing import DatabaseDirectory
from bridge.store.ids import decimal_id
from bridge.store.models import (
    CallRecord,
    DispatchDelivery,
    Extension,
    RingGroup,
    RingOut,
    Tenant,
    aware,
)
from bridge.store.session import Database

log = logging.getLogger(__name__)
# Seconds a read waits for the steps the earlier process left on disk to be written
# (bridge/services/step_journal.py); longer only while the database refuses them.
REPLAY_WAIT = 30.0


class DatabaseEarlierCalls:
    def __init__(self, database: Database, directory: DatabaseDirectory,
                 replayed: threading.Event | None = None) -> None:
        """`replayed` is set once the call-record writer wrote the steps the earlier
        process left unwritten: until then its records may lack them (a call's very
        record), and are not read."""
        self.database = database
        self.directory = directory
        self._replayed = replayed

    def _after_replay(self) -> None:
        if self._replayed is not None and not self._replayed.wait(REPLAY_WAIT):
            log.warning("the earlier process's call record steps are still not written "
                        "after %.0f s: its records are read without them", REPLAY_WAIT)
            self._replayed = None

    def find(self, call_id: str, answered_by: str | None = None) -> EarlierCall | None:
        self._after_replay()
        with self.database.session() as session:
            record = session.get(CallRecord, call_id)
            if record is None:
                return None
            answered = aware(record.answered_at) if record.answered_at else None
            call = EarlierCall(call_id, aware(record.received_at), answered,
                               ended=record.ended_at is not None,
                               ringout_callee=_ringout_callee(session, call_id),
                               recorded=record.recording is not None,
                               records=_group_records(session, record))
            sent = _events_sent(session, call_id)
            tenant = session.get(Tenant, record.tenant_id) if record.tenant_id else None
            if not sent or "cleared" in sent or tenant is None:
                return call  # the dispatcher never saw the call, or saw its end
            events = self.directory.notifier(session, tenant, record.caller)
            told = frozenset(event for event, sent_as in sent.items() if sent_as.reaches)
            return replace(call, events=events, told=told,
                           queue=_queue(session, record, sent),
                           agent_id=_agent(session, tenant.id,
                                           answered_by or record.answered_by))

    def claim_end(self, call_id: str, at: datetime) -> bool:
        self._after_replay()
        with self.database.session() as session:
            changed = session.execute(update(CallRecord).where(
                CallRecord.call_id == call_id, CallRecord.ended_at.is_(None)).values(
                ended_at=at).execution_options(synchronize_session=False))
            return bool(changed.rowcount == 1)  # type: ignore[attr-defined]

    def open_before(self, moment: datetime) -> list[str]:
        self._after_replay()
        with self.database.session() as session:
            return list(session.scalars(select(CallRecord.call_id).where(
                CallRecord.ended_at.is_(None), CallRecord.received_at < moment)))


def _group_records(session: Session, record: CallRecord) -> bool:
    group = session.get(RingGroup, record.ring_group_id) if record.ring_group_id else None
    return group is not None and group.record_calls


def _ringout_callee(session: Session, call_id: str) -> str | None:
    """The number a RingOut rings second, None when the call is no RingOut (a RingOut's
    call id is its row's: bridge/store/models.py)."""
    key = decimal_id(call_id)
    ringout = session.get(RingOut, key) if key is not None else None
    return ringout.to_number if ringout is not None else None


class Delivered(NamedTuple):
    """A dispatch event of a call: its latest body, and whether it reaches the
    dispatcher (delivered, or stored to be: not given up)."""

    body: str | None
    reaches: bool


def _events_sent(session: Session, call_id: str) -> dict[str, Delivered]:
    """The call's dispatch events logged or stored so far."""
    rows = session.execute(select(
        DispatchDelivery.event, DispatchDelivery.body, DispatchDelivery.state).where(
        dispatch_events_of(call_id)).order_by(DispatchDelivery.id))
    return {event: Delivered(body, state != "failed") for event, body, state in rows}


def _queue(session: Session, record: CallRecord, sent: dict[str, Delivered]) -> Queue:
    """The queue the call's last event named (a dispatcher's redirect may have changed
    it), else its ring group's."""
    for event in ("connected", "ringing"):
        text = sent[event].body if event in sent else None
        body: dict[str, Any] = orjson.loads(text) if text else {}
        if body:
            return body.get("queueId"), body.get("queueType")
    group = session.get(RingGroup, record.ring_group_id) if record.ring_group_id else None
    return (group.queue_id, group.queue_type) if group is not None else (None, None)


def _agent(session: Session, tenant_id: int, number: str | None) -> str | None:
    if not number:
        return None
    return session.scalar(select(Extension.agent_id).where(
        Extension.tenant_id == tenant_id, Extension.extension_number == number))
