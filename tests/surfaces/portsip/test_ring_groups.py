"""/api/ring_groups: every endpoint, field rule, member rule, list option, auth and
tenant isolation."""

from __future__ import annotations

import base64
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from bridge.services.ring_groups import STRATEGIES
from bridge.store.ids import decode_id, encode_id
from bridge.store.models import RingGroup, RingGroupMember
from bridge.store.session import Database
from bridge.surfaces.portsip.ring_groups import LIST_FIELDS
from tests.api.conftest import NON_ASCII_DIGIT_IDS, TenantAuth, assert_no_body
from tests.support.json_answers import json_of
from tests.surfaces.portsip.ring_group_calls import GROUP, create, extension, set_agents, update

FULL_FIELDS = {
    "id", "name", "extension_number", "ring_time", "ring_strategy", "skip_busy_member",
    "enable_paid", "enable_prid", "extension_number_as_to_header", "no_answer_forward_rule",
    "outbound_caller_ids", "queue_id", "queue_type", "did_numbers", "max_wait_time",
    "record_calls", "created_at", "updated_at",
}


AVAILABLE = {"paused": False, "pause_reason": None, "paused_at": None}  # a member's pause


def show(client: FlaskClient, who: TenantAuth, group_id: str) -> dict[str, Any]:
    response = client.get(f"/api/ring_groups/{group_id}", headers=who.headers)
    assert response.status_code == 200, response.json
    return dict(json_of(response))


def agents(client: FlaskClient, who: TenantAuth, group_id: str) -> list[tuple[str, int]]:
    response = client.get(f"/api/ring_groups/{group_id}/agents", headers=who.headers)
    assert response.status_code == 200, response.json
    return [(a["extension_number"], a["skill_level"]) for a in json_of(response)["items"]]


def error_of(response: Any) -> dict[str, Any]:
    (error,) = response.json["errors"]
    return dict(error)


def field_error(response: Any) -> str:
    """The field a 400 names: service errors in `detail`, schema errors in the message."""
    assert response.status_code == 400, response.json
    error = error_of(response)
    assert error["code"] == "VALIDATE_FAILED"
    if isinstance(error["detail"], dict) and "field" in error["detail"]:
        return str(error["detail"]["field"])
    return str(error["message"].split(":")[0])


