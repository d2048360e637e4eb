"""Roles under /restapi/ and /uapi/: a user's token reaches only the user's own
extensions; an admin's, or a token without a user, every extension of its tenant."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.services.tenants import find_tenant, find_user, set_role
from bridge.store.ids import encode_id
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.user_tokens import add_extension, token_of, user_id
from tests.support.json_answers import json_of
from tests.surfaces.voipnow.live_calls import live_call

RINGOUT = "/restapi/v1.0/account/~/extension/{}/ring-out"


@pytest.fixture
def office(client: FlaskClient, database: Database, acme: TenantAuth) -> dict[str, Any]:
    """Ann (a user) owns 3001, Bob (a user) owns 3002, 3003 is nobody's."""
    ann, bob = token_of(database, acme, "ann"), token_of(database, acme, "bob")
    ids = {number: add_extension(client, acme, number,
                                 user_id(database, acme, owner) if owner else None)
           for number, owner in (("3001", "ann"), ("3002", "bob"), ("3003", None))}
    return {"ann": ann, "bob": bob, "ids": ids}


def ring_out(client: FlaskClient, headers: dict[str, str], extension_id: str,
             **body: Any) -> Any:
    return client.post(RINGOUT.format(extension_id), headers=headers, json={
        "from": {"phoneNumber": "+14155550111"}, "to": {"phoneNumber": "+14155550123"},
        **body})


def assert_not_permitted(response: Any) -> None:
    assert response.status_code == 403, response.json
    assert response.json["errorCode"] == "CMN-408"
    assert response.json["errors"][0]["parameterName"] == "extensionId"


class TestRingOut:
    def test_a_users_token_rings_out_only_from_its_own_extension(
        self, client: FlaskClient, office: dict[str, Any], provisioner: RecordingProvisioner,
    ) -> None:
        ids = office["ids"]
        assert ring_out(client, office["ann"], ids["3001"]).status_code == 200
        assert ring_out(client, office["ann"], "~").status_code == 200
        for other in (ids["3002"], ids["3003"]):
            assert_not_permitted(ring_out(client, office["ann"], other))
        assert_not_permitted(ring_out(client, office["ann"], ids["3002"],
                                      callerId={"phoneNumber": "+14155553002"}))
        assert len(provisioner.ringouts) == 2

    def test_a_user_cannot_read_or_cancel_anothers_ringout(
        self, client: FlaskClient, office: dict[str, Any], provisioner: RecordingProvisioner,
    ) -> None:
        bobs = office["ids"]["3002"]
        started = ring_out(client, office["bob"], bobs)
        assert started.status_code == 200, started.json
        path = f"{RINGOUT.format(bobs)}/{started.json['id']}"
        assert_not_permitted(client.get(path, headers=office["ann"]))
        assert_not_permitted(client.delete(path, headers=office["ann"]))
        assert provisioner.cancelled == []
        assert client.get(path, headers=office["bob"]).status_code == 200

    @pytest.mark.parametrize("username", ["boss", None], ids=["admin user", "no user"])
    def test_an_admin_and_a_token_without_a_user_reach_every_extension(
        self, client: FlaskClient, database: Database, acme: TenantAuth,
        office: dict[str, Any], username: str | None,
    ) -> None:
        admin = token_of(database, acme, username, role="admin")
        for extension_id in office["ids"].values():
            started = ring_out(client, admin, extension_id)
            assert started.status_code == 200, started.json
            path = f"{RINGOUT.format(extension_id)}/{started.json['id']}"
            assert client.get(path, headers=admin).status_code == 200
            assert client.delete(path, headers=admin).status_code == 204

    def test_a_role_change_applies_to_the_users_tokens_at_once(
        self, client: FlaskClient, database: Database, acme: TenantAuth,
        office: dict[str, Any],
    ) -> None:
        bobs = office["ids"]["3002"]
        assert_not_permitted(ring_out(client, office["ann"], bobs))
        with database.session() as session:
            set_role(find_user(session, find_tenant(session, acme.company_id), "ann"),
                     "admin")
        assert ring_out(client, office["ann"], bobs).status_code == 200
        with database.session() as session:
            set_role(find_user(session, find_tenant(session, acme.company_id), "ann"),
                     "user")
        assert_not_permitted(ring_out(client, office["ann"], bobs))

    def test_another_tenants_extension_stays_not_found_even_for_an_admin(
        self, client: FlaskClient, acme: TenantAuth, globex: TenantAuth,
        office: dict[str, Any],
    ) -> None:
        response = ring_out(client, globex.headers, office["ids"]["3001"])
        assert response.status_code == 404 and response.json["errorCode"] == "CMN-102"


def uapi_error(response: Any) -> tuple[int, str]:
    assert set(response.json) == {"error"}, response.json
    return response.status_code, response.json["error"]["code"]


