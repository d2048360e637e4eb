"""Account, extension and extension phone-number routes (RingCentral style): `~` and ids,
who reaches what, paging, and the numbers listed being those RingOut takes as callerId."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.services.tenants import issue_token
from bridge.store.ids import encode_id
from bridge.store.session import Database
from tests.api.conftest import NON_ASCII_DIGIT_IDS, RecordingProvisioner, TenantAuth
from tests.api.user_tokens import token_of, user_id
from tests.support.json_answers import json_of

BASE = "http://127.0.0.1:8887"  # the listen address: the default public URL
ACCOUNT = "/restapi/v1.0/account/{}"
EXTENSION = "/restapi/v1.0/account/{}/extension/{}"
NUMBERS = EXTENSION + "/phone-number"
RINGOUT = EXTENSION + "/ring-out"
ANNS_NUMBERS = ["+14155550100", "+14155550101", "+442079460958"]
REGIONAL = {"homeCountry": {"isoCode": "US"}, "timezone": {"name": "UTC"}}


def add_extension(client: FlaskClient, who: TenantAuth, **fields: Any) -> str:
    response = client.post("/api/extensions", headers=who.headers, json=fields)
    assert response.status_code == 200, response.json
    return str(json_of(response)["id"])


@pytest.fixture
def office(client: FlaskClient, database: Database, acme: TenantAuth) -> dict[str, Any]:
    """Ann (a user) owns 3001 (a display name, caller ids), Bob (a user) owns 3002 (no
    caller ids), 3003 is nobody's; `tenant`: a token without a user."""
    ann, bob = token_of(database, acme, "ann"), token_of(database, acme, "bob")
    ids = {
        "3001": add_extension(client, acme, extension_number="3001", display_name="Ann Smith",
                              caller_ids=ANNS_NUMBERS,
                              user_id=encode_id(user_id(database, acme, "ann"))),
        "3002": add_extension(client, acme, extension_number="3002",
                              user_id=encode_id(user_id(database, acme, "bob"))),
        "3003": add_extension(client, acme, extension_number="3003",
                              caller_ids=["+14155553003"]),
    }
    return {"ann": ann, "bob": bob, "tenant": token_of(database, acme, None), "ids": ids}


def get(client: FlaskClient, headers: dict[str, str], path: str, **query: Any) -> Any:
    return client.get(path, headers=headers, query_string=query)


def assert_error(response: Any, status: int, code: str, parameter: str | None = None) -> None:
    assert response.status_code == status, response.json
    body = json_of(response)
    assert body["errorCode"] == code and body["errors"][0]["errorCode"] == code
    if parameter is not None:
        assert [e.get("parameterName") for e in body["errors"]] == [parameter]


def test_the_account_by_tilde_and_by_id(client: FlaskClient, acme: TenantAuth,
                                        office: dict[str, Any]) -> None:
    account_id = encode_id(acme.tenant_id)
    expected = {"id": account_id, "uri": f"{BASE}{ACCOUNT.format(account_id)}",
                "status": "Confirmed", "companyName": "ABC Taxis",
                "externalAccountId": "ABC Taxis", "regionalSettings": REGIONAL}
    for headers in (acme.headers, office["ann"], office["tenant"]):
        for named in ("~", account_id):
            response = get(client, headers, ACCOUNT.format(named))
            assert response.status_code == 200, response.json
            assert json_of(response) == expected  # no mainNumber: a tenant has none


def test_another_tenants_account_is_not_found(
    client: FlaskClient, acme: TenantAuth, globex: TenantAuth,
) -> None:
    for named in (encode_id(acme.tenant_id), "123", *NON_ASCII_DIGIT_IDS):
        assert_error(get(client, globex.headers, ACCOUNT.format(named)), 404, "CMN-102",
                     "accountId")
        assert_error(get(client, globex.headers, EXTENSION.format(named, "~")), 404,
                     "CMN-102", "accountId")


def test_a_users_own_extension_by_tilde_and_by_id(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
) -> None:
    account_id, own = encode_id(acme.tenant_id), office["ids"]["3001"]
    expected = {"id": own, "uri": f"{BASE}{EXTENSION.format(account_id, own)}",
                "extensionNumber": "3001", "name": "Ann Smith", "type": "User",
                "status": "Enabled", "regionalSettings": REGIONAL}
    for path in (EXTENSION.format("~", "~"), EXTENSION.format("~", own),
                 EXTENSION.format(account_id, own)):
        response = get(client, office["ann"], path)
        assert response.status_code == 200, response.json
        assert json_of(response) == expected
    bobs = json_of(get(client, office["bob"], EXTENSION.format("~", "~")))
    assert bobs["extensionNumber"] == "3002" and "name" not in bobs  # it has no name


def test_a_user_does_not_reach_another_users_or_nobodys_extension(
    client: FlaskClient, office: dict[str, Any],
) -> None:
    for other in (office["ids"]["3002"], office["ids"]["3003"]):
        for path in (EXTENSION.format("~", other), NUMBERS.format("~", other)):
            assert_error(get(client, office["ann"], path), 403, "CMN-408", "extensionId")