class TestAuth:
    ENDPOINTS = (("get", ""), ("post", ""), ("get", "/{id}"), ("post", "/{id}"),
                 ("post", "/{id}/destroy"), ("get", "/{id}/agents"), ("post", "/{id}/agents"),
                 ("get", "/{id}/agents/1001"))

    @pytest.mark.parametrize("method, path", ENDPOINTS)
    @pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
    def test_every_endpoint_needs_a_token(self, client: FlaskClient, acme: TenantAuth,
                                          method: str, path: str, header: str | None) -> None:
        group_id = create(client, acme)
        headers = {"Authorization": header} if header else {}
        response = getattr(client, method)(
            "/api/ring_groups" + path.format(id=group_id), json={}, headers=headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHORIZED"
        assert show(client, acme, group_id)["name"] == "Sales"


class TestCreateAndShow:
    def test_minimal_create_applies_the_defaults_with_explicit_nulls(
        self, client: FlaskClient, acme: TenantAuth
    ) -> None:
        group_id = create(client, acme)
        assert decode_id(group_id) is not None
        shown = show(client, acme, group_id)
        assert set(shown) == FULL_FIELDS
        assert {k: v for k, v in shown.items() if k not in ("created_at", "updated_at")} == {
            "id": group_id, "name": "Sales", "extension_number": "6000", "ring_time": 20,
            "ring_strategy": "CYCLIC_HUNT", "skip_busy_member": False, "enable_paid": False,
            "enable_prid": False, "extension_number_as_to_header": False,
            "no_answer_forward_rule": None, "outbound_caller_ids": [], "queue_id": None,
            "queue_type": None, "did_numbers": [], "max_wait_time": 0, "record_calls": False,
        }
        assert shown["created_at"].endswith("Z") and shown["updated_at"].endswith("Z")

    def test_ids_are_random_64_bit_decimals_in_base64(self, client: FlaskClient,
                                                     acme: TenantAuth) -> None:
        ids = [create(client, acme, extension_number=f"60{n:02}") for n in range(12)]
        decimals = [base64.b64decode(group_id, validate=True).decode() for group_id in ids]
        values = [int(text) for text in decimals]
        # the vendor's shape: 18 digits, 24 characters, no padding
        assert all(re.fullmatch("[1-9][0-9]{17}", text) for text in decimals), decimals
        assert all(len(group_id) == 24 and "=" not in group_id for group_id in ids), ids
        assert values == [decode_id(group_id) for group_id in ids]
        assert values != sorted(values) and values != sorted(values, reverse=True)
        assert min(b - a for a, b in itertools.pairwise(sorted(values))) > 1

    def test_ids_of_19_digits_made_before_stay_valid(self, client: FlaskClient,
                                                    database: Database,
                                                    acme: TenantAuth) -> None:
        group_id = create(client, acme)
        old_id = 8_123_456_789_012_345_678
        with database.engine.begin() as connection:
            connection.execute(sql_update(RingGroup).values(id=old_id))
        assert encode_id(old_id).endswith("==")
        assert show(client, acme, encode_id(old_id))["id"] == encode_id(old_id)
        assert client.get(f"/api/ring_groups/{group_id}", headers=acme.headers).status_code == 404

    def test_full_create_normalises_numbers_in_the_tenant_region(
        self, client: FlaskClient, globex: TenantAuth
    ) -> None:
        group_id = create(
            client, globex, name="Drivers desk", ring_time=0,
            ring_strategy="SKILL_BASED_ROUTING_CYCLIC_HUNT", skip_busy_member=True,
            enable_paid=True, enable_prid=True, extension_number_as_to_header=True,
            no_answer_forward_rule={"action": "FORWARD_TO_NUMBER", "number": "07400123456"},
            outbound_caller_ids=[
                {"provider_id": "trunk-1", "caller_id": "02079460958", "description": "main"},
                {"provider_id": "trunk-2", "caller_id": "+14155550100"}],
            queue_id="q-drivers", queue_type="driver", did_numbers=["02079460000"],
            max_wait_time=3600, record_calls=True,
        )
        shown = show(client, globex, group_id)
        assert shown["ring_time"] == 0 and shown["name"] == "Drivers desk"
        assert shown["ring_strategy"] == "SKILL_BASED_ROUTING_CYCLIC_HUNT"
        assert shown["skip_busy_member"] and shown["enable_paid"] and shown["enable_prid"]
        assert shown["extension_number_as_to_header"]
        assert shown["no_answer_forward_rule"] == {"action": "FORWARD_TO_NUMBER",
                                                   "number": "+447400123456"}
        assert shown["outbound_caller_ids"] == [
            {"provider_id": "trunk-1", "caller_id": "+442079460958", "description": "main"},
            {"provider_id": "trunk-2", "caller_id": "+14155550100", "description": None}]
        assert (shown["queue_id"], shown["queue_type"]) == ("q-drivers", "driver")
        assert shown["did_numbers"] == ["+442079460000"]
        assert shown["max_wait_time"] == 3600 and shown["record_calls"] is True

    def test_list_is_the_summary_form(self, client: FlaskClient, acme: TenantAuth) -> None:
        group_id = create(client, acme, outbound_caller_ids=[
            {"provider_id": "p", "caller_id": "+14155550100"}])
        body = json_of(client.get("/api/ring_groups", headers=acme.headers))
        assert body["count"] == 1
        (item,) = body["items"]
        assert set(item) == FULL_FIELDS - {"outbound_caller_ids"}
        full = show(client, acme, group_id)
        assert item == {k: v for k, v in full.items() if k != "outbound_caller_ids"}

    @pytest.mark.parametrize("strategy", STRATEGIES)
    def test_every_strategy_is_accepted(self, client: FlaskClient, acme: TenantAuth,
                                        strategy: str) -> None:
        assert show(client, acme, create(client, acme, ring_strategy=strategy))[
            "ring_strategy"] == strategy

    @pytest.mark.parametrize("rule, stored", [
        ({"action": "FORWARD_TO_VOICEMAIL"}, {"action": "FORWARD_TO_VOICEMAIL", "number": None}),
        ({"action": "REPEAT", "number": None}, {"action": "REPEAT", "number": None}),
        ({"action": "HANGUP"}, {"action": "HANGUP", "number": None}),
        ({"action": "FORWARD_TO_NUMBER", "number": "4155550100"},
         {"action": "FORWARD_TO_NUMBER", "number": "+14155550100"}),
        ({"action": "FORWARD_TO_NUMBER", "number": "+442079460958"},
         {"action": "FORWARD_TO_NUMBER", "number": "+442079460958"}),
        ({"action": "FORWARD_TO_NUMBER", "number": "+1-415-555-0100"},
         {"action": "FORWARD_TO_NUMBER", "number": "+14155550100"}),
        ({"action": "FORWARD_TO_NUMBER", "number": "(415) 555-0100"},
         {"action": "FORWARD_TO_NUMBER", "number": "+14155550100"}),
        ({"action": "FORWARD_TO_NUMBER", "number": "1001"},
         {"action": "FORWARD_TO_NUMBER", "number": "1001"}),
        (None, None),
    ])
    def test_no_answer_forward_rules(self, client: FlaskClient, acme: TenantAuth,
                                     rule: dict[str, Any] | None,
                                     stored: dict[str, Any] | None) -> None:
        extension(client, acme, "1001")
        group_id = create(client, acme, no_answer_forward_rule=rule)
        assert show(client, acme, group_id)["no_answer_forward_rule"] == stored


    @pytest.mark.parametrize("tenant, number, stored", [
        ("globex", "14155550100", "+14155550100"),
        ("globex", "07400123456", "+447400123456"),
        ("globex", "447400123456", "+447400123456"),
        ("acme", "442079460958", "+442079460958"),
        ("acme", "4155550100", "+14155550100"),
        ("acme", "14155550100", "+14155550100"),
    ])
    def test_a_forward_number_without_plus_is_national_else_international(
        self, client: FlaskClient, request: pytest.FixtureRequest, tenant: str, number: str,
        stored: str
    ) -> None:
        who: TenantAuth = request.getfixturevalue(tenant)
        rule = {"action": "FORWARD_TO_NUMBER", "number": number}
        group_id = create(client, who, no_answer_forward_rule=rule)
        assert show(client, who, group_id)["no_answer_forward_rule"] == {
            "action": "FORWARD_TO_NUMBER", "number": stored}

    def test_a_forward_to_a_destroyed_extension_can_be_posted_back(
        self, client: FlaskClient, acme: TenantAuth
    ) -> None:
        extension_id = extension(client, acme, "1001")
        rule = {"action": "FORWARD_TO_NUMBER", "number": "1001"}
        group_id = create(client, acme, no_answer_forward_rule=rule)
        assert_no_body(client.post(f"/api/extensions/{extension_id}/destroy",
                                   headers=acme.headers), 204)
        shown = show(client, acme, group_id)
        assert shown["no_answer_forward_rule"] == rule
        assert_no_body(update(client, acme, group_id, **shown), 200)
        assert_no_body(update(client, acme, group_id, no_answer_forward_rule=rule,
                              name="Renamed"), 200)
        assert show(client, acme, group_id)["no_answer_forward_rule"] == rule
        # only the stored number is taken as it is: another one is checked as usual
        other = {"action": "FORWARD_TO_NUMBER", "number": "1002"}
        assert field_error(update(client, acme, group_id,
                                  no_answer_forward_rule=other)) == "no_answer_forward_rule"
        assert field_error(client.post("/api/ring_groups", headers=acme.headers, json={
            **GROUP, "extension_number": "6001",
            "no_answer_forward_rule": rule})) == "no_answer_forward_rule"

    def test_a_forward_number_neither_national_nor_international_is_400(
        self, client: FlaskClient, globex: TenantAuth
    ) -> None:
        response = client.post("/api/ring_groups", headers=globex.headers, json={
            **GROUP, "no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER",
                                                "number": "99999999999"}})
        assert field_error(response) == "no_answer_forward_rule"
        assert "region GB, nor with a +" in error_of(response)["message"]

    @pytest.mark.parametrize("body, field", [
        ({"outbound_caller_ids": [{"provider_id": "p", "caller_id": "14155550100"}]},
         "outbound_caller_ids"),
        ({"did_numbers": ["14155550100"]}, "did_numbers"),
    ])
    def test_caller_ids_and_dids_are_national_or_plus_only(
        self, client: FlaskClient, globex: TenantAuth, body: dict[str, Any], field: str
    ) -> None:
        response = client.post("/api/ring_groups", json={**GROUP, **body},
                               headers=globex.headers)
        assert field_error(response) == field
        assert "region GB)" in error_of(response)["message"]


