"""Security events in the log: who and from where, never a secret."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.login_attempts import RINGCENTRAL, app_client, attempt
from tests.api.user_tokens import add_extension, token_of, user_id
from tests.support.json_answers import json_of
from tests.surfaces.portsip.oauth_users import PASSWORD, add_user

ADDRESS = "192.0.2.44"


@pytest.fixture
def security(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="bridge.security")
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bridge.security"]


def test_a_wrong_password_names_the_username_and_address_not_the_password(
        database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
        security: pytest.LogCaptureFixture) -> None:
    add_user(database, acme)
    client = app_client(database, provisioner)
    attempt(client, RINGCENTRAL, password="hunter2-guess", address=ADDRESS)
    [line] = lines(security)
    assert line.startswith("refused 400: POST /restapi/oauth/token by password grant for "
                           f"username 'api' from {ADDRESS}: ")
    assert "hunter2-guess" not in security.text


def test_a_lockout_is_logged(database: Database, provisioner: RecordingProvisioner,
                             acme: TenantAuth, security: pytest.LogCaptureFixture) -> None:
    add_user(database, acme)
    client = app_client(database, provisioner, login_username_failures_per_minute=1)
    attempt(client, RINGCENTRAL, password="wrong", address=ADDRESS)
    attempt(client, RINGCENTRAL, address=ADDRESS)  # the right one, refused unchecked
    assert lines(security)[-1].startswith("refused 429: POST /restapi/oauth/token by "
                                          f"password grant for username 'api' from {ADDRESS}")
    assert PASSWORD not in security.text


def test_an_unknown_token_is_logged_without_the_token(
        client: FlaskClient, security: pytest.LogCaptureFixture) -> None:
    client.get("/api/extensions", headers={"Authorization": "Bearer rb_made-up-token"},
               environ_overrides={"REMOTE_ADDR": ADDRESS})
    [line] = lines(security)
    assert line.startswith("refused 401: GET /api/extensions by a token that is unknown, "
                           f"revoked or expired from {ADDRESS}")
    assert "rb_made-up-token" not in security.text


def test_a_users_token_refused_another_users_extension_names_the_user(
        client: FlaskClient, database: Database, acme: TenantAuth,
        security: pytest.LogCaptureFixture) -> None:
    ann = token_of(database, acme, "ann")
    bobs = add_extension(client, acme, "3002", None)
    security.clear()
    client.get(f"/restapi/v1.0/account/~/extension/{bobs}", headers=ann)
    [line] = lines(security)
    ann_id = user_id(database, acme, "ann")
    assert line.startswith(f"refused 403: GET /restapi/v1.0/account/~/extension/{bobs} by "
                           f"tenant {acme.tenant_id} user {ann_id} token ")


def test_a_revoked_token_is_logged(client: FlaskClient, database: Database,
                                   acme: TenantAuth,
                                   security: pytest.LogCaptureFixture) -> None:
    add_user(database, acme)
    pair = json_of(client.post("/api/login/oauth/token", data={
        "grant_type": "password", "username": "api", "password": PASSWORD,
        "domain": acme.sip_domain}))
    security.clear()
    client.post("/api/login/oauth/revoke", data={"token": pair["refresh_token"],
                                                "token_type_hint": "refresh_token"},
                environ_overrides={"REMOTE_ADDR": ADDRESS})
    assert lines(security) == ["token revoked through /api/login/oauth/revoke by no token "
                               f"from {ADDRESS} (token_type_hint 'refresh_token')"]
    assert pair["refresh_token"] not in security.text


def test_successes_are_not_security_events(client: FlaskClient, acme: TenantAuth,
                                           security: pytest.LogCaptureFixture) -> None:
    assert client.get("/api/extensions", headers=acme.headers).status_code == 200
    assert lines(security) == []
