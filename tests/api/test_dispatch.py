"""Dispatch settings, call records and their delivery log through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.deliveries import ANSWER_LIMIT, Delivery, Outcome
from bridge.dispatch.signing import is_valid_secret
from bridge.services.dispatch import DatabaseDeliveryStore
from bridge.store.models import CallRecord, DispatchDelivery
from bridge.store.session import Database
from tests.api.conftest import TenantAuth, assert_no_body

SETTINGS = "/api/dispatch/settings"


def test_set_up_then_change_dispatch(client: FlaskClient, acme: TenantAuth) -> None:
    assert client.get(SETTINGS, headers=acme.headers).status_code == 404
    answer = client.post(SETTINGS, headers=acme.headers, json={
        "base_url": "https://dispatch.example.com", "company_in_path": True,
        "signing_secret": "generate", "headers": {"Authorization": "Bearer secret-value"}})
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert is_valid_secret(body["signing_secret"]) and body["signing_secret_set"] is True
    assert body["events"] == ["invite", "ringing", "connected", "cleared", "missed"]
    assert (body["invite_timeout_ms"], body["ringing_timeout_ms"]) == (300, 1500)
    assert body["header_names"] == ["Authorization"]
    shown = client.get(SETTINGS, headers=acme.headers).json
    assert "signing_secret" not in shown and "secret-value" not in str(shown)
    changed = client.post(SETTINGS, headers=acme.headers, json={
        "events": ["ringing"], "invite_timeout_ms": 150, "signing_secret": None}).json
    assert changed["events"] == ["ringing"] and changed["invite_timeout_ms"] == 150
    assert changed["signing_secret_set"] is False and changed["company_in_path"] is True
    assert_no_body(client.post(f"{SETTINGS}/destroy", headers=acme.headers), 204)
    assert client.get(SETTINGS, headers=acme.headers).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"company_in_path": True}, "base_url"),
    ({"base_url": "ftp://x.example"}, "base_url"),
    ({"base_url": "https://x.example/?a=1"}, "base_url"),
    ({"base_url": "https://x.example", "invite_timeout_ms": 10}, "invite_timeout_ms"),
    ({"base_url": "https://x.example", "retry_seconds": -1}, "retry_seconds"),
    ({"base_url": "https://x.example", "events": ["rang"]}, "events"),
    ({"base_url": "https://x.example", "signing_secret": "hunter2"}, "signing_secret"),
    ({"base_url": "https://x.example", "headers": {"Content-Type": "x"}}, "headers"),
    ({"base_url": "https://x.example", "headers": {"X-A": "a\r\nB: b"}}, "headers"),
    ({"base_url": "https://x.example", "colour": "red"}, "colour"),
])
def test_bad_settings_are_400_naming_the_field(client: FlaskClient, acme: TenantAuth,
                                               body: dict[str, object], field: str) -> None:
    answer = client.post(SETTINGS, headers=acme.headers, json=body)
    assert answer.status_code == 400
    error = answer.json["errors"][0]
    assert error["code"] == "VALIDATE_FAILED" and field in str(error)


def test_settings_need_a_token(client: FlaskClient) -> None:
    assert client.get(SETTINGS).status_code == 401
    assert client.post(SETTINGS, json={"base_url": "https://x.example"}).status_code == 401


def _call(database: Database, tenant: TenantAuth, call_id: str) -> None:
    now = datetime.now(UTC)
    with database.session() as session:
        session.add(CallRecord(call_id=call_id, tenant_id=tenant.tenant_id, caller="+15551",
                               dialled="6000", received_at=now,
                               dispatch_snapshot={"customerId": "C-7", "priority": "high"}))
        session.add(DispatchDelivery(
            webhook_id="msg_x", tenant_id=tenant.tenant_id, call_id=call_id, event="ringing",
            method="POST", url="https://d.example/telephony/ringing", body="{}",
            state="delivered", attempts=1, http_status=307, latency_ms=3.5,
            location="john@example.com", created_at=now, give_up_at=now + timedelta(1)))


def test_a_calls_record_and_its_deliveries(client: FlaskClient, database: Database,
                                           acme: TenantAuth, globex: TenantAuth) -> None:
    _call(database, acme, "CALLacme1")
    record = client.get("/api/call_records/CALLacme1", headers=acme.headers).json
    assert record["dispatch_snapshot"] == {"customerId": "C-7", "priority": "high"}
    deliveries = client.get("/api/call_records/CALLacme1/dispatch_deliveries",
                            headers=acme.headers).json
    assert deliveries["count"] == 1
    item = deliveries["items"][0]
    assert (item["event"], item["http_status"], item["location"], item["state"]) == (
        "ringing", 307, "john@example.com", "delivered")
    for path in ("/api/call_records/CALLacme1", "/api/call_records/CALLacme1/dispatch_deliveries",
                 "/api/call_records/nope"):
        answer = client.get(path, headers=globex.headers)
        assert answer.status_code == 404 and answer.json["errors"][0]["code"] == "NOT_FOUND"


def test_a_long_answer_is_cut_in_the_delivery_log(database: Database, acme: TenantAuth) -> None:
    """The whole answer is parsed (bridge/dispatch/notifier.py); the log keeps its start."""
    _call(database, acme, "CALLlong1")
    config = DispatchConfig(tenant_id=acme.tenant_id, company_id=acme.company_id,
                            base_url="http://x")
    delivery = Delivery.new(config, "CALLlong1", "invite", "GET", config.url("invite"), None)
    answer = '{"priority": "urgent", "pad": "' + "x" * 5000 + '"}'
    DatabaseDeliveryStore(database).log(delivery, Outcome(200, 1.0, answer=answer), "delivered")
    with database.session() as session:
        stored = session.scalars(select(DispatchDelivery.answer).where(
            DispatchDelivery.event == "invite")).one()
    assert stored == answer[:ANSWER_LIMIT]