class TestValidation:
    @pytest.mark.parametrize("body, field", [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"extension_number": None}, "extension_number"),
        ({"extension_number": "12"}, "extension_number"),
        ({"extension_number": "60a0"}, "extension_number"),
        ({"extension_number": "6" * 65}, "extension_number"),
        ({"extension_number": 6000}, "extension_number"),
        ({"ring_strategy": None}, "ring_strategy"),
        ({"ring_strategy": "RANDOM"}, "ring_strategy"),
        ({"ring_strategy": "cyclic_hunt"}, "ring_strategy"),
        ({"ring_time": -1}, "ring_time"),
        ({"ring_time": 3601}, "ring_time"),
        ({"ring_time": "20"}, "ring_time"),
        ({"ring_time": 1.5}, "ring_time"),
        ({"ring_time": None}, "ring_time"),
        ({"skip_busy_member": "yes"}, "skip_busy_member"),
        ({"skip_busy_member": 1}, "skip_busy_member"),
        ({"skip_busy_member": None}, "skip_busy_member"),
        ({"enable_paid": "true"}, "enable_paid"),
        ({"enable_prid": "on"}, "enable_prid"),
        ({"extension_number_as_to_header": "false"}, "extension_number_as_to_header"),
        ({"no_answer_forward_rule": "HANGUP"}, "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"number": "1001"}}, "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "VOICEMAIL"}}, "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER", "number": ""}},
         "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "HANGUP", "extra": 1}},
         "no_answer_forward_rule"),
        ({"outbound_caller_ids": "+14155550100"}, "outbound_caller_ids"),
        ({"outbound_caller_ids": [{"caller_id": "+14155550100"}]}, "outbound_caller_ids"),
        ({"outbound_caller_ids": [{"provider_id": "p"}]}, "outbound_caller_ids"),
        ({"outbound_caller_ids": [{"provider_id": "", "caller_id": "+14155550100"}]},
         "outbound_caller_ids"),
        ({"outbound_caller_ids": [{"provider_id": "p", "caller_id": "+14155550100",
                                   "description": "x" * 256}]}, "outbound_caller_ids"),
        ({"outbound_caller_ids": [{"provider_id": "p", "caller_id": "+14155550100"}] * 21},
         "outbound_caller_ids"),
        ({"outbound_caller_ids": None}, "outbound_caller_ids"),
        ({"queue_id": ""}, "queue_id"),
        ({"queue_id": "q" * 255}, "queue_id"),
        ({"queue_type": "rider"}, "queue_type"),
        ({"did_numbers": "+14155550100"}, "did_numbers"),
        ({"did_numbers": [14155550100]}, "did_numbers"),
        ({"did_numbers": [f"+1415555{n:04}" for n in range(21)]}, "did_numbers"),
        ({"max_wait_time": -1}, "max_wait_time"),
        ({"max_wait_time": 3601}, "max_wait_time"),
        ({"max_wait_time": "30"}, "max_wait_time"),
        ({"max_wait_time": None}, "max_wait_time"),
        ({"record_calls": "yes"}, "record_calls"),
        ({"record_calls": None}, "record_calls"),
        ({"extension_number": "6001\n"}, "extension_number"),
        # The name is the display name of P-Asserted-Identity and Remote-Party-ID.
        *(({"name": name}, "name") for name in (
            'Sales"\r\nX-Injected: 1', "Sales\n", 'The "Desk"', "Desk <6000>", "a;b")),
        ({"colour": "red"}, "colour"),
    ])
    def test_schema_rules_on_create(self, client: FlaskClient, acme: TenantAuth,
                                    body: dict[str, Any], field: str) -> None:
        response = client.post("/api/ring_groups", json={**GROUP, **body}, headers=acme.headers)
        assert field_error(response) == field
        assert json_of(client.get("/api/ring_groups", headers=acme.headers))["count"] == 0

    @pytest.mark.parametrize("missing", ["name", "extension_number", "ring_strategy"])
    def test_required_on_create(self, client: FlaskClient, acme: TenantAuth,
                                missing: str) -> None:
        body = {k: v for k, v in GROUP.items() if k != missing}
        response = client.post("/api/ring_groups", json=body, headers=acme.headers)
        assert field_error(response) == missing

    @pytest.mark.parametrize("body, field", [
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER"}}, "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER", "number": None}},
         "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "HANGUP", "number": "1001"}},
         "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "REPEAT", "number": "+14155550100"}},
         "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_VOICEMAIL", "number": "1001"}},
         "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER", "number": "12"}},
         "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER", "number": "1002"}},
         "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER",
                                     "number": "+1-415-CALL-NOW"}}, "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER", "number": "6000"}},
         "no_answer_forward_rule"),
        ({"no_answer_forward_rule": {"action": "FORWARD_TO_NUMBER", "number": "7000"}},
         "no_answer_forward_rule"),
        ({"outbound_caller_ids": [{"provider_id": "p", "caller_id": "123"}]},
         "outbound_caller_ids"),
        ({"did_numbers": ["123"]}, "did_numbers"),
        ({"did_numbers": ["+14155550100", "4155550100"]}, "did_numbers"),
    ])
    def test_service_rules_on_create(self, client: FlaskClient, acme: TenantAuth,
                                     body: dict[str, Any], field: str) -> None:
        extension(client, acme, "1001")
        create(client, acme, name="Another group", extension_number="7000")
        response = client.post("/api/ring_groups", json={**GROUP, **body}, headers=acme.headers)
        assert field_error(response) == field
        assert error_of(response)["detail"] == {"field": field}

    @pytest.mark.parametrize("body, field", [
        ({"name": None}, "name"),
        ({"ring_time": None}, "ring_time"),
        ({"ring_strategy": "RANDOM"}, "ring_strategy"),
        ({"enable_paid": None}, "enable_paid"),
        ({"did_numbers": None}, "did_numbers"),
        ({"queue_type": "rider"}, "queue_type"),
        ({"no_answer_forward_rule": {"action": "HANGUP", "number": "1001"}},
         "no_answer_forward_rule"),
        ({"id": 123}, "id"),
        ({"updated_at": None}, "updated_at"),
        ({"colour": "red"}, "colour"),
    ])
    def test_rules_on_update_change_nothing(self, client: FlaskClient, acme: TenantAuth,
                                            body: dict[str, Any], field: str) -> None:
        group_id = create(client, acme)
        before = show(client, acme, group_id)
        assert field_error(update(client, acme, group_id, **body)) == field
        assert show(client, acme, group_id) == before

    def test_malformed_json_is_a_clean_400(self, client: FlaskClient, acme: TenantAuth) -> None:
        response = client.post("/api/ring_groups", data="{not json",
                               headers={**acme.headers, "Content-Type": "application/json"})
        assert response.status_code == 400
        assert error_of(response)["code"] == "VALIDATE_FAILED"


