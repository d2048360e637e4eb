"""Dispatch settings, call records and their delivery log through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.deliveries import ANSWER_LIMIT, Delivery, Outcome
from bridge.dispatch.signing import is_valid_secret
from bridge.services.dispatch import DatabaseDeliveryStore, claim_deliveries, update_settings
from bridge.store.models import CallRecord, DispatchDelivery
from bridge.store.session import Database
from tests.api.conftest import TenantAuth, assert_no_body
from tests.support.json_answers import json_of

SETTINGS = "/api/dispatch/settings"


def test_set_up_then_change_dispatch(client: FlaskClient, acme: TenantAuth) -> None:
    assert client.get(SETTINGS, headers=acme.headers).status_code == 404
    answer = client.post(SETTINGS, headers=acme.headers, json={
        "base_url": "https://dispatch.example.com", "company_in_path": True,
        "signing_secret": "generate", "headers": {"Authorization": "Bearer secret-value"}})
    assert answer.status_code == 200, answer.json
    body = json_of(answer)
    assert is_valid_secret(body["signing_secret"]) and body["signing_secret_set"] is True
    assert body["events"] == ["invite", "ringing", "connected", "cleared", "missed"]
    assert (body["invite_timeout_ms"], body["ringing_timeout_ms"]) == (300, 1500)
    assert body["header_names"] == ["Authorization"]
    shown = json_of(client.get(SETTINGS, headers=acme.headers))
    assert "signing_secret" not in shown and "secret-value" not in str(shown)
    changed = json_of(client.post(SETTINGS, headers=acme.headers, json={
        "events": ["ringing"], "invite_timeout_ms": 150, "signing_secret": None}))
    assert changed["events"] == ["ringing"] and changed["invite_timeout_ms"] == 150
    assert changed["signing_secret_set"] is False and changed["company_in_path"] is True
    assert_no_body(client.post(f"{SETTINGS}/destroy", headers=acme.headers), 204)
    assert client.get(SETTINGS, headers=acme.headers).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"company_in_path": True}, "base_url"),
    ({"base_url": "ftp://x.example"}, "base_url"),
    ({"base_url": "https://x.example/?a=1"}, "base_url"),
    ({"base_url": "https://x.example/\n"}, "base_url"),
    ({"base_url": "https://x.example\t/"}, "base_url"),
    ({"base_url": "https://x.example/a\r\nX-Injected: 1"}, "base_url"),
    ({"base_url": " https://x.example"}, "base_url"),
    ({"base_url": "https://x.example:http/"}, "base_url"),
    ({"base_url": "https://x.example:0/"}, "base_url"),
    ({"base_url": "https://x.example:65536/"}, "base_url"),
    ({"base_url": "https://user:secret@x.example/"}, "base_url"),
    ({"base_url": "https://:443/"}, "base_url"),
    ({"base_url": "https://x.example/#top"}, "base_url"),
    ({"base_url": "http://[Ac5.D]/"}, "base_url"),  # urlsplit raised: was a 500
    ({"base_url": "https://x.example", "invite_timeout_ms": 300.5}, "invite_timeout_ms"),
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
    error = json_of(answer)["errors"][0]
    assert error["code"] == "VALIDATE_FAILED" and field in str(error)


def test_credentials_in_base_url_are_refused_and_never_shown(client: FlaskClient,
                                                             acme: TenantAuth) -> None:
    answer = client.post(SETTINGS, headers=acme.headers,
                         json={"base_url": "https://user:secret@x.example/"})
    assert answer.status_code == 400 and "secret" not in answer.text
    assert "headers" in json_of(answer)["errors"][0]["message"]
    assert client.get(SETTINGS, headers=acme.headers).status_code == 404


@pytest.mark.parametrize("url", ["https://dispatch.example.com",
                                 "http://127.0.0.1:8080/taxi/api/", "http://[::1]:9000",
                                 "https://xn--bcher-kva.example"])
def test_usable_base_urls_are_kept_as_given(client: FlaskClient, acme: TenantAuth,
                                            url: str) -> None:
    answer = client.post(SETTINGS, headers=acme.headers, json={"base_url": url})
    assert answer.status_code == 200, answer.json
    assert json_of(client.get(SETTINGS, headers=acme.headers))["base_url"] == url


def test_whole_numbers_may_be_written_as_json_floats(client: FlaskClient,
                                                     acme: TenantAuth) -> None:
    """300.0 is an integer to JSON Schema (the document says integer), so it is taken."""
    answer = client.post(SETTINGS, headers=acme.headers,
                         json={"base_url": "https://x.example", "invite_timeout_ms": 300.0})
    assert answer.status_code == 200, answer.json
    assert json_of(answer)["invite_timeout_ms"] == 300


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
    record = json_of(client.get("/api/call_records/CALLacme1", headers=acme.headers))
    assert record["dispatch_snapshot"] == {"customerId": "C-7", "priority": "high"}
    deliveries = json_of(client.get("/api/call_records/CALLacme1/dispatch_deliveries",
                                    headers=acme.headers))
    assert deliveries["count"] == 1
    item = deliveries["items"][0]
    assert (item["event"], item["http_status"], item["location"], item["state"]) == (
        "ringing", 307, "john@example.com", "delivered")
    for path in ("/api/call_records/CALLacme1", "/api/call_records/CALLacme1/dispatch_deliveries",
                 "/api/call_records/nope"):
        answer = client.get(path, headers=globex.headers)
        assert answer.status_code == 404 and json_of(answer)["errors"][0]["code"] == "NOT_FOUND"


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


def _dispatch_for(database: Database, tenant: TenantAuth) -> DispatchConfig:
    with database.session() as session:
        update_settings(session, tenant.tenant_id, {"base_url": "http://d.example"})
    return DispatchConfig(tenant_id=tenant.tenant_id, company_id=tenant.company_id,
                          base_url="http://d.example")


def _store(store: DatabaseDeliveryStore, config: DispatchConfig, *events: str) -> list[int]:
    return [store.add(Delivery.new(config, "CALLnode1", event, "POST", config.url(event), "{}"))
            for event in events]


def _resumed(store: DatabaseDeliveryStore) -> list[int | None]:
    return [delivery.id for delivery, _ in store.pending()]


def test_a_node_resumes_another_live_nodes_deliveries_only_once_its_claims_lapse(
        database: Database, acme: TenantAuth) -> None:
    """Two nodes on one database: B starting while A sends resumed (and sent) A's
    deliveries too."""
    config = _dispatch_for(database, acme)
    node_a, node_b, node_c = (DatabaseDeliveryStore(database, node_id=name)
                              for name in ("node-a", "node-b", "node-c"))
    stored = _store(node_a, config, "connected", "cleared")
    assert _resumed(node_b) == []
    node_a.renew()
    assert _resumed(node_b) == []
    with database.session() as session:  # A stopped renewing a lease ago
        session.execute(update(DispatchDelivery).values(
            claimed_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert _resumed(node_b) == stored
    assert _resumed(node_b) == _resumed(node_c) == _resumed(node_a) == []
    with database.session() as session:
        assert set(session.scalars(select(DispatchDelivery.claimed_by))) == {"node-b"}


def test_unclaimed_rows_and_released_claims_are_resumed_at_once(
        database: Database, acme: TenantAuth) -> None:
    """Rows stored before claims existed (the migration leaves them unclaimed), and
    those of a node that closed down (a restart is a new node)."""
    config = _dispatch_for(database, acme)
    now = datetime.now(UTC)
    with database.session() as session:
        old = DispatchDelivery(
            webhook_id="msg_old", tenant_id=acme.tenant_id, call_id="CALLnode1",
            event="missed", method="POST", url=config.url("missed"), body="{}",
            state="pending", attempts=1, created_at=now, give_up_at=now + timedelta(1))
        session.add(old)
        session.flush()
        old_id = old.id
    before_restart = DatabaseDeliveryStore(database)
    stored = _store(before_restart, config, "cleared")
    before_restart.release()
    after_restart = DatabaseDeliveryStore(database)
    assert _resumed(after_restart) == [old_id, *stored]


def test_two_engines_resuming_the_same_rows_at_once_claim_each_once(
        database: Database, acme: TenantAuth) -> None:
    """On SQLite the rows are read without a lock: two engines starting together both
    read them (as here, before either claims); the claim is what gives each row to one."""
    config = _dispatch_for(database, acme)
    gone = DatabaseDeliveryStore(database, node_id="gone")
    stored = _store(gone, config, "connected", "cleared")
    gone.release()
    now = datetime.now(UTC)
    with database.session() as session:
        assert claim_deliveries(session, stored, "engine-1", now, now + timedelta(30)) \
            == stored
    with database.session() as session:
        assert claim_deliveries(session, stored, "engine-2", now, now + timedelta(30)) == []
    assert _resumed(DatabaseDeliveryStore(database, node_id="engine-3")) == []
