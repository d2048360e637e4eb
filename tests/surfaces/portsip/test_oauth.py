"""/api/login/oauth: password and refresh_token grants (as PortSIP's clients send them,
and by company id), rotation, revocation, and which tokens are bearer tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from bridge.cli import main
from bridge.services.errors import ValidationFailed
from bridge.services.tenants import (
    hash_password,
    hash_token,
    verify_password,
)
from bridge.store.ids import encode_id
from bridge.store.models import ApiToken, User
from bridge.store.session import Database
from bridge.surfaces.portsip.oauth import VENDOR_CLIENT_ID
from tests.api.conftest import TenantAuth, assert_no_body
from tests.support.json_answers import json_of
from tests.surfaces.portsip.oauth_users import PASSWORD, add_user, bearer, expire

TOKEN_URL = "/api/login/oauth/token"
REVOKE_URL = "/api/login/oauth/revoke"


def vendor_login(who: TenantAuth, password: str = PASSWORD) -> dict[str, str]:
    """The password grant's form as PortSIP documents it."""
    return {"grant_type": "password", "username": "api", "password": password,
            "domain": who.sip_domain, "scope": "all", "client_id": VENDOR_CLIENT_ID}


def grant(client: FlaskClient, **form: str) -> Any:
    return client.post(TOKEN_URL, data=form)


def login(client: FlaskClient, username: str = "api", password: str = PASSWORD,
          **form: str) -> dict[str, Any]:
    response = grant(client, grant_type="password", username=username, password=password,
                     scope="all", **form)
    assert response.status_code == 200, response.json
    return dict(response.json)


def error_of(response: Any) -> dict[str, Any]:
    (error,) = response.json["errors"]
    return dict(error)