class TestBodyNotJson:
    """A body sent as anything but JSON is refused, not read as no body."""

    @pytest.mark.parametrize("content_type", [None, "text/plain",
                                              "application/x-www-form-urlencoded"])
    def test_is_415_on_create_update_and_agents(self, client: FlaskClient, acme: TenantAuth,
                                                content_type: str | None) -> None:
        extension(client, acme, "1001")
        group_id = create(client, acme)
        before = show(client, acme, group_id)
        headers = {**acme.headers, **({"Content-Type": content_type} if content_type else {})}
        for path, body in (("", {**GROUP, "extension_number": "6001"}),
                           (f"/{group_id}", {"name": "Changed"}),
                           (f"/{group_id}/agents", {"items": [{"extension_number": "1001"}]})):
            response = client.post(f"/api/ring_groups{path}", data=json.dumps(body),
                                   headers=headers)
            assert response.status_code == 415, (path, response.json)
            assert error_of(response) == {
                "code": "UNSUPPORTED_MEDIA_TYPE", "detail": None, "message":
                "the request body must be JSON, sent with Content-Type: application/json"}
        assert show(client, acme, group_id) == before
        assert agents(client, acme, group_id) == []
        assert json_of(client.get("/api/ring_groups", headers=acme.headers))["count"] == 1

    def test_the_token_is_checked_first(self, client: FlaskClient, acme: TenantAuth) -> None:
        response = client.post("/api/ring_groups", data=json.dumps(GROUP),
                               headers={"Content-Type": "text/plain"})
        assert response.status_code == 401
        assert error_of(response)["code"] == "UNAUTHORIZED"

    def test_json_with_a_charset_and_empty_bodies_still_work(self, client: FlaskClient,
                                                            acme: TenantAuth) -> None:
        json_utf8 = {**acme.headers, "Content-Type": "application/json; charset=utf-8"}
        response = client.post("/api/ring_groups", data=json.dumps(GROUP), headers=json_utf8)
        assert response.status_code == 200, response.json
        group_id = json_of(response)["id"]
        assert_no_body(client.post(f"/api/ring_groups/{group_id}", headers=acme.headers), 200)
        assert_no_body(client.post(f"/api/ring_groups/{group_id}/destroy", data="",
                                   headers=acme.headers), 204)


class TestExtensionNumberClashes:
    def test_a_group_cannot_take_an_extensions_number(self, client: FlaskClient,
                                                      acme: TenantAuth) -> None:
        extension(client, acme, "6000")
        response = client.post("/api/ring_groups", json=GROUP, headers=acme.headers)
        assert field_error(response) == "extension_number"
        assert "extension 6000 exists" in error_of(response)["message"]

    def test_a_group_cannot_take_another_groups_number(self, client: FlaskClient,
                                                       acme: TenantAuth) -> None:
        create(client, acme)
        response = client.post("/api/ring_groups", json={**GROUP, "name": "Other"},
                               headers=acme.headers)
        assert field_error(response) == "extension_number"
        assert "ring group 6000 exists" in error_of(response)["message"]

    def test_an_extension_cannot_take_a_groups_number(self, client: FlaskClient,
                                                      acme: TenantAuth) -> None:
        create(client, acme)
        response = client.post("/api/extensions", json={"extension_number": "6000"},
                               headers=acme.headers)
        assert field_error(response) == "extension_number"
        assert "ring group 6000 exists" in error_of(response)["message"]

    def test_other_tenants_numbers_do_not_clash(self, client: FlaskClient, acme: TenantAuth,
                                                globex: TenantAuth) -> None:
        create(client, acme)
        create(client, globex)
        extension(client, globex, "6001")
        create(client, acme, extension_number="6001")
        extension(client, acme, "6002")
        create(client, globex, extension_number="6002")

    @pytest.mark.parametrize("number", ["6001", "06000"])
    def test_extension_number_is_set_at_create_only(self, client: FlaskClient,
                                                    acme: TenantAuth, number: str) -> None:
        group_id = create(client, acme)
        response = update(client, acme, group_id, extension_number=number)
        assert field_error(response) == "extension_number"
        assert "create only" in error_of(response)["message"]
        assert show(client, acme, group_id)["extension_number"] == "6000"

    def test_the_groups_own_extension_number_may_be_sent_back(
        self, client: FlaskClient, acme: TenantAuth
    ) -> None:
        group_id = create(client, acme)
        assert update(client, acme, group_id, extension_number="6000",
                      name="Kept number").status_code == 200
        shown = show(client, acme, group_id)
        assert (shown["extension_number"], shown["name"]) == ("6000", "Kept number")


class TestDids:
    def test_a_did_goes_to_one_group_across_all_tenants(
        self, client: FlaskClient, acme: TenantAuth, globex: TenantAuth
    ) -> None:
        create(client, acme, did_numbers=["+14155550100"])
        for who, number in ((globex, "+14155550100"), (acme, "4155550100")):
            response = client.post("/api/ring_groups", headers=who.headers, json={
                **GROUP, "extension_number": "6001", "did_numbers": [number]})
            assert field_error(response) == "did_numbers"
            assert "another ring group" in error_of(response)["message"]

    def test_a_did_can_move_and_a_group_keeps_its_own(self, client: FlaskClient,
                                                      acme: TenantAuth,
                                                      globex: TenantAuth) -> None:
        first = create(client, acme, did_numbers=["+14155550100", "+14155550101"])
        assert update(client, acme, first, did_numbers=["+14155550101", "+14155550100"],
                      name="Kept").status_code == 200
        assert update(client, acme, first, did_numbers=["+14155550101"]).status_code == 200
        second = create(client, globex, did_numbers=["+14155550100"])
        assert show(client, globex, second)["did_numbers"] == ["+14155550100"]
        assert show(client, acme, first)["did_numbers"] == ["+14155550101"]

    def test_a_did_that_is_a_prefix_of_another_does_not_clash(
        self, client: FlaskClient, acme: TenantAuth
    ) -> None:
        create(client, acme, did_numbers=["+49301234567"])
        create(client, acme, extension_number="6001", did_numbers=["+4930123456"])
        create(client, acme, extension_number="6002", did_numbers=["+493012345678"])

    def test_a_destroyed_groups_dids_are_free(self, client: FlaskClient,
                                              acme: TenantAuth) -> None:
        group_id = create(client, acme, did_numbers=["+14155550100"])
        client.post(f"/api/ring_groups/{group_id}/destroy", headers=acme.headers)
        create(client, acme, did_numbers=["+14155550100"])


