"""/restapi/oauth/token's JWT bearer grant (RFC 7523), with credentials made by `ringbridge
users jwt create`; and what every RingCentral token answer carries besides the tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from sqlalchemy import select

from bridge.cli import main
from bridge.store.ids import encode_id
from bridge.store.models import JwtSigningKey
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.login_attempts import app_client
from tests.support.json_answers import json_of
from tests.surfaces.portsip.oauth_users import PASSWORD, add_user, bearer
from tests.surfaces.ringcentral.oauth_logins import RINGOUT, basic, login, token

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ANSWER_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token",
                 "refresh_token_expires_in", "scope", "owner_id", "endpoint_id"}
Cli = Callable[..., Result]


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`ringbridge` on the API's database."""
    monkeypatch.delenv("RINGBRIDGE_CONFIG", raising=False)
    monkeypatch.setenv("RINGBRIDGE_DATABASE_URL", database.url)
    return lambda *args: CliRunner().invoke(main, list(args))


def make_credential(cli: Cli, who: TenantAuth, *extra: str, username: str = "api") -> str:
    made = cli("users", "jwt", "create", "--tenant", who.company_id, "--username", username,
               *extra)
    assert made.exit_code == 0, made.output
    return made.stdout.strip()


def exchange(client: FlaskClient, assertion: str,
             headers: dict[str, str] | None = None) -> Any:
    return token(client, headers=headers, grant_type=JWT_BEARER, assertion=assertion)


def add_extension(client: FlaskClient, who: TenantAuth, number: str,
                  owner: int | None = None) -> str:
    body = {"extension_number": number, **({"user_id": encode_id(owner)} if owner else {})}
    created = client.post("/api/extensions", headers=who.headers, json=body)
    assert created.status_code == 200, created.json
    return str(json_of(created)["id"])


def signed(database: Database, who: TenantAuth, credential: str, **claims: Any) -> str:
    """`credential` with `claims` changed, signed again with `who`'s tenant key."""
    with database.session() as session:
        key = session.scalars(select(JwtSigningKey.secret).where(
            JwtSigningKey.tenant_id == who.tenant_id)).one()
    payload = {**jwt.decode(credential, options={"verify_signature": False}), **claims}
    return jwt.encode(payload, bytes.fromhex(key), algorithm="HS256")


