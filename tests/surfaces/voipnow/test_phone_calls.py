"""/uapi/phoneCalls without real calls: addressing, list options, checks and the
VoIPNow error body. The engine is the recording fake of conftest.py, showing the live
calls a test gives it; tests/integration/test_phone_calls_live.py runs real calls."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.engine.live_calls import LiveCall, Party, PartyState
from bridge.flows.hunt import Target
from bridge.gateway import ParkedCall
from bridge.services.tenants import create_user, issue_token
from bridge.store.ids import encode_id
from bridge.store.models import Tenant
from bridge.store.session import Database
from tests.api.conftest import (
    NON_ASCII_DIGIT_IDS,
    RecordingProvisioner,
    TenantAuth,
    assert_no_body,
)
from tests.support.json_answers import json_list_of, json_of
from tests.surfaces.voipnow.live_calls import T0, live_call


def error(response: Any) -> tuple[int, str]:
    assert set(response.json) == {"error"}, response.json
    assert set(response.json["error"]) == {"code", "message"}
    return response.status_code, response.json["error"]["code"]


def extension(client: FlaskClient, who: TenantAuth, number: str,
              user_id: int | None = None) -> None:
    body = {"extension_number": number,
            "user_id": encode_id(user_id if user_id is not None else who.user_id)}
    assert client.post("/api/extensions", json=body, headers=who.headers).status_code == 200


def parked_call(who: TenantAuth, call_id: str, parker: str = "1001",
                caller: str = "+14155550100", outside: bool = True) -> LiveCall:
    """A call from the carrier that `parker` answered and parked at 701: as the engine
    shows it, still its call (id, times, caller, extension charged)."""
    started = T0 + timedelta(minutes=3)
    parked = ParkedCall(channel_id="c1", channel="PJSIP/carrier-01", lot="rb-x", slot="701",
                        number=caller, name="", parked_at=started + timedelta(minutes=2),
                        timeout=180, call_id=call_id, parker=parker, direction="in",
                        published=started, answered=started, view="00", views=1,
                        source=caller, dialled="6001", charged=parker)
    return LiveCall(call_id=call_id, domain=who.sip_domain, published=started,
                    answered=started, inbound=True, dialled="6001", source=caller,
                    charged=parker, parties=(
                        Party("00", "c1", caller, "", outside, True, PartyState.UP,
                              answered_at=started, parked=parked),))


@pytest.fixture
def office(client: FlaskClient, acme: TenantAuth) -> TenantAuth:
    extension(client, acme, "1001")
    extension(client, acme, "1002")
    return acme


class TestErrors:
    def test_no_token_is_401_in_the_voipnow_body(self, client: FlaskClient) -> None:
        assert error(client.get("/uapi/phoneCalls/@me/1001")) == (401, "unauthorized")

    def test_an_unknown_route_under_uapi_answers_in_the_voipnow_body(
            self, client: FlaskClient, office: TenantAuth) -> None:
        assert error(client.get("/uapi/nothing", headers=office.headers)) == (404, "not_found")

    def test_another_tenants_extension_and_user_are_not_found(
            self, client: FlaskClient, office: TenantAuth, globex: TenantAuth) -> None:
        extension(client, globex, "2001")
        assert error(client.get("/uapi/phoneCalls/@me/2001", headers=office.headers)) == (
            404, "extension_not_found")
        assert error(client.get(f"/uapi/phoneCalls/{encode_id(globex.user_id)}/@self",
                                headers=office.headers)) == (404, "user_not_found")
        assert error(client.get("/uapi/phoneCalls/nobody/1001",
                                headers=office.headers)) == (404, "user_not_found")

    def test_a_users_token_acts_for_that_user_only(
            self, client: FlaskClient, database: Database, office: TenantAuth) -> None:
        with database.session() as session:
            tenant = session.get(Tenant, office.tenant_id)
            assert tenant is not None
            other = create_user(session, tenant, "other")
            _, token = issue_token(session, tenant.id, other.id)
        theirs = {"Authorization": f"Bearer {token}"}
        assert error(client.get("/uapi/phoneCalls/@me/1001", headers=theirs)) == (
            404, "extension_not_found")
        assert error(client.get("/uapi/phoneCalls/@owner/1001", headers=theirs)) == (
            403, "forbidden")
        assert error(client.get(f"/uapi/phoneCalls/{encode_id(office.user_id)}/1001",
                                headers=theirs)) == (403, "forbidden")
        assert json_of(client.get("/uapi/phoneCalls/@me/@self", headers=theirs))[
            "totalResults"] == 0

    @pytest.mark.parametrize("bad_id", NON_ASCII_DIGIT_IDS)
    def test_user_ids_of_non_ascii_digits_are_not_found(
            self, client: FlaskClient, office: TenantAuth, bad_id: str) -> None:
        assert error(client.get(f"/uapi/phoneCalls/{bad_id}/@self",
                                headers=office.headers)) == (404, "user_not_found")

    @pytest.mark.parametrize(("query", "code"), [
        ("count=0", "count_invalid"), ("count=5001", "count_invalid"),
        ("count=ten", "count_invalid"), ("startIndex=-1", "startindex_invalid"),
        ("count=%C2%B2", "count_invalid"), ("startIndex=%C2%B9", "startindex_invalid"),
        ("count=%D9%A3", "count_invalid"),
        ("filterBy=caller", "filterby_invalid"),
        ("filterBy=id&filterOp=near&filterValue=a", "filterop_invalid"),
        ("filterBy=id&filterOp=greaterThan&filterValue=a", "filterop_invalid"),
        ("filterBy=id", "filtervalue_invalid"),
        ("filterBy=published&filterOp=lessThan&filterValue=yesterday", "filtervalue_invalid"),
        ("sortOrder=up", "sortorder_invalid"),
    ])
    def test_list_options(self, client: FlaskClient, office: TenantAuth, query: str,
                          code: str) -> None:
        response = client.get(f"/uapi/phoneCalls/@me/1001?{query}", headers=office.headers)
        assert error(response) == (400, code)

    @pytest.mark.parametrize("seconds", [9, 3601, "abc", "", " ", True, 12.5, None, [30],
                                         "1e2", "٣٠"])
    def test_park_time_out_out_of_range_or_not_a_number(
            self, client: FlaskClient, office: TenantAuth, seconds: object) -> None:
        response = client.put("/uapi/phoneCalls/@me/1001/abc", headers=office.headers,
                              json={"action": "Park", "phoneCallViewId": "01",
                                    "maxInParking": seconds})
        assert error(response) == (400, "pc_parktimeout_invalid")

    @pytest.mark.parametrize("call_id", ["a-b", "nosuchcall", "%C3%A9t%C3%A9"])
    def test_bad_or_unknown_call_id(self, client: FlaskClient, office: TenantAuth,
                                    call_id: str) -> None:
        for method in ("get", "put", "delete"):
            response = getattr(client, method)(f"/uapi/phoneCalls/@me/1001/{call_id}",
                                               headers=office.headers,
                                               json={"action": "Park", "phoneCallViewId": "01"})
            assert error(response) == (400, "pc_phonecall_invalid"), method

    @pytest.mark.parametrize("body", [{}, {"action": "Hold"}, {"action": None},
                                      {"action": ["Park"]}])
    def test_unknown_action(self, client: FlaskClient, office: TenantAuth,
                            body: dict[str, Any]) -> None:
        response = client.put("/uapi/phoneCalls/@me/1001", headers=office.headers, json=body)
        assert error(response) == (400, "pc_action_invalid")

    @pytest.mark.parametrize("content_type", [None, "text/plain",
                                              "application/x-www-form-urlencoded"])
    @pytest.mark.parametrize("path", ["/uapi/phoneCalls/@me/1001",
                                      "/uapi/phoneCalls/@me/1001/1"])
    def test_a_body_not_sent_as_json_is_415(self, client: FlaskClient, office: TenantAuth,
                                            provisioner: RecordingProvisioner, path: str,
                                            content_type: str | None) -> None:
        headers = {**office.headers,
                   **({"Content-Type": content_type} if content_type else {})}
        response = client.put(path, headers=headers, data=json.dumps(
            {"action": "PickUp", "sendCallTo": "1001"}))
        assert error(response) == (415, "unsupported_media_type")
        assert "Content-Type: application/json" in json_of(response)["error"]["message"]
        assert provisioner.actions == []


class TestWithCalls:
    @pytest.fixture
    def calls(self, office: TenantAuth, globex: TenantAuth,
              provisioner: RecordingProvisioner) -> RecordingProvisioner:
        provisioner.calls = [live_call(office, "first", minutes=0),
                             live_call(office, "second", caller="1002", callee="1003",
                                       minutes=1),
                             live_call(globex, "theirs", minutes=2),
                             parked_call(office, "parked")]
        return provisioner

    def test_the_list_shows_phone_calls_with_their_views(
            self, client: FlaskClient, office: TenantAuth, calls: RecordingProvisioner
    ) -> None:
        body = json_of(client.get("/uapi/phoneCalls/@me/1001", headers=office.headers))
        assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (2, 0, 20)
        call, parked = body["entry"]
        assert (call["id"], call["extension"], call["ownerId"]) == (
            "first", "1001", encode_id(office.user_id))
        caller, callee = call["phoneCallView"]
        assert caller == {"id": "00", "extension": "1001", "source": ["1001"],
                          "destination": ["1002"], "callerId": "Ann <1001>", "flow": 2,
                          "status": 5, "answered": "2026-11-25T12:00:00.000Z",
                          "disposition": 0}
        assert callee["callerId"] == "<1002>" and "parked" not in callee
        assert (parked["id"], parked["extension"], parked["answered"]) == (
            "parked", "1001", "2026-11-25T12:03:00.000Z")
        assert parked["phoneCallView"] == [{
            "id": "00", "source": ["+14155550100"], "destination": ["6001"],
            "callerId": "<+14155550100>", "flow": 8, "status": 5,
            "answered": "2026-11-25T12:03:00.000Z", "disposition": 0,
            "parked": "2026-11-25T12:05:00.000Z", "parkedPos": 701, "parkedBy": "1001"}]
        assert call["links"]["self"] == call["link"] == (
            "http://127.0.0.1:8887/uapi/phoneCalls/@me/1001/first")

    def test_links_never_come_from_the_host_header(
            self, client: FlaskClient, office: TenantAuth, calls: RecordingProvisioner
    ) -> None:
        forged = {**office.headers, "Host": "evil.example"}
        call = json_of(client.get("/uapi/phoneCalls/@me/1001", headers=forged))["entry"][0]
        assert call["link"] == "http://127.0.0.1:8887/uapi/phoneCalls/@me/1001/first"

    def test_self_paging_sorting_and_filters(self, client: FlaskClient, office: TenantAuth,
                                             calls: RecordingProvisioner) -> None:
        def ids(query: str) -> list[str]:
            response = client.get(f"/uapi/phoneCalls/@me/@self?{query}", headers=office.headers)
            assert response.status_code == 200, response.json
            return [c["id"] for c in json_of(response)["entry"]]

        assert ids("") == ["first", "second", "parked"]
        assert ids("sortOrder=descending") == ["parked", "second", "first"]
        assert ids("count=1&startIndex=1") == ["second"]
        assert ids("filterBy=id&filterValue=second") == ["second"]
        assert ids("filterBy=id&filterOp=startsWith&filterValue=fi") == ["first"]
        assert ids("filterBy=published&filterOp=greaterThan&filterValue="
                   "2026-11-25T12:00:30Z") == ["second", "parked"]

    def test_another_tenant_never_sees_the_call(
            self, client: FlaskClient, office: TenantAuth, globex: TenantAuth,
            calls: RecordingProvisioner) -> None:
        extension(client, globex, "1001")
        listed = json_of(client.get("/uapi/phoneCalls/@me/1001", headers=globex.headers))
        assert [c["id"] for c in listed["entry"]] == ["theirs"]
        response = client.delete("/uapi/phoneCalls/@me/1001/first", headers=globex.headers)
        assert error(response) == (400, "pc_phonecall_invalid")
        assert calls.actions == []

    def test_park_checks_the_view_then_asks_the_engine(
            self, client: FlaskClient, office: TenantAuth, calls: RecordingProvisioner
    ) -> None:
        path = "/uapi/phoneCalls/@me/1001/first"
        for view in (None, "07", 1):
            response = client.put(path, headers=office.headers,
                                  json={"action": "Park", "phoneCallViewId": view})
            assert error(response) == (400, "pc_phonecallview_invalid")
        response = client.put(path, headers=office.headers,
                              json={"action": "Park", "phoneCallViewId": "01",
                                    "maxInParking": "45"})
        assert error(response) == (409, "pc_parkinglot_full")  # what the fake engine says
        assert calls.actions == [("park", office.sip_domain, "first", "01", "1001", 45)]

    def test_unpark_and_pick_up_ring_an_extension_of_the_tenant(
            self, client: FlaskClient, office: TenantAuth, globex: TenantAuth,
            calls: RecordingProvisioner) -> None:
        extension(client, globex, "2002")
        path = "/uapi/phoneCalls/@me/1001/parked"
        for target in ("2002", "", None, 1002):
            response = client.put(path, headers=office.headers, json={
                "action": "UnPark", "sendCallTo": target, "phoneCallViewId": "00"})
            assert error(response) == (400, "pc_sendcallto_invalid")
        response = client.put(path, headers=office.headers, json={
            "action": "UnPark", "sendCallTo": "1002", "waitForPickup": 4,
            "phoneCallViewId": "00"})
        assert error(response) == (400, "pc_waitforpickup_invalid")
        response = client.put(path, headers=office.headers, json={
            "action": "UnPark", "sendCallTo": "1002", "phoneCallViewId": "00"})
        assert response.status_code == 200
        [call] = json_list_of(response)
        assert (call["id"], call["extension"], call["phoneCallView"][0]["parkedPos"]) == (
            "parked", "1001", 701)  # the fake engine's call stays parked
        response = client.put("/uapi/phoneCalls/@me/1001/first", headers=office.headers,
                              json={"action": "PickUp", "sendCallTo": "1002",
                                    "waitForPickup": "10"})
        assert response.status_code == 200 and json_list_of(response)[0]["id"] == "first"
        assert calls.actions == [("unpark", office.sip_domain, "parked", "1002", 25),
                                 ("pick_up", office.sip_domain, "first", "1002", 10)]

    def test_unpark_of_one_call_names_its_parked_view(
            self, client: FlaskClient, office: TenantAuth, calls: RecordingProvisioner
    ) -> None:
        for path, view in (("parked", None), ("parked", "01"), ("parked", 0),
                           ("first", "00")):  # "first" is not parked
            response = client.put(f"/uapi/phoneCalls/@me/1001/{path}", headers=office.headers,
                                  json={"action": "UnPark", "sendCallTo": "1002",
                                        "phoneCallViewId": view})
            assert error(response) == (400, "pc_phonecallview_invalid"), (path, view)
        assert calls.actions == []

    def test_a_parked_party_is_never_sent_to_its_own_phone(
            self, client: FlaskClient, office: TenantAuth, calls: RecordingProvisioner
    ) -> None:
        calls.calls.append(parked_call(office, "internal", caller="1002", outside=False))
        for action in ("UnPark", "PickUp"):
            response = client.put("/uapi/phoneCalls/@me/1001/internal",
                                  headers=office.headers,
                                  json={"action": action, "sendCallTo": "1002",
                                        "phoneCallViewId": "00"})
            assert error(response) == (400, "pc_sendcallto_invalid")
        assert calls.actions == []

    def test_a_phone_never_parks_itself(self, client: FlaskClient, office: TenantAuth,
                                        calls: RecordingProvisioner) -> None:
        response = client.put("/uapi/phoneCalls/@me/1001/first", headers=office.headers,
                              json={"action": "Park", "phoneCallViewId": "00"})
        assert error(response) == (400, "pc_phonecallview_invalid")
        assert "would ring back the parked phone" in json_of(response)["error"]["message"]
        assert calls.actions == []

    @pytest.mark.parametrize("caller_id", [
        "x\r\nX-Injected: 1", "1001\r\n", "Ann <1001>\n", 'Ann "boss" <1001>',
        "Ann <1001>; tag=x", "<sip:1001@evil.example>", "John Doe <4242x>", "Ann <1001",
        "Ann", "", " ", "<>", "1001 1002", "A\tB <1001>", "Ann;x <1001>", 42,
        "+" + "1" * 33, "N" * 129 + " <1001>", ["1001"]])
    @pytest.mark.parametrize("action", ["UnPark", "PickUp"])
    def test_a_caller_id_that_is_no_number_or_name_and_number_is_refused(
            self, client: FlaskClient, office: TenantAuth, calls: RecordingProvisioner,
            action: str, caller_id: Any) -> None:
        response = client.put("/uapi/phoneCalls/@me/1001/first", headers=office.headers,
                              json={"action": action, "sendCallTo": "1002",
                                    "callerId": caller_id})
        assert error(response) == (400, "pc_callerid_invalid")
        assert calls.actions == []

    @pytest.mark.parametrize(("caller_id", "number", "name"), [
        ("42420042", "42420042", ""), ("+14155550100", "+14155550100", ""),
        ("John Doe <42420042>", "42420042", "John Doe"),
        ('"John Doe" <42420042>', "42420042", "John Doe"),
        ("<42420042>", "42420042", ""), ("Zoë Ñandú-O'Brien (dispatch) <+441234567890>",
                                         "+441234567890", "Zoë Ñandú-O'Brien (dispatch)")])
    @pytest.mark.parametrize("action", ["UnPark", "PickUp"])
    def test_a_number_or_name_and_number_is_presented_to_send_call_to(
            self, client: FlaskClient, office: TenantAuth, calls: RecordingProvisioner,
            action: str, caller_id: str, number: str, name: str) -> None:
        targets: list[Any] = []
        for method in ("unpark", "pick_up"):
            recorded = getattr(calls, method)

            def recording(d: str, c: str, target: Target, w: int,
                          recorded: Callable[[str, str, Target, int], str] = recorded) -> str:
                targets.append(target)
                return recorded(d, c, target, w)
            setattr(calls, method, recording)
        response = client.put("/uapi/phoneCalls/@me/1001/parked", headers=office.headers,
                              json={"action": action, "sendCallTo": "1002",
                                    "callerId": caller_id, "phoneCallViewId": "00"})
        assert response.status_code == 200, response.json
        (target,) = targets
        assert (target.label, target.caller_number, target.caller_name) == ("1002", number,
                                                                            name)

    def test_delete_a_call_or_one_party(self, client: FlaskClient, office: TenantAuth,
                                        calls: RecordingProvisioner) -> None:
        response = client.delete("/uapi/phoneCalls/@me/1001/first?phoneNumber=1002",
                                 headers=office.headers)
        assert (response.status_code, response.json) == (200, [{"id": "first"}])
        assert_no_body(client.delete("/uapi/phoneCalls/@me/1001/first?phoneNumber=555",
                                     headers=office.headers), 204)
        response = client.delete("/uapi/phoneCalls/@me/1002", headers=office.headers)
        assert response.json == [{"id": "first"}, {"id": "second"}]
        assert calls.actions == [("hang_up", office.sip_domain, "first", "01"),
                                 ("hang_up", office.sip_domain, "first", None),
                                 ("hang_up", office.sip_domain, "second", None)]

    def test_without_a_call_id_only_parked_or_ringing_calls_are_taken(
            self, client: FlaskClient, office: TenantAuth, calls: RecordingProvisioner
    ) -> None:
        ringing = live_call(office, "ringing", caller="1002", callee="1001", minutes=3)
        callee = dataclasses.replace(ringing.parties[1], state=PartyState.RINGING,
                                     answered_at=None)
        calls.calls.append(dataclasses.replace(ringing, answered=None,
                                               parties=(ringing.parties[0], callee)))
        for action, expected in (("UnPark", ["parked"]), ("PickUp", ["parked", "ringing"])):
            response = client.put("/uapi/phoneCalls/@me/1001", headers=office.headers,
                                  json={"action": action, "sendCallTo": "1002"})
            assert [call["id"] for call in json_list_of(response)] == expected, action
        assert calls.actions == [("unpark", office.sip_domain, "parked", "1002", 25),
                                 ("pick_up", office.sip_domain, "parked", "1002", 25),
                                 ("pick_up", office.sip_domain, "ringing", "1002", 25)]
        calls.calls = [c for c in calls.calls if c.call_id != "parked"]
        response = client.put("/uapi/phoneCalls/@me/1001", headers=office.headers,
                              json={"action": "UnPark", "sendCallTo": "1002"})
        assert_no_body(response, 204)
