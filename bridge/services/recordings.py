"""Call recordings and voicemails: which call holds which, fetching one, retention.

A call record links its recording by name (`call_records.recording`); the file is an
ARI stored recording on the Asterisk of the node that took the call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.services.call_records import tenant_call_record
from bridge.services.errors import Conflict, NotFound, ServiceUnavailable
from bridge.store.models import CallRecord, CallStep, Tenant
from bridge.store.session import Database
from bridge.stored_recordings import (
    RecordingFile,
    RecordingInProgress,
    RecordingUnavailable,
    StoredRecordings,
)

SWEEP_LIMIT = 500  # recordings deleted per tenant per sweep; the rest next time


def recording_path(call_id: str) -> str:
    """Where the API serves a call's recording (the dispatch `recordingUrl`)."""
    return f"/api/call_records/{call_id}/recording"


def recording_name(session: Session, tenant_id: int, call_id: str) -> str:
    """The name of the recording of a call of the tenant; NotFound for another tenant's
    call or a call without one."""
    name = tenant_call_record(session, tenant_id, call_id).recording
    if name is None:
        raise NotFound(f"call {call_id} has no recording")
    return name


def open_recording(files: StoredRecordings, call_id: str, name: str) -> RecordingFile:
    """Call `call_id`'s recording `name` (`recording_name`), from Asterisk: NotFound
    once deleted, Conflict while its call goes on. It may wait for Asterisk to finish
    the file: call it with no database session open."""
    try:
        found = files.open(name)
    except RecordingUnavailable as exc:
        raise ServiceUnavailable(f"the recording cannot be fetched now: {exc}") from exc
    except RecordingInProgress as exc:
        raise Conflict(f"the recording of call {call_id} is still being made: its call "
                       "goes on", headers={"Retry-After": "5"}) from exc
    if found is None:
        raise NotFound(f"the recording of call {call_id} is not stored any more")
    return found


class DatabaseRecordingIndex:
    """The retention job's view of the database (bridge.engine.retention)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def expired(self) -> list[tuple[str, str]]:
        now = datetime.now(UTC)
        found: list[tuple[str, str]] = []
        with self.database.session() as session:
            for tenant_id, days in session.execute(
                    select(Tenant.id, Tenant.recording_retention_days)):
                rows = session.execute(select(CallRecord.call_id, CallRecord.recording).where(
                    CallRecord.tenant_id == tenant_id, CallRecord.recording.is_not(None),
                    CallRecord.received_at < now - timedelta(days=days),
                ).order_by(CallRecord.received_at).limit(SWEEP_LIMIT))
                found += [(call_id, name) for call_id, name in rows if name]
        return found

    def forget(self, call_id: str, name: str) -> None:
        with self.database.session() as session:
            record = session.get(CallRecord, call_id)
            if record is None or record.recording != name:
                return
            record.recording = None
            session.add(CallStep(call_id=call_id, at=datetime.now(UTC),
                                 kind="recording-gone", target=name[:64],
                                 detail=f"recording {name} deleted: retention over"))
