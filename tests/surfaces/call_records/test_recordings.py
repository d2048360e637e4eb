"""A call's recording through the API (Asterisk's stored recordings faked: the live test
fetches real ones), and the retention's view of the database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bridge.services.recordings import DatabaseRecordingIndex
from bridge.services.tenants import change_tenant
from bridge.store.models import CallRecord, CallStep, Tenant
from bridge.store.session import Database
from bridge.stored_recordings import RecordingFile, RecordingInProgress, RecordingUnavailable
from tests.api.conftest import TenantAuth
from tests.support.json_answers import json_of

WAV = b"RIFF" + b"\x00" * 40 + b"\x01\x02" * 4000


@dataclass
class FakeStoredRecordings:
    """Asterisk's stored recordings: `files` by name; `down` when it cannot be reached;
    `live`: recordings it is still writing."""

    files: dict[str, bytes] = field(default_factory=dict)
    down: bool = False
    live: set[str] = field(default_factory=set)
    opened: list[str] = field(default_factory=list)

    def open(self, name: str) -> RecordingFile | None:
        if self.down:
            raise RecordingUnavailable("Asterisk not reached: connection refused")
        if name in self.live:
            raise RecordingInProgress(f"{name} is still being recorded")
        self.opened.append(name)
        data = self.files.get(name)
        return None if data is None else RecordingFile(_chunks(data), len(data))


def _chunks(data: bytes) -> Iterator[bytes]:
    yield data[:1000]
    yield data[1000:]


@pytest.fixture
def stored(client: FlaskClient) -> FakeStoredRecordings:
    fake = FakeStoredRecordings()
    client.application.config["RECORDINGS"] = fake
    return fake


def add_call(database: Database, tenant_id: int, call_id: str, recording: str | None,
             received: datetime | None = None) -> None:
    with database.session() as session:
        session.add(CallRecord(call_id=call_id, tenant_id=tenant_id, caller="3019",
                               dialled="6002", received_at=received or datetime.now(UTC),
                               recording=recording))


def test_a_calls_recording_is_streamed_as_wav(client: FlaskClient, database: Database,
                                              acme: TenantAuth,
                                              stored: FakeStoredRecordings) -> None:
    add_call(database, acme.tenant_id, "C1", "call-C1")
    stored.files["call-C1"] = WAV
    response = client.get("/api/call_records/C1/recording", headers=acme.headers)
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.content_length == len(WAV) and response.data == WAV
    shown = json_of(client.get("/api/call_records/C1", headers=acme.headers))
    assert shown["recording_url"] == "http://127.0.0.1:8887/api/call_records/C1/recording"


def test_another_tenants_recording_is_not_found(client: FlaskClient, database: Database,
                                                acme: TenantAuth, globex: TenantAuth,
                                                stored: FakeStoredRecordings) -> None:
    add_call(database, acme.tenant_id, "C1", "call-C1")
    stored.files["call-C1"] = WAV
    response = client.get("/api/call_records/C1/recording", headers=globex.headers)
    assert response.status_code == 404
    assert json_of(response)["errors"][0]["code"] == "NOT_FOUND"
    assert stored.opened == []


@pytest.mark.parametrize(("recording", "message"), [
    (None, "call C1 has no recording"),
    ("call-C1", "the recording of call C1 is not stored any more"),
])
def test_no_recording_is_not_found(client: FlaskClient, database: Database, acme: TenantAuth,
                                   stored: FakeStoredRecordings, recording: str | None,
                                   message: str) -> None:
    add_call(database, acme.tenant_id, "C1", recording)
    response = client.get("/api/call_records/C1/recording", headers=acme.headers)
    assert response.status_code == 404
    assert json_of(response)["errors"][0]["message"] == message
    assert json_of(client.get("/api/call_records/C1", headers=acme.headers))["recording_url"] == (
        None if recording is None else "http://127.0.0.1:8887/api/call_records/C1/recording")


def test_asterisk_away_is_503_in_the_surfaces_format(client: FlaskClient,
                                                     database: Database, acme: TenantAuth,
                                                     stored: FakeStoredRecordings) -> None:
    add_call(database, acme.tenant_id, "C1", "call-C1")
    stored.down = True
    response = client.get("/api/call_records/C1/recording", headers=acme.headers)
    assert response.status_code == 503
    assert json_of(response)["errors"][0]["code"] == "SERVICE_UNAVAILABLE"


def test_a_recording_of_a_call_that_goes_on_is_409_with_retry_after(
        client: FlaskClient, database: Database, acme: TenantAuth,
        stored: FakeStoredRecordings) -> None:
    add_call(database, acme.tenant_id, "C1", "call-C1")
    stored.live.add("call-C1")
    response = client.get("/api/call_records/C1/recording", headers=acme.headers)
    assert (response.status_code, response.headers["Retry-After"]) == (409, "5")
    assert json_of(response)["errors"][0] == {
        "code": "CONFLICT", "detail": None,
        "message": "the recording of call C1 is still being made: its call goes on"}


def test_without_a_token_there_is_no_recording(client: FlaskClient, database: Database,
                                               acme: TenantAuth,
                                               stored: FakeStoredRecordings) -> None:
    add_call(database, acme.tenant_id, "C1", "call-C1")
    stored.files["call-C1"] = WAV
    assert client.get("/api/call_records/C1/recording").status_code == 401


def test_recordings_expire_by_their_tenants_retention(database: Database, acme: TenantAuth,
                                                      globex: TenantAuth) -> None:
    now = datetime.now(UTC)
    with database.session() as session:
        tenant = session.get(Tenant, globex.tenant_id)
        assert tenant is not None
        change_tenant(session, tenant, recording_retention_days=7)
    add_call(database, acme.tenant_id, "A-old", "call-A-old", now - timedelta(days=91))
    add_call(database, acme.tenant_id, "A-new", "call-A-new", now - timedelta(days=89))
    add_call(database, acme.tenant_id, "A-none", None, now - timedelta(days=200))
    add_call(database, globex.tenant_id, "G-old", "vm-G-old", now - timedelta(days=8))
    add_call(database, globex.tenant_id, "G-new", "vm-G-new", now - timedelta(days=6))
    index = DatabaseRecordingIndex(database)
    assert sorted(index.expired()) == [("A-old", "call-A-old"), ("G-old", "vm-G-old")]

    index.forget("A-old", "call-A-old")
    index.forget("G-new", "another-name")  # a stale name changes nothing
    assert index.expired() == [("G-old", "vm-G-old")]
    with database.session() as session:
        records = {r.call_id: r.recording for r in session.scalars(select(CallRecord))}
        assert records["A-old"] is None and records["G-new"] == "vm-G-new"
        steps = session.scalars(select(CallStep)).all()
        assert [(s.call_id, s.kind, s.target) for s in steps] == [
            ("A-old", "recording-gone", "call-A-old")]