@pytest.mark.parametrize("who", ["admin", "tenant"])
def test_an_admin_and_a_tenant_wide_token_reach_every_extension_but_own_none(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any], who: str,
) -> None:
    headers = acme.headers if who == "admin" else office["tenant"]
    for number, extension_id in office["ids"].items():
        response = get(client, headers, EXTENSION.format("~", extension_id))
        assert response.status_code == 200 and json_of(response)["extensionNumber"] == number
        assert get(client, headers, NUMBERS.format("~", extension_id)).status_code == 200
    # The admin owns no extension and a token without a user has none: as RingOut does.
    for path in (EXTENSION.format("~", "~"), NUMBERS.format("~", "~"),
                 RINGOUT.format("~", "~")):
        response = (client.post(path, headers=headers, json={"to": {"phoneNumber": "3002"}})
                    if path.endswith("ring-out") else get(client, headers, path))
        assert_error(response, 404, "CMN-102", "extensionId")


def test_another_tenants_extensions_are_not_found(
    client: FlaskClient, globex: TenantAuth, office: dict[str, Any],
) -> None:
    for extension_id in (*office["ids"].values(), "NzAw", *NON_ASCII_DIGIT_IDS):
        for path in (EXTENSION.format("~", extension_id), NUMBERS.format("~", extension_id)):
            assert_error(get(client, globex.headers, path), 404, "CMN-102", "extensionId")


def test_the_phone_number_list_in_the_vendor_shape(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
) -> None:
    own = office["ids"]["3001"]
    uri = f"{BASE}{NUMBERS.format(encode_id(acme.tenant_id), own)}?page={{}}&perPage=100"
    for path in (NUMBERS.format("~", "~"), NUMBERS.format(encode_id(acme.tenant_id), own)):
        body = json_of(get(client, office["ann"], path))
        assert body == {
            "uri": uri.format(1),
            "records": [{"id": number[1:], "phoneNumber": number, "type": "VoiceOnly",
                         "usageType": "DirectNumber", "features": ["CallerId"]}
                        for number in ANNS_NUMBERS],
            "paging": {"page": 1, "perPage": 100, "pageStart": 0, "pageEnd": 2,
                       "totalPages": 1, "totalElements": 3},
            "navigation": {"firstPage": {"uri": uri.format(1)},
                           "lastPage": {"uri": uri.format(1)}}}
    empty = json_of(get(client, office["bob"], NUMBERS.format("~", "~")))
    assert empty["records"] == [] and empty["paging"] == {
        "page": 1, "perPage": 100, "totalPages": 0, "totalElements": 0}


def test_the_phone_number_list_pages_and_filters(
    client: FlaskClient, office: dict[str, Any],
) -> None:
    path = NUMBERS.format("~", "~")
    second = json_of(get(client, office["ann"], path, page=2, perPage=2))
    assert [r["phoneNumber"] for r in second["records"]] == ANNS_NUMBERS[2:]
    assert second["paging"] == {"page": 2, "perPage": 2, "pageStart": 2, "pageEnd": 2,
                                "totalPages": 2, "totalElements": 3}
    assert set(second["navigation"]) == {"firstPage", "previousPage", "lastPage"}
    assert second["navigation"]["previousPage"]["uri"].endswith("?page=1&perPage=2")
    first = json_of(get(client, office["ann"], path, perPage=2))
    assert first["navigation"]["nextPage"]["uri"].endswith("?page=2&perPage=2")
    past = json_of(get(client, office["ann"], path, page=9))
    assert past["records"] == [] and "pageStart" not in past["paging"]
    assert json_of(get(client, office["ann"], path, perPage=5000))["paging"]["perPage"] == 1000
    direct = json_of(get(client, office["ann"], path, usageType="DirectNumber"))
    assert len(direct["records"]) == 3
    main = json_of(get(client, office["ann"], path, usageType="MainCompanyNumber"))
    assert main["records"] == [] and main["paging"]["totalElements"] == 0
    for name, value in (("page", "0"), ("perPage", "0"), ("page", "x")):
        assert_error(get(client, office["ann"], path, **{name: value}), 400, "CMN-101", name)


def test_the_numbers_listed_are_exactly_those_ringout_takes_as_caller_id(
    client: FlaskClient, office: dict[str, Any], provisioner: RecordingProvisioner,
) -> None:
    for who, number in (("ann", "3001"), ("bob", "3002")):
        records = json_of(get(client, office[who], NUMBERS.format("~", "~")))["records"]
        listed = [record["phoneNumber"] for record in records]
        for caller_id in [*listed, "+14155550199", "+14155553003"]:  # 3003's is not theirs
            response = client.post(RINGOUT.format("~", "~"), headers=office[who], json={
                "from": {"phoneNumber": number}, "to": {"phoneNumber": "+14155550123"},
                "callerId": {"phoneNumber": caller_id}})
            if caller_id in listed:
                assert response.status_code == 200, response.json
                assert provisioner.ringouts[-1].callee.presented == caller_id
            else:
                assert_error(response, 403, "CMN-101", "callerId.phoneNumber")
    assert len(provisioner.ringouts) == len(ANNS_NUMBERS)


@pytest.mark.parametrize("path", [ACCOUNT.format("~"), EXTENSION.format("~", "~"),
                                  NUMBERS.format("~", "~")])
def test_no_token_is_401_and_an_expired_one_oau_128(
    client: FlaskClient, database: Database, acme: TenantAuth, path: str,
) -> None:
    for headers in ({}, {"Authorization": "Bearer rb_nope"}):
        assert_error(client.get(path, headers=headers), 401, "OAU-123")
    with database.session() as session:
        _, token = issue_token(session, acme.tenant_id, acme.user_id,
                               lifetime=timedelta(seconds=-1))
    assert_error(client.get(path, headers={"Authorization": f"Bearer {token}"}), 401,
                 "OAU-128")
