"""What the database tells a restarted engine about the calls of the process before."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from bridge.dispatch.client import DispatchClient
from bridge.services import earlier_calls as earlier_calls_module
from bridge.services.dispatch import DatabaseDeliveryStore, update_settings
from bridge.services.earlier_calls import DatabaseEarlierCalls
from bridge.services.routing import DatabaseDirectory
from bridge.store.models import CallRecord, DispatchDelivery, Extension
from bridge.store.session import Database
from tests.api.conftest import TenantAuth

RECEIVED = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)


def earlier_calls(database: Database) -> DatabaseEarlierCalls:
    dispatch = DispatchClient(DatabaseDeliveryStore(database))
    return DatabaseEarlierCalls(database, DatabaseDirectory(database, 30, dispatch, "http://rb"))


def a_call(database: Database, tenant: TenantAuth, call_id: str, *events: str,
           answered_by: str | None = None, ended: bool = False,
           given_up: tuple[str, ...] = ()) -> None:
    """A call's record and its dispatch deliveries (delivered, or failed: `given_up`)."""
    with database.session() as session:
        session.add(CallRecord(
            call_id=call_id, tenant_id=tenant.tenant_id, caller="3019", dialled="6002",
            received_at=RECEIVED, answered_by=answered_by,
            answered_at=RECEIVED + timedelta(seconds=3) if answered_by else None,
            ended_at=RECEIVED + timedelta(seconds=9) if ended else None))
        for event in events:
            body = orjson.dumps({"queueId": "night@abc", "queueType": "customer",
                                 "callId": call_id}).decode() if event != "invite" else None
            session.add(DispatchDelivery(
                webhook_id=f"msg_{secrets.token_hex(8)}", tenant_id=tenant.tenant_id,
                call_id=call_id, event=event, method="POST", url="http://d/" + event,
                body=body, state="failed" if event in given_up else "delivered",
                created_at=RECEIVED,
                give_up_at=RECEIVED + timedelta(minutes=10)))


def test_a_call_the_dispatcher_saw_gets_its_end_from_the_queue_it_was_last_in(
        database: Database, acme: TenantAuth) -> None:
    with database.session() as session:
        update_settings(session, acme.tenant_id, {"base_url": "http://dispatch.example"})
        session.add(Extension(tenant_id=acme.tenant_id, extension_number="3011",
                              agent_id="agent3011@abc", sip_password="x" * 20))
    a_call(database, acme, "SEEN", "invite", "ringing", "connected", answered_by="3011")
    call = earlier_calls(database).find("SEEN")
    assert call is not None and call.events is not None and not call.ended
    assert (call.received, call.answered) == (RECEIVED, RECEIVED + timedelta(seconds=3))
    assert (call.queue, call.agent_id) == (("night@abc", "customer"), "agent3011@abc")
    assert call.told == {"invite", "ringing", "connected"}
    a_call(database, acme, "LOST", "invite", "ringing", "connected", answered_by="3011",
           given_up=("connected",))
    lost = earlier_calls(database).find("LOST")  # the dispatcher never had it
    assert lost is not None and lost.told == {"invite", "ringing"}
    # An agent who answered while ringbridge was down, not yet in the record:
    adopted = earlier_calls(database).find("SEEN", answered_by="3011")
    assert adopted is not None and adopted.agent_id == "agent3011@abc"


def test_nothing_is_sent_for_a_call_the_dispatcher_never_saw_or_saw_end(
        database: Database, acme: TenantAuth) -> None:
    with database.session() as session:
        update_settings(session, acme.tenant_id, {"base_url": "http://dispatch.example"})
    a_call(database, acme, "UNSEEN")
    a_call(database, acme, "CLEARED", "invite", "missed", "cleared")
    calls = earlier_calls(database)
    found = [calls.find(c) for c in ("UNSEEN", "CLEARED")]
    assert [call.events for call in found if call is not None] == [None, None]
    assert calls.find("NONE") is None


def test_the_open_records_of_calls_before_a_moment_are_listed(
        database: Database, acme: TenantAuth) -> None:
    a_call(database, acme, "OPEN")
    a_call(database, acme, "CLOSED", ended=True)
    calls = earlier_calls(database)
    assert calls.open_before(RECEIVED + timedelta(seconds=1)) == ["OPEN"]
    assert calls.open_before(RECEIVED) == []


def test_only_one_of_two_engines_closing_a_record_at_once_claims_its_end(
        database: Database, acme: TenantAuth) -> None:
    """All engines close the records left open when `serve` starts: one tells the
    dispatcher, or it hears of the end once per engine."""
    a_call(database, acme, "LEFT", "invite", "ringing")
    first, second = earlier_calls(database), earlier_calls(database)
    back = RECEIVED + timedelta(minutes=5)
    assert first.claim_end("LEFT", back)
    assert not second.claim_end("LEFT", back)
    found = second.find("LEFT")
    assert found is not None and found.ended
    assert not first.claim_end("NO-SUCH-CALL", back)


def test_records_are_read_once_the_steps_left_on_disk_are_written(
        database: Database, acme: TenantAuth) -> None:
    """A restarted engine's writer first writes the steps the process before left in
    its journal: the records are read after that, so that none of its calls is missed."""
    replayed = threading.Event()
    dispatch = DispatchClient(DatabaseDeliveryStore(database))
    calls = DatabaseEarlierCalls(database, DatabaseDirectory(database, 30, dispatch, "x"),
                                 replayed)
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.extend(calls.open_before(datetime.now(UTC))))
    reader.start()
    a_call(database, acme, "REPLAYED")  # the writer's replay
    replayed.set()
    reader.join(5)
    assert found == ["REPLAYED"]


def test_records_are_read_without_steps_the_database_refuses_for_long(
        database: Database, acme: TenantAuth, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(earlier_calls_module, "REPLAY_WAIT", 0.01)
    dispatch = DispatchClient(DatabaseDeliveryStore(database))
    calls = DatabaseEarlierCalls(database, DatabaseDirectory(database, 30, dispatch, "x"),
                                 threading.Event())
    a_call(database, acme, "OPEN")
    assert calls.open_before(datetime.now(UTC)) == ["OPEN"]
    assert "still not written after 0 s: its records are read without them" in caplog.text
    assert calls.find("OPEN") is not None
    assert caplog.text.count("still not written") == 1  # said once, then not waited for