class TestPasswordGrant:
    def test_tokens_work_on_every_api_of_the_users_tenant(
        self, client: FlaskClient, database: Database, acme: TenantAuth, globex: TenantAuth
    ) -> None:
        add_user(database, acme, role="admin")
        client.post("/api/extensions", json={"extension_number": "1001"}, headers=acme.headers)
        response = grant(client, grant_type="password", username="api", password=PASSWORD,
                         scope="all", client_id=acme.company_id)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json
        assert set(body) == {"access_token", "expires_in", "refresh_token", "token_type"}
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        assert body["access_token"] != body["refresh_token"]
        extensions = client.get("/api/extensions", headers=bearer(body["access_token"]))
        assert extensions.status_code == 200 and json_of(extensions)["count"] == 1
        created = client.post("/api/ring_groups", headers=bearer(body["access_token"]), json={
            "name": "Sales", "extension_number": "6000", "ring_strategy": "CYCLIC_HUNT"})
        assert created.status_code == 200
        assert json_of(client.get("/api/ring_groups", headers=acme.headers))["count"] == 1
        assert json_of(client.get("/api/ring_groups", headers=globex.headers))["count"] == 0

    def test_a_vendor_login_token_works_on_ringout_and_phone_calls(
        self, client: FlaskClient, database: Database, acme: TenantAuth
    ) -> None:
        user_id = add_user(database, acme)
        client.post("/api/extensions", headers=acme.headers, json={
            "extension_number": "3001", "user_id": encode_id(user_id)})
        token = grant(client, **vendor_login(acme)).json["access_token"]
        ringout = client.post("/restapi/v1.0/account/~/extension/~/ring-out",
                              headers=bearer(token), json={
                                  "from": {"phoneNumber": "3001"},
                                  "to": {"phoneNumber": "+14155550123"}})
        assert ringout.status_code == 200, ringout.json
        shown = client.get(f"/restapi/v1.0/account/~/extension/~/ring-out/"
                           f"{json_of(ringout)['id']}", headers=bearer(token))
        assert shown.status_code == 200
        calls = client.get("/uapi/phoneCalls/@me/3001", headers=bearer(token))
        assert calls.status_code == 200 and json_of(calls)["totalResults"] == 0
        assert client.get("/uapi/phoneCalls/@me/@self", headers=bearer(token)).status_code == 200

    def test_the_vendors_client_id_names_no_tenant(self, client: FlaskClient,
                                                   database: Database,
                                                   acme: TenantAuth) -> None:
        add_user(database, acme)
        assert login(client, client_id=VENDOR_CLIENT_ID)["token_type"] == "Bearer"

    def test_lifetimes(self, client: FlaskClient, database: Database,
                       acme: TenantAuth) -> None:
        add_user(database, acme)
        body = login(client)
        with database.session() as session:
            rows = {row.kind: row for row in session.scalars(
                select(ApiToken).where(ApiToken.kind != "api"))}
        access, refresh = rows["access"], rows["refresh"]
        assert access.token_hash == hash_token(body["access_token"])
        assert refresh.token_hash == hash_token(body["refresh_token"])
        for row, lifetime in ((access, timedelta(hours=1)), (refresh, timedelta(days=30))):
            assert row.expires_at is not None and row.user_id is not None
            expires = row.expires_at.replace(tzinfo=UTC) if row.expires_at.tzinfo is None \
                else row.expires_at
            assert abs(expires - datetime.now(UTC) - lifetime) < timedelta(minutes=1)

    @pytest.mark.parametrize("username, password", [
        ("api", "wrong password"), ("nobody", PASSWORD), ("API", PASSWORD),
        ("nopass", PASSWORD),
    ])
    def test_wrong_credentials_are_401(self, client: FlaskClient, database: Database,
                                       acme: TenantAuth, username: str, password: str) -> None:
        add_user(database, acme)
        add_user(database, acme, "nopass", password=None)
        response = grant(client, grant_type="password", username=username, password=password)
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHORIZED"

    @pytest.mark.parametrize("form, field", [
        ({}, "grant_type"),
        ({"grant_type": "password", "password": PASSWORD}, "username"),
        ({"grant_type": "password", "username": "api"}, "password"),
        ({"grant_type": "password", "username": "api", "password": PASSWORD, "scope": "admin"},
         "scope"),
        ({"grant_type": "refresh_token"}, "refresh_token"),
    ])
    def test_bad_grants_are_400(self, client: FlaskClient, database: Database,
                                acme: TenantAuth, form: dict[str, str], field: str) -> None:
        add_user(database, acme)
        response = grant(client, **form)
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "VALIDATE_FAILED" and error["message"].startswith(f"{field}:")

    @pytest.mark.parametrize("grant_type", ["client_credentials",
                                            "urn:ietf:params:oauth:grant-type:jwt-bearer"])
    def test_another_grant_type_is_unsupported_grant_type(
        self, client: FlaskClient, acme: TenantAuth, grant_type: str,
    ) -> None:
        """RFC 6749 5.2; the JWT bearer grant is RingCentral's surface's only."""
        response = grant(client, grant_type=grant_type)
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "unsupported_grant_type"
        assert error["detail"] == {"field": "grant_type"}

    def test_a_json_body_is_not_a_form(self, client: FlaskClient, database: Database,
                                       acme: TenantAuth) -> None:
        add_user(database, acme)
        response = client.post(TOKEN_URL, json={"grant_type": "password", "username": "api",
                                                "password": PASSWORD})
        assert response.status_code == 400

    def test_extra_oauth_fields_are_ignored(self, client: FlaskClient, database: Database,
                                            acme: TenantAuth) -> None:
        add_user(database, acme)
        assert login(client, client_secret="whatever")["token_type"] == "Bearer"