class TestUpdateAndDestroy:
    def test_update_changes_only_the_fields_given(self, client: FlaskClient,
                                                  acme: TenantAuth) -> None:
        group_id = create(client, acme, queue_id="q1", did_numbers=["+14155550100"])
        before = show(client, acme, group_id)
        assert_no_body(update(client, acme, group_id, name="New", ring_time=45,
                              skip_busy_member=True, ring_strategy="PAGING_INTERCOM"), 200)
        after = show(client, acme, group_id)
        changed = {"name": "New", "ring_time": 45, "skip_busy_member": True,
                   "ring_strategy": "PAGING_INTERCOM"}
        assert {k: v for k, v in after.items() if k not in changed and k != "updated_at"} == {
            k: v for k, v in before.items() if k not in changed and k != "updated_at"}
        assert {k: after[k] for k in changed} == changed
        assert after["updated_at"] >= before["updated_at"]

    def test_posting_back_what_a_get_answered_changes_nothing(
        self, client: FlaskClient, globex: TenantAuth
    ) -> None:
        group_id = create(
            client, globex, ring_time=45, skip_busy_member=True, enable_paid=True,
            no_answer_forward_rule={"action": "FORWARD_TO_NUMBER", "number": "07400123456"},
            outbound_caller_ids=[{"provider_id": "trunk-1", "caller_id": "02079460958"}],
            queue_id="q1", queue_type="driver", did_numbers=["02079460000"])
        before = show(client, globex, group_id)
        assert update(client, globex, group_id, **before).status_code == 200
        assert show(client, globex, group_id) == before
        (listed,) = json_of(client.get("/api/ring_groups", headers=globex.headers))["items"]
        assert update(client, globex, group_id, **listed).status_code == 200
        assert show(client, globex, group_id) == before

    def test_an_empty_update_changes_nothing(self, client: FlaskClient,
                                             acme: TenantAuth) -> None:
        group_id = create(client, acme)
        before = show(client, acme, group_id)
        assert update(client, acme, group_id).status_code == 200
        assert show(client, acme, group_id) == before

    def test_explicit_null_clears_nullable_fields(self, client: FlaskClient,
                                                  acme: TenantAuth) -> None:
        group_id = create(client, acme, queue_id="q1", queue_type="customer",
                          no_answer_forward_rule={"action": "HANGUP"},
                          outbound_caller_ids=[{"provider_id": "p",
                                                "caller_id": "+14155550100"}],
                          did_numbers=["+14155550100"])
        assert update(client, acme, group_id, queue_id=None, queue_type=None,
                      no_answer_forward_rule=None, outbound_caller_ids=[],
                      did_numbers=[]).status_code == 200
        shown = show(client, acme, group_id)
        assert shown["queue_id"] is None and shown["queue_type"] is None
        assert shown["no_answer_forward_rule"] is None
        assert shown["outbound_caller_ids"] == [] and shown["did_numbers"] == []

    def test_destroy(self, client: FlaskClient, database: Database, acme: TenantAuth) -> None:
        extension(client, acme, "1001")
        group_id = create(client, acme)
        assert set_agents(client, acme, group_id,
                          {"items": [{"extension_number": "1001"}]}).status_code == 200
        assert_no_body(client.post(f"/api/ring_groups/{group_id}/destroy",
                                   headers=acme.headers), 204)
        for path in ("", "/agents", "/agents/1001"):
            gone = client.get(f"/api/ring_groups/{group_id}{path}", headers=acme.headers)
            assert gone.status_code == 404 and error_of(gone)["code"] == "NOT_FOUND"
        again = client.post(f"/api/ring_groups/{group_id}/destroy", headers=acme.headers)
        assert again.status_code == 404
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(RingGroupMember)) == 0
        assert json_of(client.get("/api/extensions", headers=acme.headers))["count"] == 1
        create(client, acme)  # the number is free again


