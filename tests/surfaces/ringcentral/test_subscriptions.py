"""Subscriptions (RingCentral style, WebHook): the handshake against a real HTTP server,
where an address may point, which filters a token may use, and whose subscription is
whose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.dispatch.deliveries import Delivery
from bridge.services import subscriptions
from bridge.services.dispatch import DatabaseDeliveryStore
from bridge.store.ids import encode_id
from bridge.store.models import DispatchDelivery, Subscription
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.user_tokens import add_extension, token_of, user_id
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.json_answers import json_of

PATH = "/restapi/v1.0/subscription"
OWN = "/restapi/v1.0/account/~/extension/~/telephony/sessions"
ACCOUNT = "/restapi/v1.0/account/~/telephony/sessions"


@pytest.fixture
def local(database: Database, provisioner: RecordingProvisioner) -> FlaskClient:
    """The API with receivers on this host allowed (the tests' receiver is on 127.0.0.1)."""
    settings = Settings(webhook_allowed_networks="127.0.0.0/8, ::1/128")
    return create_app(database, provisioner, lambda: Readiness(True, True, True),
                      settings).test_client()


@pytest.fixture
def ann(client: FlaskClient, database: Database, acme: TenantAuth) -> dict[str, str]:
    """A user owning extension 3001."""
    headers = token_of(database, acme, "ann")
    add_extension(client, acme, "3001", user_id(database, acme, "ann"))
    return headers


@pytest.fixture
def handshaking(receiver: DispatchReceiver) -> DispatchReceiver:
    receiver.respond(200, echo=("Validation-Token",))
    return receiver


def body(address: str, *filters: str, **mode: Any) -> dict[str, Any]:
    return {"eventFilters": list(filters or [OWN]),
            "deliveryMode": {"transportType": "WebHook", "address": address, **mode}}


def assert_error(response: Any, status: int, code: str, parameter: str | None = None) -> None:
    assert response.status_code == status, response.json
    answer = json_of(response)
    assert answer["errorCode"] == code, answer
    if parameter is not None:
        assert answer["errors"][0]["parameterName"] == parameter


def test_a_subscription_is_made_once_its_address_answers_the_handshake(
        local: FlaskClient, ann: dict[str, str], handshaking: DispatchReceiver) -> None:
    response = local.post(PATH, headers=ann, json=body(f"{handshaking.url}/hook"))
    assert response.status_code == 200, response.json
    made = json_of(response)
    [validation] = handshaking.requests
    assert (validation.method, validation.path, validation.body) == ("POST", "/hook", b"")
    assert len(validation.headers["Validation-Token"]) >= 32
    assert made["eventFilters"] == [OWN] and made["disabledFilters"] == []
    assert made["status"] == "Active" and 604_790 <= made["expiresIn"] <= 604_800
    assert made["deliveryMode"] == {"transportType": "WebHook", "encryption": False,
                                    "address": f"{handshaking.url}/hook"}
    assert made["uri"].endswith(f"{PATH}/{made['id']}")
    shown = json_of(local.get(f"{PATH}/{made['id']}", headers=ann))
    assert shown["id"] == made["id"] and "signingSecret" not in shown["deliveryMode"]


def test_a_generated_signing_secret_is_shown_once(
        local: FlaskClient, ann: dict[str, str], handshaking: DispatchReceiver) -> None:
    made = json_of(local.post(PATH, headers=ann, json=body(
        handshaking.url, signingSecret="generate", verificationToken="pass-phrase")))
    assert made["deliveryMode"]["signingSecret"].startswith("whsec_")
    listed = json_of(local.get(PATH, headers=ann))["records"]
    assert [r["id"] for r in listed] == [made["id"]]
    assert "signingSecret" not in listed[0]["deliveryMode"]


@pytest.mark.parametrize("answer", [
    {"status": 200},  # no Validation-Token back
    {"status": 500, "echo": ("Validation-Token",)},
    {"status": 200, "echo": ("Validation-Token",), "body": b"x" * 1024},
])
def test_an_address_failing_the_handshake_is_refused(
        local: FlaskClient, ann: dict[str, str], receiver: DispatchReceiver,
        database: Database, answer: dict[str, Any]) -> None:
    receiver.respond(**answer)
    assert_error(local.post(PATH, headers=ann, json=body(receiver.url)), 400, "SUB-525",
                 "deliveryMode.address")
    with database.session() as session:
        assert session.query(Subscription).count() == 0


def test_an_address_nobody_answers_is_refused(
        local: FlaskClient, ann: dict[str, str], receiver: DispatchReceiver) -> None:
    receiver.refuse()
    response = local.post(PATH, headers=ann, json=body(receiver.url))
    assert_error(response, 400, "SUB-525")
    assert "no answer" in json_of(response)["message"]


@pytest.mark.parametrize("address, code", [
    ("http://127.0.0.1:9/hook", "SUB-521"),  # loopback: not allowed by default
    ("http://10.1.2.3/hook", "SUB-521"),
    ("http://[::1]:9/hook", "SUB-521"),
    ("ftp://example.com/hook", "CMN-101"),
    ("http://user:secret@example.com/hook", "CMN-101"),
])
def test_addresses_that_are_not_public_or_not_http_are_refused_by_default(
        client: FlaskClient, ann: dict[str, str], address: str, code: str) -> None:
    assert_error(client.post(PATH, headers=ann, json=body(address)), 400, code,
                 "deliveryMode.address")


@pytest.mark.parametrize("filters, status, code", [
    (["/restapi/v1.0/account/~/extension/~/presence"], 400, "CMN-101"),
    (["/restapi/v1.0/account/~/telephony/sessions?x=1"], 400, "CMN-101"),
    ([ACCOUNT], 403, "CMN-408"),  # a user follows only its own extensions
])
def test_filters_ringbridge_does_not_offer_or_the_user_does_not_reach_are_refused(
        local: FlaskClient, ann: dict[str, str], handshaking: DispatchReceiver,
        filters: list[str], status: int, code: str) -> None:
    assert_error(local.post(PATH, headers=ann, json=body(handshaking.url, *filters)),
                 status, code, "eventFilters")
    assert handshaking.requests == []  # refused before any request leaves


def test_extension_filters_are_checked_as_their_paths_are(
        local: FlaskClient, client: FlaskClient, database: Database, acme: TenantAuth,
        globex: TenantAuth, ann: dict[str, str], handshaking: DispatchReceiver) -> None:
    bob = add_extension(client, acme, "3002", None)
    other = add_extension(client, globex, "3001", None)
    for extension, status, code in ((bob, 403, "CMN-408"), (other, 404, "CMN-102")):
        path = f"/restapi/v1.0/account/~/extension/{extension}/telephony/sessions"
        assert_error(local.post(PATH, headers=ann, json=body(handshaking.url, path)),
                     status, code, "extensionId")
    # An admin follows any extension of the tenant, and the account.
    made = local.post(PATH, headers=acme.headers, json=body(
        handshaking.url, ACCOUNT,
        f"/restapi/v1.0/account/~/extension/{bob}/telephony/sessions"))
    assert made.status_code == 200, made.json
    with database.session() as session:
        row = session.get_one(Subscription, int(json_of(made)["id"]))
        assert row.account_level and [encode_id(key) for key in row.extension_ids] == [bob]


def test_a_subscription_is_its_users_only(
        local: FlaskClient, database: Database, acme: TenantAuth, globex: TenantAuth,
        ann: dict[str, str], handshaking: DispatchReceiver) -> None:
    made = json_of(local.post(PATH, headers=ann, json=body(handshaking.url)))["id"]
    bob = token_of(database, acme, "bob")
    for someone in (bob, acme.headers, globex.headers):
        assert_error(local.get(f"{PATH}/{made}", headers=someone), 404, "CMN-102")
        assert_error(local.delete(f"{PATH}/{made}", headers=someone), 404, "CMN-102")
        assert json_of(local.get(PATH, headers=someone))["records"] == []
    assert local.delete(f"{PATH}/{made}", headers=ann).status_code == 204
    assert_error(local.get(f"{PATH}/{made}", headers=ann), 404, "CMN-102")


def test_renew_and_update_give_it_a_new_lifetime(
        local: FlaskClient, database: Database, ann: dict[str, str],
        handshaking: DispatchReceiver) -> None:
    made = json_of(local.post(PATH, headers=ann, json={**body(handshaking.url),
                                                       "expiresIn": 60}))
    assert made["expiresIn"] in (59, 60)
    with database.session() as session:  # a minute on: expired
        row = session.get_one(Subscription, int(made["id"]))
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = json_of(local.get(f"{PATH}/{made['id']}", headers=ann))
    assert (expired["status"], expired["expiresIn"]) == ("Expired", 0)
    with database.session() as session:
        assert subscriptions.active(session) == []
    renewed = json_of(local.post(f"{PATH}/{made['id']}/renew", headers=ann))
    assert (renewed["status"], renewed["expiresIn"] in (59, 60)) == ("Active", True)
    assert renewed["creationTime"] == made["creationTime"]
    changed = local.put(f"{PATH}/{made['id']}", headers=ann, json={"expiresIn": 3600})
    assert json_of(changed)["expiresIn"] in (3599, 3600)
    assert len(handshaking.requests) == 1  # no new address: no new handshake
    again = local.put(f"{PATH}/{made['id']}", headers=ann, json={
        "deliveryMode": {"transportType": "WebHook", "address": f"{handshaking.url}/v2"}})
    assert json_of(again)["deliveryMode"]["address"] == f"{handshaking.url}/v2"
    assert [r.path for r in handshaking.requests] == ["/", "/v2"]


def test_a_renewed_subscription_keeps_the_lifetime_asked_for(
        local: FlaskClient, ann: dict[str, str], handshaking: DispatchReceiver) -> None:
    made = json_of(local.post(PATH, headers=ann, json={**body(handshaking.url),
                                                       "expiresIn": 7200}))
    renewed = json_of(local.post(f"{PATH}/{made['id']}/renew", headers=ann))
    assert 7190 <= renewed["expiresIn"] <= 7200


def test_stored_notifications_resume_with_their_subscriptions_delivery(
        local: FlaskClient, database: Database, ann: dict[str, str],
        handshaking: DispatchReceiver) -> None:
    """After a restart the outbox sends a notification as its subscription says, and
    gives up on one whose subscription has expired; deleting it deletes them."""
    made = json_of(local.post(PATH, headers=ann, json=body(
        handshaking.url, verificationToken="pass-phrase", signingSecret="generate")))
    key = int(made["id"])
    with database.session() as session:
        [live] = subscriptions.active(session)
    stored = []
    for call_id in ("C1", "C2"):
        note = Delivery(live.tenant_id, call_id, "telephony", "POST", handshaking.url, "{}",
                        give_up_at=datetime.now(UTC) + timedelta(minutes=10),
                        subscription_id=key)
        stored.append(DatabaseDeliveryStore(database, node_id="before").add(note))
    DatabaseDeliveryStore(database, node_id="before").release()
    [(first, config), (second, _)] = DatabaseDeliveryStore(database, node_id="after").pending()
    assert (first.id, second.id, first.subscription_id) == (stored[0], stored[1], key)
    assert config.base_url == handshaking.url
    assert config.headers == {"Verification-Token": "pass-phrase"}
    assert config.signing_secret == made["deliveryMode"]["signingSecret"]
    with database.session() as session:
        session.get_one(Subscription, key).expires_at = datetime.now(UTC)
        session.execute(update(DispatchDelivery).values(claimed_until=None))
    assert DatabaseDeliveryStore(database, node_id="later").pending() == []
    with database.session() as session:
        assert {row.state for row in session.scalars(select(DispatchDelivery))} == {"failed"}
    assert local.delete(f"{PATH}/{key}", headers=ann).status_code == 204
    with database.session() as session:
        assert session.scalars(select(DispatchDelivery)).all() == []