class TestPhoneCalls:
    def test_a_user_reaches_only_its_own_extensions(
        self, client: FlaskClient, database: Database, acme: TenantAuth,
        office: dict[str, Any],
    ) -> None:
        ann = office["ann"]
        bob_id = encode_id(user_id(database, acme, "bob"))
        assert client.get("/uapi/phoneCalls/@me/3001", headers=ann).status_code == 200
        assert client.get("/uapi/phoneCalls/@owner/3001", headers=ann).status_code == 200
        for path in ("@owner/3002", "@owner/3003", f"{bob_id}/3002", f"{bob_id}/@self"):
            assert uapi_error(client.get(f"/uapi/phoneCalls/{path}", headers=ann)) == (
                403, "forbidden"), path
            assert uapi_error(client.delete(f"/uapi/phoneCalls/{path}", headers=ann)) == (
                403, "forbidden"), path

    def test_owner_self_lists_only_the_users_own_extensions_calls(
        self, client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
        provisioner: RecordingProvisioner,
    ) -> None:
        provisioner.calls = [live_call(acme, "c1", "3001", "3003"),
                             live_call(acme, "c2", "3002", "3003")]
        listed = client.get("/uapi/phoneCalls/@owner/@self", headers=office["ann"])
        assert [call["id"] for call in json_of(listed)["entry"]] == ["c1"]
        assert client.delete("/uapi/phoneCalls/@owner/@self",
                             headers=office["ann"]).json == [{"id": "c1"}]
        assert [action[2] for action in provisioner.actions] == ["c1"]

    def test_an_admin_reaches_every_extension(
        self, client: FlaskClient, database: Database, acme: TenantAuth,
        office: dict[str, Any], provisioner: RecordingProvisioner,
    ) -> None:
        provisioner.calls = [live_call(acme, "c2", "3002", "3003")]
        boss = token_of(database, acme, "boss", role="admin")
        bob_id = encode_id(user_id(database, acme, "bob"))
        for path in ("@owner/3002", f"{bob_id}/3002", f"{bob_id}/@self", "@owner/@self"):
            listed = client.get(f"/uapi/phoneCalls/{path}", headers=boss)
            assert listed.status_code == 200, (path, listed.json)
            assert [call["id"] for call in json_of(listed)["entry"]] == ["c2"], path
        assert json_of(client.get("/uapi/phoneCalls/@me/@self", headers=boss))[
            "totalResults"] == 0  # the admin's own: it owns none


class TestManagementApi:
    """A user could give itself another user's extension under /api/, then reach it."""

    @pytest.mark.parametrize("method, path", [
        ("GET", "/api/extensions"), ("GET", "/api/ring_groups"),
        ("GET", "/api/call_records/abc"), ("GET", "/api/dispatch/settings"),
        ("POST", "/api/ring_groups"), ("POST", "/api/extensions"),
    ])
    def test_a_users_token_is_403_on_the_management_api(
        self, client: FlaskClient, office: dict[str, Any], method: str, path: str,
    ) -> None:
        response = client.open(path, method=method, headers=office["ann"], json={})
        assert response.status_code == 403, response.json
        assert json_of(response)["errors"][0]["code"] == "FORBIDDEN"

    def test_a_user_cannot_take_another_users_extension(
        self, client: FlaskClient, database: Database, acme: TenantAuth,
        office: dict[str, Any],
    ) -> None:
        bobs = office["ids"]["3002"]
        ann = encode_id(user_id(database, acme, "ann"))
        taken = client.post(f"/api/extensions/{bobs}", headers=office["ann"],
                            json={"user_id": ann})
        assert taken.status_code == 403
        shown = json_of(client.get(f"/api/extensions/{bobs}", headers=acme.headers))
        assert shown["user_id"] == encode_id(user_id(database, acme, "bob"))
        assert_not_permitted(ring_out(client, office["ann"], bobs))

    @pytest.mark.parametrize("username", ["boss", None], ids=["admin user", "no user"])
    def test_admins_and_tokens_without_a_user_manage(
        self, client: FlaskClient, database: Database, acme: TenantAuth,
        office: dict[str, Any], username: str | None,
    ) -> None:
        admin = token_of(database, acme, username, role="admin")
        listed = client.get("/api/extensions", headers=admin)
        assert listed.status_code == 200 and json_of(listed)["count"] == 3

    @pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer rb_unknown"}])
    def test_without_a_valid_token_it_stays_401(self, client: FlaskClient,
                                                headers: dict[str, str]) -> None:
        response = client.get("/api/extensions", headers=headers)
        assert response.status_code == 401
        assert json_of(response)["errors"][0]["code"] == "UNAUTHORIZED"


# Every token of the tenant reads its account, whatever the role (as RingCentral's users),
# and acts on its own subscriptions (another user's are not found).
OPEN_TO_EVERY_ROLE = ("/restapi/v1.0/account/{account_id}", "/restapi/v1.0/subscription",
                      "/restapi/v1.0/subscription/{subscription_id}",
                      "/restapi/v1.0/subscription/{subscription_id}/renew")


def test_the_openapi_document_lists_each_403(client: FlaskClient) -> None:
    paths = json_of(client.get("/openapi.json"))["paths"]
    role_checked = [(path, method) for path, operations in paths.items()
                    for method in operations
                    if path.startswith(("/api/", "/restapi/v1.0/", "/uapi/"))
                    and not path.startswith("/api/login/") and path not in OPEN_TO_EVERY_ROLE]
    assert len(role_checked) > 20
    assert [op for op in role_checked if "403" not in paths[op[0]][op[1]]["responses"]] == []