class TestUsernameInTwoTenants:
    @pytest.fixture(autouse=True)
    def users(self, database: Database, acme: TenantAuth, globex: TenantAuth) -> None:
        add_user(database, acme, role="admin")
        add_user(database, globex, password="globex password", role="admin")

    def test_client_id_picks_the_tenant(self, client: FlaskClient, acme: TenantAuth,
                                        globex: TenantAuth) -> None:
        client.post("/api/extensions", json={"extension_number": "1001"}, headers=acme.headers)
        acme_token = login(client, client_id=acme.company_id)["access_token"]
        globex_token = login(client, password="globex password",
                             client_id=globex.company_id)["access_token"]
        assert json_of(client.get("/api/extensions", headers=bearer(acme_token)))["count"] == 1
        assert json_of(client.get("/api/extensions", headers=bearer(globex_token)))["count"] == 0

    @pytest.mark.parametrize("client_id", [None, VENDOR_CLIENT_ID])
    def test_naming_no_tenant_a_right_password_is_told_to_give_the_domain(
        self, client: FlaskClient, client_id: str | None
    ) -> None:
        form = {"grant_type": "password", "username": "api", "password": PASSWORD}
        response = grant(client, **form, **({"client_id": client_id} if client_id else {}))
        assert response.status_code == 400
        error = error_of(response)
        assert error["detail"] == {"field": "domain"}
        assert "more than one tenant" in error["message"]

    def test_the_domain_picks_the_tenant(self, client: FlaskClient, acme: TenantAuth,
                                         globex: TenantAuth) -> None:
        client.post("/api/extensions", json={"extension_number": "1001"}, headers=acme.headers)
        acme_token = grant(client, **vendor_login(acme)).json["access_token"]
        globex_token = grant(client, **vendor_login(globex, "globex password")).json[
            "access_token"]
        assert json_of(client.get("/api/extensions", headers=bearer(acme_token)))["count"] == 1
        assert json_of(client.get("/api/extensions", headers=bearer(globex_token)))["count"] == 0

    def test_the_domain_is_read_in_any_case_and_wins_over_a_company_id(
        self, client: FlaskClient, acme: TenantAuth, globex: TenantAuth
    ) -> None:
        form = {**vendor_login(acme), "domain": "ABC.Example", "client_id": globex.company_id}
        response = grant(client, **form)
        assert response.status_code == 200, response.json
        extensions = client.get("/api/extensions",
                                headers=bearer(response.json["access_token"]))
        assert extensions.status_code == 200

    @pytest.mark.parametrize("domain", ["globex.example", "nowhere.example"])
    def test_another_or_unknown_domain_is_401(self, client: FlaskClient, acme: TenantAuth,
                                              domain: str) -> None:
        response = grant(client, **{**vendor_login(acme), "domain": domain})
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHORIZED"

    @pytest.mark.parametrize("client_id", [None, "1645780", "no such company",
                                           VENDOR_CLIENT_ID])
    def test_a_wrong_password_learns_nothing(self, client: FlaskClient,
                                             client_id: str | None) -> None:
        form = {"grant_type": "password", "username": "api", "password": "wrong password"}
        response = grant(client, **form, **({"client_id": client_id} if client_id else {}))
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHORIZED"

    def test_the_other_tenants_password_does_not_open_this_one(
        self, client: FlaskClient, globex: TenantAuth
    ) -> None:
        response = grant(client, grant_type="password", username="api", password=PASSWORD,
                         client_id=globex.company_id)
        assert response.status_code == 401


