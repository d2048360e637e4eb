"""RingCentral's rate limits under /restapi/: per user in its four usage plan groups, the
Auth group per client address, with X-Rate-Limit-* headers on every answer of a route."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import ConfigError, Settings, load_settings
from bridge.services.tenants import issue_token
from bridge.store.ids import encode_id
from bridge.store.session import Database
from bridge.surfaces.ringcentral.rate_limits import GROUPS, group_of
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.user_tokens import token_of, user_id
from tests.support.json_answers import json_of
from tests.surfaces.portsip.oauth_users import PASSWORD, add_user
from tests.surfaces.ringcentral.oauth_logins import basic

ACCOUNT = "/restapi/v1.0/account/~"
EXTENSION = ACCOUNT + "/extension/{}"
RINGOUT = EXTENSION + "/ring-out"
TOKEN_URL = "/restapi/oauth/token"
REVOKE_URL = "/restapi/oauth/revoke"
BODY = {"from": {"phoneNumber": "+14155550111"}, "to": {"phoneNumber": "+14155550123"}}
# The group of each route RingCentral defines one for, as its API reference has them.
ROUTE_GROUPS = {
    ("POST", "/restapi/v1.0/account/<account_id>/extension/<extension_id>/ring-out"): "Heavy",
    ("POST", "/restapi/v1.0/account/<account_id>/extension/<extension_id>/ringout"): "Heavy",
    ("GET", "/restapi/v1.0/account/<account_id>/extension/<extension_id>/ring-out/"
            "<ringout_id>"): "Light",
    ("DELETE", "/restapi/v1.0/account/<account_id>/extension/<extension_id>/ring-out/"
               "<ringout_id>"): "Heavy",
    ("GET", "/restapi/v1.0/account/<account_id>"): "Light",
    ("GET", "/restapi/v1.0/account/<account_id>/extension/<extension_id>"): "Light",
    ("GET", "/restapi/v1.0/account/<account_id>/extension/<extension_id>/phone-number"):
        "Light",
    ("POST", "/restapi/oauth/token"): "Auth",
    ("POST", "/restapi/oauth/revoke"): "Auth",
}


def limited_client(database: Database, provisioner: RecordingProvisioner,
                   settings: Settings) -> FlaskClient:
    return create_app(database, provisioner, lambda: Readiness(True, True, True),
                      settings).test_client()


def limit_headers(response: Any) -> tuple[str, str, str, str] | None:
    """(group, limit, remaining, window) of an answer; None when it has none."""
    if "X-Rate-Limit-Group" not in response.headers:
        return None
    return (response.headers["X-Rate-Limit-Group"], response.headers["X-Rate-Limit-Limit"],
            response.headers["X-Rate-Limit-Remaining"], response.headers["X-Rate-Limit-Window"])


def assert_rate_exceeded(response: Any, group: str, limit: int) -> None:
    assert response.status_code == 429, response.json
    body = json_of(response)
    assert body["errorCode"] == "CMN-301" and body["errors"][0]["errorCode"] == "CMN-301"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert limit_headers(response) == (group, str(limit), "0", "60")


def add_extension(client: FlaskClient, who: TenantAuth, number: str,
                  owner: int | None = None) -> str:
    body = {"extension_number": number, **({"user_id": encode_id(owner)} if owner else {})}
    created = client.post("/api/extensions", headers=who.headers, json=body)
    assert created.status_code == 200, created.json
    return str(json_of(created)["id"])


def start(client: FlaskClient, headers: dict[str, str], extension: str = "~",
          body: Any = None) -> Any:
    return client.post(RINGOUT.format(extension), headers=headers,
                       json=BODY if body is None else body)


def test_a_users_ringouts_over_two_extensions_share_one_heavy_count(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    """Issue 19: about 17 Heavy requests in seconds over two extensions before a 429."""
    client = limited_client(database, provisioner, Settings(restapi_heavy_per_minute=3))
    first = add_extension(client, acme, "3001", acme.user_id)
    second = add_extension(client, acme, "3002", acme.user_id)
    ringout_id = json_of(start(client, acme.headers, first))["id"]
    shown = start(client, acme.headers, second)
    assert limit_headers(shown) == ("Heavy", "3", "1", "60")
    cancelled = client.delete(f"{RINGOUT.format(first)}/{ringout_id}", headers=acme.headers)
    assert cancelled.status_code == 204 and limit_headers(cancelled) == ("Heavy", "3", "0", "60")
    assert_rate_exceeded(start(client, acme.headers, second), "Heavy", 3)
    with database.session() as session:  # the user's other token: the same count
        _, other_token = issue_token(session, acme.tenant_id, acme.user_id)
    assert_rate_exceeded(start(client, {"Authorization": f"Bearer {other_token}"}, first),
                         "Heavy", 3)
    assert len(provisioner.ringouts) == 2


def test_two_users_do_not_share_a_count(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    globex: TenantAuth,
) -> None:
    client = limited_client(database, provisioner, Settings(restapi_heavy_per_minute=1))
    ann = token_of(database, acme, "ann")
    add_extension(client, acme, "3001", acme.user_id)
    add_extension(client, acme, "3002", user_id(database, acme, "ann"))
    add_extension(client, globex, "3001", globex.user_id)
    assert start(client, acme.headers).status_code == 200
    assert_rate_exceeded(start(client, acme.headers), "Heavy", 1)
    for headers in (ann, globex.headers):
        response = start(client, headers)
        assert response.status_code == 200, response.json
        assert limit_headers(response) == ("Heavy", "1", "0", "60")


def test_a_token_without_a_user_is_counted_by_itself(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    client = limited_client(database, provisioner, Settings(restapi_heavy_per_minute=1))
    extension = add_extension(client, acme, "3001")
    tenant_wide, other_tenant_wide = token_of(database, acme, None), token_of(database, acme,
                                                                             None)
    assert start(client, tenant_wide, extension).status_code == 200
    assert_rate_exceeded(start(client, tenant_wide, extension), "Heavy", 1)
    for headers in (other_tenant_wide, acme.headers):
        assert start(client, headers, extension).status_code == 200


def test_light_gets_share_a_count_and_the_one_past_the_limit_is_429(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    client = limited_client(database, provisioner, Settings(restapi_light_per_minute=4))
    add_extension(client, acme, "3001", acme.user_id)
    for path, remaining in ((ACCOUNT, "3"), (EXTENSION.format("~"), "2"),
                            (EXTENSION.format("~") + "/phone-number", "1")):
        response = client.get(path, headers=acme.headers)
        assert response.status_code == 200, response.json
        assert limit_headers(response) == ("Light", "4", remaining, "60")
    ringout_id = json_of(start(client, acme.headers))["id"]  # Heavy: counted apart
    shown = client.get(f"{RINGOUT.format('~')}/{ringout_id}", headers=acme.headers)
    assert shown.status_code == 200 and limit_headers(shown) == ("Light", "4", "0", "60")
    assert_rate_exceeded(client.get(ACCOUNT, headers=acme.headers), "Light", 4)


def test_error_answers_of_a_route_carry_the_headers(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    client = limited_client(database, provisioner, Settings(restapi_heavy_per_minute=5,
                                                            restapi_light_per_minute=5))
    add_extension(client, acme, "3001", acme.user_id)
    invalid = start(client, acme.headers, body={"to": {"phoneNumber": "not a number"}})
    assert invalid.status_code == 400 and json_of(invalid)["errorCode"] == "CMN-101"
    assert limit_headers(invalid) == ("Heavy", "5", "4", "60")
    not_json = client.post(RINGOUT.format("~"), headers=acme.headers, data="{}")
    assert not_json.status_code == 415 and limit_headers(not_json) == ("Heavy", "5", "3", "60")
    for path, remaining in ((f"{RINGOUT.format('~')}/123", "4"),
                            (EXTENSION.format("NzAw"), "3")):
        missing = client.get(path, headers=acme.headers)
        assert missing.status_code == 404 and json_of(missing)["errorCode"] == "CMN-102"
        assert limit_headers(missing) == ("Light", "5", remaining, "60")


def test_requests_refused_before_authentication_are_neither_counted_nor_given_headers(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    client = limited_client(database, provisioner, Settings(restapi_light_per_minute=2))
    with database.session() as session:
        _, expired = issue_token(session, acme.tenant_id, acme.user_id,
                                 lifetime=timedelta(seconds=-1))
    for headers in ({}, {"Authorization": "Bearer rb_nope"},
                    {"Authorization": f"Bearer {expired}"}):
        for _ in range(3):
            refused = client.get(ACCOUNT, headers=headers)
            assert refused.status_code == 401 and limit_headers(refused) is None
    # Nor are unknown routes and methods: they have no group.
    for unrouted in (client.get("/restapi/v1.0/nothing", headers=acme.headers),
                     client.put(ACCOUNT, headers=acme.headers)):
        assert unrouted.status_code in (404, 405) and limit_headers(unrouted) is None
    counted = client.get(ACCOUNT, headers=acme.headers)
    assert limit_headers(counted) == ("Light", "2", "1", "60")


def test_the_oauth_endpoints_are_the_auth_group_per_client_address(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    add_user(database, acme)
    client = limited_client(database, provisioner, Settings(restapi_auth_per_minute=3))

    def post(url: str, address: str, form: dict[str, str],
             headers: dict[str, str] | None = None) -> Any:
        return client.post(url, headers=basic() if headers is None else headers, data=form,
                           environ_overrides={"REMOTE_ADDR": address})

    login = {"grant_type": "password", "username": "api", "password": PASSWORD}
    granted = post(TOKEN_URL, "192.0.2.7", login)
    assert granted.status_code == 200 and limit_headers(granted) == ("Auth", "3", "2", "60")
    wrong = post(TOKEN_URL, "192.0.2.7", {**login, "password": "wrong guess"})
    assert wrong.status_code == 400 and limit_headers(wrong) == ("Auth", "3", "1", "60")
    no_client = post(TOKEN_URL, "192.0.2.7", login, headers={})  # no client credentials
    assert no_client.status_code == 401 and limit_headers(no_client) == ("Auth", "3", "0", "60")
    assert_rate_exceeded(post(TOKEN_URL, "192.0.2.7", login), "Auth", 3)
    access = json_of(granted)["access_token"]
    assert_rate_exceeded(post(REVOKE_URL, "192.0.2.7", {"token": access}), "Auth", 3)
    revoked = post(REVOKE_URL, "192.0.2.8", {"token": access})
    assert revoked.status_code == 200 and limit_headers(revoked) == ("Auth", "3", "2", "60")


def test_a_group_set_to_0_has_no_limit_and_no_headers(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    client = limited_client(database, provisioner, Settings(restapi_light_per_minute=0,
                                                            restapi_heavy_per_minute=1))
    add_extension(client, acme, "3001", acme.user_id)
    for _ in range(60):
        unlimited = client.get(ACCOUNT, headers=acme.headers)
        assert unlimited.status_code == 200 and limit_headers(unlimited) is None
    assert limit_headers(start(client, acme.headers)) == ("Heavy", "1", "0", "60")


def test_the_old_setting_names_still_apply(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    settings = load_settings(environ={"RINGBRIDGE_RINGOUT_HEAVY_PER_MINUTE": "1",
                                      "RINGBRIDGE_RINGOUT_LIGHT_PER_MINUTE": "0"})
    assert (settings.restapi_heavy_per_minute, settings.restapi_light_per_minute) == (1, 0)
    client = limited_client(database, provisioner, settings)
    add_extension(client, acme, "3001", acme.user_id)
    ringout_id = json_of(start(client, acme.headers))["id"]
    assert_rate_exceeded(start(client, acme.headers), "Heavy", 1)
    shown = client.get(f"{RINGOUT.format('~')}/{ringout_id}", headers=acme.headers)
    assert shown.status_code == 200 and limit_headers(shown) is None


@pytest.mark.parametrize("in_file, in_environment", [
    ("ringout_heavy_per_minute = 7", {"RINGBRIDGE_RESTAPI_HEAVY_PER_MINUTE": "3"}),
    ("restapi_heavy_per_minute = 3", {"RINGBRIDGE_RINGOUT_HEAVY_PER_MINUTE": "7"}),
    ("ringout_heavy_per_minute = 7\nrestapi_heavy_per_minute = 3", {}),
])
def test_where_both_names_are_set_the_new_one_wins(
    tmp_path: Path, in_file: str, in_environment: dict[str, str],
) -> None:
    path = tmp_path / "ringbridge.toml"
    path.write_text(in_file + "\n")
    assert load_settings(path, in_environment).restapi_heavy_per_minute == 3


def test_an_old_name_out_of_range_is_refused_by_that_name(tmp_path: Path) -> None:
    path = tmp_path / "ringbridge.toml"
    path.write_text("ringout_light_per_minute = -1\n")
    with pytest.raises(ConfigError) as failed:
        load_settings(path, {})
    assert str(failed.value) == (f"config file {path}: ringout_light_per_minute must be at "
                                 "least 0, got -1")


def test_every_restapi_route_names_its_group_and_documents_429(client: FlaskClient) -> None:
    """A new route under /restapi/ needs `@rate_group(...)` and a documented 429."""
    app = client.application
    spec = json_of(client.get("/openapi.json"))
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/restapi/"):
            continue
        group = group_of(app.view_functions[rule.endpoint])
        assert group in GROUPS, rule.rule
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found[(method, rule.rule)] = group
            assert "429" in spec["paths"][path][method.lower()]["responses"], (method, path)
    assert found.items() >= ROUTE_GROUPS.items()