class TestAgents:
    @pytest.fixture
    def group_id(self, client: FlaskClient, acme: TenantAuth) -> str:
        extension(client, acme, "1001", "Ann")
        extension(client, acme, "1002")
        extension(client, acme, "1003", "Cy")
        return create(client, acme)

    def test_a_new_group_has_no_agents(self, client: FlaskClient, acme: TenantAuth,
                                       group_id: str) -> None:
        assert client.get(f"/api/ring_groups/{group_id}/agents",
                          headers=acme.headers).json == {"items": []}

    def test_replace_sets_hunt_order_and_skill_levels(self, client: FlaskClient,
                                                      acme: TenantAuth, group_id: str) -> None:
        assert_no_body(set_agents(client, acme, group_id, {"items": [
            {"extension_number": "1003", "skill_level": 2},
            {"extension_number": "1001"},
            {"extension_number": "1002", "skill_level": 100}]}), 200)
        body = json_of(client.get(f"/api/ring_groups/{group_id}/agents", headers=acme.headers))
        assert body == {"items": [
            {"extension_number": "1003", "display_name": "Cy", "skill_level": 2, **AVAILABLE},
            {"extension_number": "1001", "display_name": "Ann", "skill_level": 1, **AVAILABLE},
            {"extension_number": "1002", "display_name": None, "skill_level": 100,
             **AVAILABLE}]}

    def test_replace_again_reorders_and_drops(self, client: FlaskClient, acme: TenantAuth,
                                              group_id: str) -> None:
        set_agents(client, acme, group_id, {"items": [
            {"extension_number": "1001"}, {"extension_number": "1002"}]})
        assert set_agents(client, acme, group_id, {"items": [
            {"extension_number": "1002", "skill_level": 5},
            {"extension_number": "1003"}]}).status_code == 200
        assert agents(client, acme, group_id) == [("1002", 5), ("1003", 1)]
        assert set_agents(client, acme, group_id, {"items": []}).status_code == 200
        assert agents(client, acme, group_id) == []

    def test_posting_back_what_a_get_answered_changes_nothing(
        self, client: FlaskClient, acme: TenantAuth, group_id: str
    ) -> None:
        set_agents(client, acme, group_id, {"items": [
            {"extension_number": "1003", "skill_level": 2}, {"extension_number": "1002"}]})
        path = f"/api/ring_groups/{group_id}/agents"
        before = json_of(client.get(path, headers=acme.headers))
        assert before["items"][0]["display_name"] == "Cy"
        assert set_agents(client, acme, group_id, before).status_code == 200
        assert client.get(path, headers=acme.headers).json == before

    def test_a_display_name_sent_is_not_applied(self, client: FlaskClient, acme: TenantAuth,
                                                group_id: str) -> None:
        assert set_agents(client, acme, group_id, {"items": [
            {"extension_number": "1001", "display_name": "Someone else"}]}).status_code == 200
        assert json_of(client.get(f"/api/ring_groups/{group_id}/agents/1001",
                                  headers=acme.headers))["display_name"] == "Ann"

    def test_display_name_follows_the_extension(self, client: FlaskClient, acme: TenantAuth,
                                                group_id: str) -> None:
        set_agents(client, acme, group_id, {"items": [{"extension_number": "1001"}]})
        extensions = json_of(client.get("/api/extensions?filter=extension_number eq '1001'",
                                        headers=acme.headers))["items"]
        client.post(f"/api/extensions/{extensions[0]['id']}", json={"display_name": "Anna"},
                    headers=acme.headers)
        assert client.get(f"/api/ring_groups/{group_id}/agents/1001",
                          headers=acme.headers).json == {
            "extension_number": "1001", "display_name": "Anna", "skill_level": 1, **AVAILABLE}

    @pytest.mark.parametrize("items, needle", [
        ([{"extension_number": "1001"}, {"extension_number": "1009"}], "1009"),
        ([{"extension_number": "1001"}, {"extension_number": "1001", "skill_level": 2}],
         "twice"),
        ([{"extension_number": "6000"}], "6000"),
        ([{"extension_number": "2001"}], "2001"),
    ])
    def test_service_rules_change_nothing(self, client: FlaskClient, acme: TenantAuth,
                                          globex: TenantAuth, group_id: str,
                                          items: list[dict[str, Any]], needle: str) -> None:
        extension(client, globex, "2001")  # another tenant's extension is not a member
        set_agents(client, acme, group_id, {"items": [{"extension_number": "1002"}]})
        response = set_agents(client, acme, group_id, {"items": items})
        assert field_error(response) == "items"
        assert needle in error_of(response)["message"]
        assert agents(client, acme, group_id) == [("1002", 1)]

    @pytest.mark.parametrize("body", [
        [{"extension_number": "1001"}],
        {},
        {"items": None},
        {"items": "1001"},
        {"items": [{"skill_level": 1}]},
        {"items": [{"extension_number": "10"}]},
        {"items": [{"extension_number": 1001}]},
        {"items": [{"extension_number": "1001", "skill_level": 0}]},
        {"items": [{"extension_number": "1001", "skill_level": 101}]},
        {"items": [{"extension_number": "1001", "skill_level": "5"}]},
        {"items": [{"extension_number": "1001", "colour": "x"}]},
        {"items": [{"extension_number": "1001", "display_name": 5}]},
        {"items": [{"extension_number": f"{n}"} for n in range(1000, 1101)]},
    ])
    def test_schema_rules(self, client: FlaskClient, acme: TenantAuth, group_id: str,
                          body: Any) -> None:
        response = set_agents(client, acme, group_id, body)
        assert response.status_code == 400
        assert error_of(response)["code"] == "VALIDATE_FAILED"
        assert agents(client, acme, group_id) == []

    def test_one_agent(self, client: FlaskClient, acme: TenantAuth, group_id: str) -> None:
        set_agents(client, acme, group_id, {"items": [{"extension_number": "1002",
                                                       "skill_level": 7}]})
        response = client.get(f"/api/ring_groups/{group_id}/agents/1002", headers=acme.headers)
        assert response.json == {"extension_number": "1002", "display_name": None,
                                 "skill_level": 7, **AVAILABLE}
        for number in ("1001", "9999", "abc", "6000"):
            missing = client.get(f"/api/ring_groups/{group_id}/agents/{number}",
                                 headers=acme.headers)
            assert missing.status_code == 404 and error_of(missing)["code"] == "NOT_FOUND"

    def test_deleting_an_extension_removes_it_from_groups(
        self, client: FlaskClient, acme: TenantAuth, group_id: str
    ) -> None:
        other = create(client, acme, extension_number="6001")
        items = {"items": [{"extension_number": n} for n in ("1001", "1002", "1003")]}
        set_agents(client, acme, group_id, items)
        set_agents(client, acme, other, items)
        listed = json_of(client.get("/api/extensions?filter=extension_number eq '1002'",
                                    headers=acme.headers))["items"]
        client.post(f"/api/extensions/{listed[0]['id']}/destroy", headers=acme.headers)
        for gid in (group_id, other):
            assert agents(client, acme, gid) == [("1001", 1), ("1003", 1)]
        assert set_agents(client, acme, group_id, {"items": [
            {"extension_number": "1003"}, {"extension_number": "1001"}]}).status_code == 200
        assert agents(client, acme, group_id) == [("1003", 1), ("1001", 1)]


class TestTenantIsolation:
    def test_another_tenants_group_does_not_exist(self, client: FlaskClient,
                                                  acme: TenantAuth, globex: TenantAuth) -> None:
        extension(client, acme, "1001")
        group_id = create(client, acme)
        set_agents(client, acme, group_id, {"items": [{"extension_number": "1001"}]})
        extension(client, globex, "1001")
        calls = [
            client.get(f"/api/ring_groups/{group_id}", headers=globex.headers),
            client.post(f"/api/ring_groups/{group_id}", json={"name": "x"},
                        headers=globex.headers),
            client.post(f"/api/ring_groups/{group_id}/destroy", headers=globex.headers),
            client.get(f"/api/ring_groups/{group_id}/agents", headers=globex.headers),
            client.post(f"/api/ring_groups/{group_id}/agents", headers=globex.headers,
                        json={"items": [{"extension_number": "1001"}]}),
            client.get(f"/api/ring_groups/{group_id}/agents/1001", headers=globex.headers),
        ]
        for response in calls:
            assert response.status_code == 404, response.request.path
            assert error_of(response)["code"] == "NOT_FOUND"
        assert client.get("/api/ring_groups", headers=globex.headers).json == {
            "count": 0, "items": []}
        assert show(client, acme, group_id)["name"] == "Sales"
        assert agents(client, acme, group_id) == [("1001", 1)]

    @pytest.mark.parametrize("bad_id", ["nope", "MTIz", "NzAwNTUxOTA5NzczMTQ4MTYw", "%00",
                                        "MDcwMDU1MTkwOTc3MzE0ODE2MA==", encode_id(2**63),
                                        encode_id(10**19 - 1), *NON_ASCII_DIGIT_IDS])
    def test_unknown_or_malformed_ids_are_404(self, client: FlaskClient, acme: TenantAuth,
                                              bad_id: str) -> None:
        for response in (client.get(f"/api/ring_groups/{bad_id}", headers=acme.headers),
                         client.post(f"/api/ring_groups/{bad_id}", json={"name": "x"},
                                     headers=acme.headers),
                         client.post(f"/api/ring_groups/{bad_id}/destroy",
                                     headers=acme.headers),
                         client.get(f"/api/ring_groups/{bad_id}/agents", headers=acme.headers),
                         client.post(f"/api/ring_groups/{bad_id}/agents", json={"items": []},
                                     headers=acme.headers),
                         client.get(f"/api/ring_groups/{bad_id}/agents/1001",
                                    headers=acme.headers)):
            assert response.status_code == 404
            assert error_of(response)["code"] == "NOT_FOUND"