class TestRefreshAndRevoke:
    @pytest.fixture
    def tokens(self, client: FlaskClient, database: Database,
               acme: TenantAuth) -> dict[str, Any]:
        add_user(database, acme, role="admin")
        return login(client)

    def refresh(self, client: FlaskClient, refresh_token: str) -> Any:
        return grant(client, grant_type="refresh_token", refresh_token=refresh_token)

    def test_refresh_rotates(self, client: FlaskClient, tokens: dict[str, Any]) -> None:
        first = self.refresh(client, tokens["refresh_token"])
        assert first.status_code == 200
        fresh = first.json
        assert fresh["token_type"] == "Bearer" and fresh["expires_in"] == 3600
        assert {fresh["access_token"], fresh["refresh_token"]}.isdisjoint(tokens.values())
        assert client.get("/api/ring_groups",
                          headers=bearer(fresh["access_token"])).status_code == 200
        replay = self.refresh(client, tokens["refresh_token"])
        assert replay.status_code == 401 and error_of(replay)["code"] == "UNAUTHORIZED"
        assert self.refresh(client, fresh["refresh_token"]).status_code == 200

    def test_a_refresh_token_is_not_a_bearer_token(self, client: FlaskClient,
                                                   tokens: dict[str, Any]) -> None:
        for path in ("/api/ring_groups", "/api/extensions"):
            response = client.get(path, headers=bearer(tokens["refresh_token"]))
            assert response.status_code == 401
            assert error_of(response)["code"] == "UNAUTHORIZED"

    def test_an_access_or_api_token_is_not_a_refresh_token(
        self, client: FlaskClient, acme: TenantAuth, tokens: dict[str, Any]
    ) -> None:
        for token in (tokens["access_token"], acme.token, "rb_nope"):
            assert self.refresh(client, token).status_code == 401

    def test_an_expired_access_token_is_401(self, client: FlaskClient, database: Database,
                                            tokens: dict[str, Any]) -> None:
        expire(database, tokens["access_token"])
        for path in ("/api/ring_groups", "/api/extensions"):
            assert client.get(path, headers=bearer(tokens["access_token"])).status_code == 401
        fresh = self.refresh(client, tokens["refresh_token"]).json
        assert client.get("/api/extensions",
                          headers=bearer(fresh["access_token"])).status_code == 200

    def test_an_expired_refresh_token_is_401(self, client: FlaskClient, database: Database,
                                             tokens: dict[str, Any]) -> None:
        expire(database, tokens["refresh_token"])
        assert self.refresh(client, tokens["refresh_token"]).status_code == 401

    def assert_ended(self, client: FlaskClient, tokens: dict[str, Any]) -> None:
        """Neither token of the pair works any more: the login is over."""
        assert client.get("/api/extensions",
                          headers=bearer(tokens["access_token"])).status_code == 401
        assert self.refresh(client, tokens["refresh_token"]).status_code == 401

    @pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
    @pytest.mark.parametrize("hinted", [False, True])
    def test_revoking_either_token_of_a_pair_ends_both(
        self, client: FlaskClient, tokens: dict[str, Any], kind: str, hinted: bool,
    ) -> None:
        """Logout (revoking the access token) left the refresh token working (issue 13)."""
        form = {"token": tokens[kind], **({"token_type_hint": kind} if hinted else {})}
        assert_no_body(client.post(REVOKE_URL, data=form), 200)
        self.assert_ended(client, tokens)

    @pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
    def test_revoking_a_token_ends_every_token_refreshed_from_it(
        self, client: FlaskClient, database: Database, tokens: dict[str, Any], kind: str,
    ) -> None:
        second = self.refresh(client, tokens["refresh_token"]).json
        third = self.refresh(client, second["refresh_token"]).json
        other_login = login(client)
        assert client.post(REVOKE_URL, data={"token": tokens[kind]}).status_code == 200
        for pair in (second, third):
            self.assert_ended(client, pair)
        assert client.get("/api/extensions",
                          headers=bearer(other_login["access_token"])).status_code == 200

    def test_a_refresh_retires_the_old_access_token(
        self, client: FlaskClient, tokens: dict[str, Any],
    ) -> None:
        """The access token stayed valid after its refresh (issue 13)."""
        fresh = self.refresh(client, tokens["refresh_token"]).json
        assert client.get("/api/extensions",
                          headers=bearer(tokens["access_token"])).status_code == 401
        assert client.get("/api/extensions",
                          headers=bearer(fresh["access_token"])).status_code == 200

    def test_revoke_ignores_unknown_tokens(self, client: FlaskClient,
                                           tokens: dict[str, Any]) -> None:
        for token in ("rb_unknown", "1"):
            assert client.post(REVOKE_URL, data={"token": token}).status_code == 200
        assert client.get("/api/extensions",
                          headers=bearer(tokens["access_token"])).status_code == 200

    @pytest.mark.parametrize("hint", [None, "access_token"])
    def test_a_cli_token_is_an_unsupported_token_type(
        self, client: FlaskClient, acme: TenantAuth, hint: str | None,
    ) -> None:
        form = {"token": acme.token, **({"token_type_hint": hint} if hint else {})}
        response = client.post(REVOKE_URL, data=form)
        assert response.status_code == 400
        assert error_of(response)["code"] == "unsupported_token_type"
        assert client.get("/api/extensions", headers=acme.headers).status_code == 200

    @pytest.mark.parametrize("hint", ["id_token", "device_code", "ACCESS_TOKEN"])
    def test_another_token_type_hint_is_an_unsupported_token_type(
        self, client: FlaskClient, tokens: dict[str, Any], hint: str,
    ) -> None:
        response = client.post(REVOKE_URL, data={"token": tokens["access_token"],
                                                 "token_type_hint": hint})
        assert response.status_code == 400
        assert error_of(response)["code"] == "unsupported_token_type"
        assert client.get("/api/extensions",
                          headers=bearer(tokens["access_token"])).status_code == 200

    def test_revoke_with_only_the_bearer_header_ends_that_login(
        self, client: FlaskClient, tokens: dict[str, Any]
    ) -> None:
        assert_no_body(client.post(REVOKE_URL, headers=bearer(tokens["access_token"])), 200)
        for path in ("/api/extensions", "/restapi/v1.0/account/~/extension/~/ring-out/1",
                     "/uapi/phoneCalls/@me/@self"):
            assert client.get(path, headers=bearer(tokens["access_token"])).status_code == 401
        assert self.refresh(client, tokens["refresh_token"]).status_code == 401

    def test_a_token_field_wins_over_the_bearer_header(
        self, client: FlaskClient, tokens: dict[str, Any]
    ) -> None:
        other = login(client)
        response = client.post(REVOKE_URL, headers=bearer(tokens["access_token"]),
                               data={"token": other["refresh_token"]})
        assert response.status_code == 200
        self.assert_ended(client, other)
        assert client.get("/api/extensions",
                          headers=bearer(tokens["access_token"])).status_code == 200

    @pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YXBpOnB3"},
                                         {"Authorization": "Bearer"}])
    def test_revoke_without_any_token_is_401(self, client: FlaskClient,
                                             headers: dict[str, str]) -> None:
        response = client.post(REVOKE_URL, headers=headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHORIZED"

    def test_an_empty_token_field_is_400(self, client: FlaskClient) -> None:
        response = client.post(REVOKE_URL, data={"token": ""})
        assert response.status_code == 400
        assert error_of(response)["message"].startswith("token:")


class TestPasswords:
    def test_hash_is_salted_scrypt_and_verifies(self) -> None:
        first, second = hash_password(PASSWORD), hash_password(PASSWORD)
        assert first.startswith("scrypt$") and first != second and PASSWORD not in first
        assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
        assert not verify_password(PASSWORD + "x", first)

    @pytest.mark.parametrize("stored", [None, "", "plain", "scrypt$1$2$3$x$y",
                                        "bcrypt$16384$8$1$AAAA$AAAA"])
    def test_anything_else_never_verifies(self, stored: str | None) -> None:
        assert not verify_password(PASSWORD, stored)

    @pytest.mark.parametrize("password", ["short", "x" * 129])
    def test_length_rules(self, password: str) -> None:
        with pytest.raises(ValidationFailed):
            hash_password(password)

    def test_cli_creates_a_user_with_a_prompted_password(
        self, client: FlaskClient, database: Database, acme: TenantAuth,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("RINGBRIDGE_DATABASE_URL", database.url)
        runner = CliRunner()
        result = runner.invoke(main, ["users", "create", "--tenant", acme.company_id,
                                      "--username", "cli-user", "--password"],
                               input=f"{PASSWORD}\n{PASSWORD}\n")
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output
        assert login(client, username="cli-user")["token_type"] == "Bearer"
        short = runner.invoke(main, ["users", "create", "--tenant", acme.company_id,
                                     "--username", "other", "--password"],
                              input="short\nshort\n")
        assert short.exit_code != 0 and "8..128" in short.output
        with database.session() as session:
            assert session.scalar(select(User).where(User.username == "other")) is None
