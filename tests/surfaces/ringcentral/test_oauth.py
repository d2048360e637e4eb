"""/restapi/oauth: RingCentral's token endpoint, and a client driving RingOut with it."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from bridge.services.tenants import find_tenant, find_user
from bridge.store.ids import encode_id
from bridge.store.session import Database
from tests.api.conftest import TenantAuth
from tests.support.json_answers import json_of
from tests.surfaces.portsip.oauth_users import PASSWORD, add_user, bearer, expire
from tests.surfaces.ringcentral.oauth_logins import RINGOUT, basic, login, token

REVOKE_URL = "/restapi/oauth/revoke"


def test_password_grant_answers_the_vendor_shape_and_drives_ringout(
    client: FlaskClient, database: Database, acme: TenantAuth,
) -> None:
    add_user(database, acme)
    body = login(client, extension="", scope="RingOut ReadAccounts")
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token",
                         "refresh_token_expires_in", "scope", "owner_id", "endpoint_id"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    assert body["refresh_token_expires_in"] == 30 * 24 * 3600
    # The "api" user owns 3001: `~` is that extension for this token.
    with database.session() as session:
        api_user = find_user(session, find_tenant(session, acme.company_id), "api")
        owner = encode_id(api_user.id)
    client.post("/api/extensions", headers=acme.headers,
                json={"extension_number": "3001", "user_id": owner})
    started = client.post(RINGOUT, headers=bearer(body["access_token"]), json={
        "from": {"phoneNumber": "3001"}, "to": {"phoneNumber": "+14155550123"}})
    assert started.status_code == 200, started.json


def test_refresh_rotates_and_revoke_ends_the_access_token(
    client: FlaskClient, database: Database, acme: TenantAuth,
) -> None:
    add_user(database, acme)
    first = login(client)
    second = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    reused = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert (reused.json["error"], reused.json["errorCode"]) == ("invalid_grant", "OAU-140")
    access = second.json["access_token"]
    assert json_of(client.get(f"{RINGOUT}/1", headers=bearer(access)))["errorCode"] == "CMN-102"
    assert client.post(REVOKE_URL, data={"token": access}, headers=basic()).status_code == 200
    assert json_of(client.get(f"{RINGOUT}/1", headers=bearer(access)))["errorCode"] == "OAU-123"


def test_an_expired_access_token_is_oau_128(
    client: FlaskClient, database: Database, acme: TenantAuth,
) -> None:
    add_user(database, acme)
    access = login(client)["access_token"]
    expire(database, access)
    response = client.get(f"{RINGOUT}/1", headers=bearer(access))
    assert response.status_code == 401 and json_of(response)["errorCode"] == "OAU-128"


@pytest.mark.parametrize("username, password", [("api", "wrong password"),
                                                ("nobody", PASSWORD)])
def test_wrong_credentials_are_invalid_grant(
    client: FlaskClient, database: Database, acme: TenantAuth, username: str, password: str,
) -> None:
    add_user(database, acme)
    response = token(client, grant_type="password", username=username, password=password)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    assert response.json["errors"][0]["errorCode"] == "OAU-140"


def test_client_credentials_are_required_in_basic_auth(
    client: FlaskClient, database: Database, acme: TenantAuth,
) -> None:
    add_user(database, acme)
    response = token(client, headers={}, grant_type="password", username="api",
                     password=PASSWORD)
    assert response.status_code == 401
    assert (response.json["error"], response.json["errorCode"]) == ("invalid_client",
                                                                    "OAU-123")


def test_a_client_id_naming_a_tenant_picks_the_username_in_it(
    client: FlaskClient, database: Database, acme: TenantAuth, globex: TenantAuth,
) -> None:
    add_user(database, acme)
    add_user(database, globex)
    ambiguous = token(client, grant_type="password", username="api", password=PASSWORD)
    assert ambiguous.status_code == 400
    assert ambiguous.json["errors"][0]["parameterName"] == "client_id"
    chosen = token(client, headers=basic(globex.company_id), grant_type="password",
                   username="api", password=PASSWORD)
    assert chosen.status_code == 200


@pytest.mark.parametrize("form, parameter", [
    ({}, "grant_type"),
    ({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion"),
    ({"grant_type": "password", "username": "api"}, "password"),
])
def test_bad_grants_name_the_parameter(client: FlaskClient, acme: TenantAuth,
                                       form: dict[str, str], parameter: str) -> None:
    response = token(client, headers=None, **form)
    assert response.status_code == 400
    assert response.json["errorCode"] == "CMN-101"
    assert response.json["errors"][0]["parameterName"] == parameter


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoking_either_token_ends_the_login(
    client: FlaskClient, database: Database, acme: TenantAuth, kind: str,
) -> None:
    add_user(database, acme)
    first = login(client)
    second = json_of(token(client, grant_type="refresh_token",
                           refresh_token=first["refresh_token"]))
    assert json_of(client.get(f"{RINGOUT}/1", headers=bearer(first["access_token"])))[
        "errorCode"] == "OAU-123"  # retired by the refresh
    assert client.post(REVOKE_URL, data={"token": first[kind]},
                       headers=basic()).status_code == 200
    assert json_of(client.get(f"{RINGOUT}/1", headers=bearer(second["access_token"])))[
        "errorCode"] == "OAU-123"
    refreshed = token(client, grant_type="refresh_token",
                      refresh_token=second["refresh_token"])
    assert (refreshed.status_code, refreshed.json["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize("hint", [None, "id_token"])
def test_a_token_it_does_not_revoke_is_unsupported_token_type(
    client: FlaskClient, database: Database, acme: TenantAuth, hint: str | None,
) -> None:
    add_user(database, acme)
    access = login(client)["access_token"]
    revoked = acme.token if hint is None else access
    response = client.post(REVOKE_URL, headers=basic(), data={
        "token": revoked, **({"token_type_hint": hint} if hint else {})})
    assert response.status_code == 400
    assert json_of(response)["error"] == "unsupported_token_type"
    assert json_of(response)["errorCode"] == "CMN-101"
    assert json_of(client.get(f"{RINGOUT}/1", headers=bearer(access)))["errorCode"] == "CMN-102"