class TestListOptions:
    ROWS = (  # name, number, strategy, ring_time, skip_busy_member, queue_type
        ("Sales", "6001", "CYCLIC_HUNT", 20, True, "customer"),
        ("Support", "6002", "CYCLIC_HUNT", 30, False, None),
        ("Drivers desk", "6003", "PRIORITIZED_HUNT", 30, True, "driver"),
        ("Night desk", "7001", "CYCLIC_HUNT", 30, False, None),
        ("Billing", "7002", "RING_SIMULTANEOUSLY", 20, False, "customer"),
        ("100% sales_team", "7003", "PRIORITIZED_HUNT", 45, True, None),
    )

    @pytest.fixture
    def names(self, client: FlaskClient, acme: TenantAuth,
              globex: TenantAuth) -> dict[str, str]:
        ids = {}
        for name, number, strategy, ring_time, skip, queue_type in self.ROWS:
            ids[name] = create(client, acme, name=name, extension_number=number,
                               ring_strategy=strategy, ring_time=ring_time,
                               skip_busy_member=skip, queue_type=queue_type)
        create(client, globex, name="Globex sales", extension_number="6001")
        return ids

    def query(self, client: FlaskClient, who: TenantAuth, query: str) -> tuple[int, list[str]]:
        response = client.get(f"/api/ring_groups?{query}", headers=who.headers)
        assert response.status_code == 200, response.json
        return json_of(response)["count"], [item["name"] for item in json_of(response)["items"]]

    @pytest.mark.parametrize("query, expected", [
        ("filter=ring_strategy eq 'CYCLIC_HUNT' and startswith(extension_number,'6')"
         "&orderby=name", ["Sales", "Support"]),
        # "and" binds tighter than "or"
        ("filter=ring_strategy eq 'RING_SIMULTANEOUSLY' or ring_strategy eq 'CYCLIC_HUNT' "
         "and ring_time eq 30&orderby=name", ["Billing", "Night desk", "Support"]),
        ("filter=(ring_strategy eq 'RING_SIMULTANEOUSLY' or ring_strategy eq 'CYCLIC_HUNT') "
         "and ring_time eq 30&orderby=name", ["Night desk", "Support"]),
        ("filter=not (ring_time eq 30)&orderby=name", ["100% sales_team", "Billing", "Sales"]),
        ("filter=endswith(name,'DESK')&orderby=name", ["Drivers desk", "Night desk"]),
        ("filter=contains(name,'ale')&orderby=name", ["100% sales_team", "Sales"]),
        ("filter=contains(name,'%')", ["100% sales_team"]),
        ("filter=contains(name,'s_t')", ["100% sales_team"]),
        ("filter=skip_busy_member eq true and ring_time le 30&orderby=name",
         ["Drivers desk", "Sales"]),
        ("filter=queue_type eq null&orderby=name",
         ["100% sales_team", "Night desk", "Support"]),
        ("filter=queue_type ne 'customer'&orderby=name",
         ["100% sales_team", "Drivers desk", "Night desk", "Support"]),
        ("filter=ring_time gt 20 and ring_time lt 45&orderby=name",
         ["Drivers desk", "Night desk", "Support"]),
        ("filter=queue_id eq null and enable_paid eq false and enable_prid ne true and "
         "extension_number_as_to_header eq false and ring_time ge 45", ["100% sales_team"]),
        ("search=DESK&orderby=name", ["Drivers desk", "Night desk"]),
        ("search=700&orderby=extension_number desc", ["100% sales_team", "Billing",
                                                      "Night desk"]),
        ("search=desk&filter=startswith(extension_number,'7')", ["Night desk"]),
        ("$filter=ring_strategy eq 'PRIORITIZED_HUNT'&$orderby=ring_time desc",
         ["100% sales_team", "Drivers desk"]),
        ("search=_", ["100% sales_team"]),
        # NULLs first ascending and last descending, on both databases
        ("orderby=queue_type, name", ["100% sales_team", "Night desk", "Support", "Billing",
                                      "Sales", "Drivers desk"]),
        ("orderby=queue_type desc, name", ["Drivers desk", "Billing", "Sales",
                                           "100% sales_team", "Night desk", "Support"]),
    ])
    def test_filter_search_orderby(self, client: FlaskClient, acme: TenantAuth,
                                   names: dict[str, str], query: str,
                                   expected: list[str]) -> None:
        assert self.query(client, acme, query) == (len(expected), expected)

    def test_names_sort_by_code_point(self, client: FlaskClient, acme: TenantAuth) -> None:
        """Upper case before lower, accented letters last, on both databases (a PostgreSQL
        locale such as en_US would put "alpha" before "Beta")."""
        expected = ["Beta", "Zed", "_desk", "alpha", "zeta", "\u00c9mile", "\u00e9mile"]
        for number, name in enumerate(reversed(expected)):
            create(client, acme, name=name, extension_number=f"80{number:02}")
        assert self.query(client, acme, "orderby=name")[1] == expected
        assert self.query(client, acme, "orderby=name desc")[1] == expected[::-1]

    def test_the_docs_name_the_list_fields(self) -> None:
        readme = (Path(__file__).parents[3] / "docs" / "ring-groups.md").read_text()
        sentence = readme.split("(`GET /api/ring_groups`, without `outbound_caller_ids`)")[1]
        sortable, searchable = sentence.split("are not list fields")[0].split("`search`")[:2]
        assert re.findall(r"`(\w+)`", sortable.split("(`orderby`")[0]) == list(LIST_FIELDS)
        assert re.findall(r"`(\w+)`", searchable.split(".")[0]) == [
            name for name, field in LIST_FIELDS.items() if field.searchable]
        assert all(field.sortable for field in LIST_FIELDS.values())

    def test_or_does_not_escape_the_tenant(self, client: FlaskClient, acme: TenantAuth,
                                           globex: TenantAuth, names: dict[str, str]) -> None:
        count, found = self.query(client, globex,
                                  "filter=name eq 'Sales' or name ne 'Sales'")
        assert (count, found) == (1, ["Globex sales"])

    def test_ties_are_broken_by_id(self, client: FlaskClient, acme: TenantAuth,
                                   names: dict[str, str]) -> None:
        body = json_of(client.get("/api/ring_groups?orderby=ring_time", headers=acme.headers))
        keys: list[tuple[object, ...]] = [(item["ring_time"], decode_id(item["id"]))
                                         for item in body["items"]]
        assert keys == sorted(keys)
        body = json_of(client.get("/api/ring_groups?orderby=ring_time desc, ring_strategy",
                                  headers=acme.headers))
        keys = [(-item["ring_time"], item["ring_strategy"], decode_id(item["id"]))
                for item in body["items"]]
        assert keys == sorted(keys)

    def test_paging_and_count_before_paging(self, client: FlaskClient, acme: TenantAuth,
                                            names: dict[str, str]) -> None:
        everything = self.query(client, acme, "orderby=extension_number")[1]
        assert len(everything) == 6
        assert self.query(client, acme, "orderby=extension_number&top=2") == (6, everything[:2])
        assert self.query(client, acme, "orderby=extension_number&skip=2&top=3") == (
            6, everything[2:5])
        assert self.query(client, acme, "orderby=extension_number&skip=5") == (
            6, everything[5:])
        assert self.query(client, acme, "orderby=extension_number&skip=6") == (6, [])
        assert self.query(client, acme, "skip=99999999999&top=100") == (6, [])
        assert self.query(client, acme, "$orderby=extension_number&$skip=1&$top=1") == (
            6, everything[1:2])
        assert self.query(client, acme, "filter=ring_time eq 30&top=1&orderby=name") == (
            3, ["Drivers desk"])
        assert self.query(client, acme, "orderby=extension_number&top=100&skip=0") == (
            6, everything)

    @pytest.mark.parametrize("query", [
        "filter=outbound_caller_ids eq 'x'", "filter=did_numbers eq 'x'",
        "filter=tenant_id eq 1", "filter=id eq 1", "filter=Name eq 'x'",
        "filter=(", "filter=name eq", "filter=ring_time eq '20'", "filter=name eq 20",
        "filter=skip_busy_member gt true", "filter=startswith(ring_time,'2')",
        "filter=ring_strategy eq \"CYCLIC_HUNT\"", "filter=", "top=0", "top=101", "skip=-1",
        "top=abc", "orderby=outbound_caller_ids", "orderby=name sideways", "orderby=",
        "orderby=name, name", "$skip=1&skip=2", "$expand=agents",
    ])
    def test_bad_options_are_400(self, client: FlaskClient, acme: TenantAuth,
                                 query: str) -> None:
        response = client.get(f"/api/ring_groups?{query}", headers=acme.headers)
        assert response.status_code == 400
        assert error_of(response)["code"] == "VALIDATE_FAILED"

    @pytest.mark.parametrize("query, message", [
        ("top=0", "top: must be between 1 and 100, not 0"),
        ("$top=101", "top: must be between 1 and 100, not 101"),
        ("top=abc", "top: must be a whole number, not 'abc'"),
        ("top=%C2%B2", "top: must be a whole number, not '\u00b2'"),
        ("skip=-1", "skip: must be at least 0, not -1"),
        ("$skip=1&skip=2", "$skip: 'skip' was given too, with a different value; give only one"),
        ("$expand=agents",
         "$expand: unknown query option; supported: $filter, $search, $orderby, $skip, $top"),
    ])
    def test_bad_skip_top_and_dollar_options_say_why(self, client: FlaskClient,
                                                    acme: TenantAuth, query: str,
                                                    message: str) -> None:
        response = client.get(f"/api/ring_groups?{query}", headers=acme.headers)
        assert response.status_code == 400
        assert error_of(response)["code"] == "VALIDATE_FAILED"
        assert error_of(response)["message"] == message

    @pytest.mark.parametrize("query", [
        "filter=name eq 'x'' or ''1''=''1'",
        "filter=name eq 'Sales'' --'",
        "search=' OR '1'='1",
        "search=%25' OR 1=1 --",
        "search=Sales'); DROP TABLE ring_groups; --",
    ])
    def test_injection_attempts_match_literally(self, client: FlaskClient, acme: TenantAuth,
                                                names: dict[str, str], query: str) -> None:
        assert self.query(client, acme, query) == (0, [])
        assert self.query(client, acme, "top=1")[0] == 6

    @pytest.mark.parametrize("query", [
        "filter=name eq 'x' or 1 eq 1",
        "filter=name eq 'x'; DROP TABLE ring_groups",
        "filter=name eq 'x' -- ",
        "orderby=name; DROP TABLE ring_groups",
        "orderby=(SELECT 1)",
        "orderby=name desc nulls first",
        "orderby=1",
    ])
    def test_injection_attempts_are_400(self, client: FlaskClient, acme: TenantAuth,
                                        names: dict[str, str], query: str) -> None:
        response = client.get(f"/api/ring_groups?{query}", headers=acme.headers)
        assert response.status_code == 400
        assert self.query(client, acme, "top=1")[0] == 6


