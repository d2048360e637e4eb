"""Call records: the engine's steps land in the database in order, off the call's path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bridge.services.call_records import DatabaseCallRecorder
from bridge.store.models import CallRecord, aware
from bridge.store.session import Database
from bridge.telephony.call_log import CallLog
from tests.api.conftest import TenantAuth


def test_a_calls_path_is_stored_step_by_step(database: Database, acme: TenantAuth) -> None:
    recorder = DatabaseCallRecorder(database)
    log = CallLog(recorder)
    log.step("C1", "arrived", "3019 -> 6002 (ring group 6002)", caller="3019",
             dialled="6002", tenant_id=acme.tenant_id, ring_group_id=None)
    log.step("C1", "ringing", "3012 ringing", target="3012")
    log.step("C1", "rang", "3012 did not answer (NOANSWER)", target="3012")
    log.step("C1", "answered", "3011 answered; bridging", target="3011")
    log.step("C1", "recording", "recording as call-C1", target="call-C1")
    log.step("C1", "ended", "ending (caller hung up)", cause=16)
    recorder.flush()
    recorder.close()
    with database.session() as session:
        record = session.scalars(select(CallRecord)).one()
        assert (record.caller, record.dialled, record.tenant_id) == ("3019", "6002",
                                                                       acme.tenant_id)
        assert record.answered_by == "3011" and record.end_cause == 16
        assert record.recording == "call-C1"
        assert record.answered_at is not None and record.ended_at is not None
        assert record.received_at <= record.answered_at <= record.ended_at
        assert [(s.kind, s.target) for s in record.steps] == [
            ("arrived", ""), ("ringing", "3012"), ("rang", "3012"), ("answered", "3011"),
            ("recording", "call-C1"), ("ended", "")]


def test_an_end_that_happened_while_ringbridge_was_down_is_stored_at_its_time(
        database: Database, acme: TenantAuth) -> None:
    recorder = DatabaseCallRecorder(database)
    log = CallLog(recorder)
    log.step("C2", "arrived", "3019 -> 6002", caller="3019", dialled="6002",
             tenant_id=acme.tenant_id)
    left = datetime.now(UTC) - timedelta(seconds=40)
    log.step("C2", "ended", "the called party hung up while ringbridge was down", cause=17,
             at=left)
    recorder.flush()
    recorder.close()
    with database.session() as session:
        record = session.get(CallRecord, "C2")
        assert record is not None and record.ended_at is not None
        assert (aware(record.ended_at), record.end_cause) == (left, 17)