def test_a_credential_is_exchanged_for_tokens_that_drive_ringout(
    client: FlaskClient, database: Database, acme: TenantAuth, cli: Cli,
) -> None:
    user_id = add_user(database, acme, password=None)  # a server app needs no password
    add_extension(client, acme, "3001", user_id)
    response = exchange(client, make_credential(cli, acme))
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = json_of(response)
    assert set(body) == ANSWER_FIELDS
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    assert body["scope"] == "RingOut ReadAccounts"
    started = client.post(RINGOUT, headers=bearer(body["access_token"]), json={
        "from": {"phoneNumber": "3001"}, "to": {"phoneNumber": "+14155550123"}})
    assert started.status_code == 200, started.json
    refreshed = token(client, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200


def test_owner_id_is_the_extension_tilde_names_and_endpoint_id_the_login(
    client: FlaskClient, database: Database, acme: TenantAuth, cli: Cli,
) -> None:
    user_id = add_user(database, acme)
    assert login(client)["owner_id"] is None  # owns no extension yet
    add_extension(client, acme, "3002", user_id)
    lowest = add_extension(client, acme, "3001", user_id)
    add_extension(client, acme, "3000")  # nobody's
    first = login(client)
    assert first["owner_id"] == lowest
    assert json_of(exchange(client, make_credential(cli, acme)))["owner_id"] == lowest
    refreshed = json_of(token(client, grant_type="refresh_token",
                              refresh_token=first["refresh_token"]))
    assert refreshed["endpoint_id"] == first["endpoint_id"]
    assert login(client)["endpoint_id"] != first["endpoint_id"]


def assert_invalid_grant(response: Any) -> None:
    assert response.status_code == 400, response.json
    body = json_of(response)
    assert (body["error"], body["errorCode"]) == ("invalid_grant", "OAU-140")
    assert body["errors"][0]["errorCode"] == "OAU-140"


REFUSED: dict[str, Callable[[Database, TenantAuth, TenantAuth, str], str]] = {
    "expired": lambda db, acme, _, good: signed(
        db, acme, good, exp=datetime.now(UTC) - timedelta(seconds=1)),
    "forged with another key": lambda _db, _acme, _g, good: jwt.encode(
        jwt.decode(good, options={"verify_signature": False}), b"k" * 32, algorithm="HS256"),
    "another tenant's key for this tenant's credential": lambda db, _, globex, good: signed(
        db, globex, good),
    "another user's": lambda db, acme, _, good: signed(db, acme, good, sub=encode_id(1)),
    "moved to another tenant": lambda db, _, globex, good: signed(
        db, globex, good, tenant=encode_id(globex.tenant_id)),
    "an unknown id": lambda db, acme, _, good: signed(db, acme, good, jti=encode_id(10**17)),
    "another issuer": lambda db, acme, _, good: signed(db, acme, good, iss="someone"),
    "unsigned": lambda _db, _acme, _g, good: jwt.encode(
        jwt.decode(good, options={"verify_signature": False}), None, algorithm="none"),
    "malformed": lambda *_: "not-a-jwt",
    "three garbled parts": lambda *_: "a.b.c",
}


@pytest.mark.parametrize("how", REFUSED)
def test_a_bad_assertion_is_invalid_grant(
    client: FlaskClient, database: Database, acme: TenantAuth, globex: TenantAuth,
    cli: Cli, how: str,
) -> None:
    add_user(database, acme)
    add_user(database, globex)
    good = make_credential(cli, acme)
    make_credential(cli, globex)  # globex has a key of its own
    assert_invalid_grant(exchange(client, REFUSED[how](database, acme, globex, good)))
    assert exchange(client, good).status_code == 200


def test_a_revoked_credential_is_invalid_grant_and_its_tokens_live_on(
    client: FlaskClient, database: Database, acme: TenantAuth, cli: Cli,
) -> None:
    add_user(database, acme)
    made = cli("users", "jwt", "create", "--tenant", acme.company_id, "--username", "api")
    credential, credential_id = made.stdout.strip(), made.stderr.split()[3]
    access = json_of(exchange(client, credential))["access_token"]
    revoked = cli("users", "jwt", "revoke", credential_id)
    assert revoked.exit_code == 0 and revoked.stdout == f"JWT credential {credential_id} revoked\n"
    response = exchange(client, credential)
    assert_invalid_grant(response)
    assert "revoked" in json_of(response)["message"]
    assert json_of(client.get(f"{RINGOUT}/1", headers=bearer(access)))["errorCode"] == "CMN-102"


def test_another_tenants_credential_is_refused_when_the_client_id_names_a_tenant(
    client: FlaskClient, database: Database, acme: TenantAuth, globex: TenantAuth, cli: Cli,
) -> None:
    add_user(database, globex)
    credential = make_credential(cli, globex)
    assert_invalid_grant(exchange(client, credential, basic(acme.company_id)))
    assert exchange(client, credential, basic(globex.company_id)).status_code == 200
    assert exchange(client, credential, basic("some-app")).status_code == 200


@pytest.mark.parametrize("form, parameter", [
    ({"grant_type": JWT_BEARER}, "assertion"),
    ({"grant_type": JWT_BEARER, "assertion": ""}, "assertion"),
    ({"grant_type": ""}, "grant_type"),
])
def test_a_missing_assertion_is_invalid_request_naming_it(
    client: FlaskClient, acme: TenantAuth, form: dict[str, str], parameter: str,
) -> None:
    body = json_of(token(client, None, **form))
    assert (body["error"], body["errorCode"]) == ("invalid_request", "CMN-101")
    assert body["errors"][0]["parameterName"] == parameter


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code",
                                        JWT_BEARER.upper()])
def test_an_unknown_grant_type_is_unsupported_grant_type(
    client: FlaskClient, acme: TenantAuth, grant_type: str,
) -> None:
    response = token(client, grant_type=grant_type, assertion="x")
    assert response.status_code == 400
    body = json_of(response)
    assert set(body) == {"error", "error_description", "errorCode", "message", "errors"}
    assert (body["error"], body["errorCode"]) == ("unsupported_grant_type", "CMN-101")
    assert body["errors"][0]["parameterName"] == "grant_type"
    assert JWT_BEARER in body["message"]