@pytest.mark.parametrize("number", ["701", "720"])
def test_a_parking_position_is_not_a_ring_group_number(client: FlaskClient, acme: TenantAuth,
                                                       number: str) -> None:
    """A phone dialling a parking position parks its call: the group would never ring."""
    response = client.post("/api/ring_groups", json={**GROUP, "extension_number": number},
                           headers=acme.headers)
    assert field_error(response) == "extension_number"
    assert "parking positions 701-720" in error_of(response)["message"]
    create(client, acme, extension_number="721")


def test_ring_time_zero_is_kept_and_its_meaning_documented(client: FlaskClient,
                                                           acme: TenantAuth) -> None:
    """0 is a ring time the spec allows: it rings nobody (the engine applies the no-answer
    rule at once; tests/integration/test_ring_group_wire_live.py). The schema says so."""
    group_id = create(client, acme, ring_time=0, no_answer_forward_rule={
        "action": "FORWARD_TO_VOICEMAIL", "number": None})
    assert show(client, acme, group_id)["ring_time"] == 0
    schemas = json_of(client.get("/openapi.json"))["components"]["schemas"]
    described = {schema["properties"]["ring_time"].get("description", "")
                 for name, schema in schemas.items()
                 if name.startswith("RingGroup") and name.endswith("In")
                 and "ring_time" in schema.get("properties", {})}
    assert described and all("0: no member is rung, the no-answer rule applies at once"
                             in text for text in described)