def test_portsip_takes_no_jwt_grant(client: FlaskClient, database: Database,
                                    acme: TenantAuth, cli: Cli) -> None:
    add_user(database, acme)
    response = client.post("/api/login/oauth/token", data={
        "grant_type": JWT_BEARER, "assertion": make_credential(cli, acme)})
    assert response.status_code == 400
    (error,) = json_of(response)["errors"]
    assert error["code"] == "unsupported_grant_type"
    assert error["message"] == "grant_type must be one of: password, refresh_token"


def test_list_shows_last_use_after_an_exchange_and_never_the_credential(
    client: FlaskClient, database: Database, acme: TenantAuth, cli: Cli,
) -> None:
    add_user(database, acme)
    add_user(database, acme, "other")
    credential = make_credential(cli, acme, "--label", "dispatch app")
    make_credential(cli, acme, username="other")

    def listed(*extra: str) -> list[list[str]]:
        result = cli("users", "jwt", "list", "--tenant", acme.company_id, *extra)
        assert result.exit_code == 0, result.output
        assert credential.split(".")[2] not in result.output
        return [line.split("\t") for line in result.stdout.splitlines()]

    (before,) = listed("--username", "api")
    assert before[1:3] == ["api", "dispatch app"] and before[5:] == ["-", "-"]
    assert exchange(client, credential).status_code == 200
    (after,) = listed("--username", "api")
    used = datetime.fromisoformat(after[5])
    assert abs(used.replace(tzinfo=used.tzinfo or UTC) - datetime.now(UTC)) < timedelta(
        minutes=1)
    assert sorted(row[1] for row in listed()) == ["api", "other"]


def test_failed_assertions_count_against_the_address_like_failed_passwords(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth, cli: Cli,
) -> None:
    add_user(database, acme)
    credential = make_credential(cli, acme)
    client = app_client(database, provisioner, login_username_failures_per_minute=0,
                        login_address_failures_per_minute=3)

    def attempt(address: str, **form: str) -> Any:
        return client.post("/restapi/oauth/token", headers=basic(), data=form,
                           environ_overrides={"REMOTE_ADDR": address})

    for guess in ("a.b.c", "not-a-jwt"):
        assert_invalid_grant(attempt("192.0.2.7", grant_type=JWT_BEARER, assertion=guess))
    wrong_password = attempt("192.0.2.7", grant_type="password", username="api",
                             password="wrong guess")
    assert_invalid_grant(wrong_password)
    limited = attempt("192.0.2.7", grant_type=JWT_BEARER, assertion=credential)
    assert limited.status_code == 429 and json_of(limited)["errorCode"] == "CMN-301"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert attempt("192.0.2.8", grant_type=JWT_BEARER, assertion=credential,
                   ).status_code == 200
    assert attempt("192.0.2.8", grant_type="password", username="api",
                   password=PASSWORD).status_code == 200


def test_the_openapi_document_describes_the_grant_and_the_answer(client: FlaskClient) -> None:
    spec = json_of(client.get("/openapi.json"))
    operation = spec["paths"]["/restapi/oauth/token"]["post"]
    schemas = spec["components"]["schemas"]

    def schema_of(content: dict[str, Any]) -> dict[str, Any]:
        (media,) = content.values()
        return dict(schemas[media["schema"]["$ref"].rsplit("/", 1)[-1]])

    form = schema_of(operation["requestBody"]["content"])
    grants = {branch["properties"]["grant_type"]["const"]: branch["required"]
              for branch in form["oneOf"]}
    assert grants == {"password": ["username", "password"],
                      "refresh_token": ["refresh_token"], JWT_BEARER: ["assertion"]}
    assert "unsupported_grant_type" in form["properties"]["grant_type"]["description"]
    answer = schema_of(operation["responses"]["200"]["content"])["properties"]
    assert set(answer) == ANSWER_FIELDS
    assert answer["owner_id"]["type"] == ["string", "null"]
    assert "unsupported_grant_type" in operation["responses"]["400"]["description"]
