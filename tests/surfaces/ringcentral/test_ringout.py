"""RingOut API (RingCentral style): paths, `~`, validation, errors, state, cancel, limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.flows.call_log import CallLog
from bridge.flows.events import (
    CallEnded,
    CallState,
    LegState,
    RingOutConnected,
    RingOutEnded,
    RingOutStatusChanged,
)
from bridge.gateway import CancelOutcome, EngineNotReached, EngineUnavailable, RingOutPlan
from bridge.services.call_records import DatabaseCallRecorder
from bridge.services.ringout_records import (
    apply_ringout_change,
    apply_ringout_end,
    subscribe_ringout_statuses,
)
from bridge.services.tenants import issue_token
from bridge.store.ids import encode_id
from bridge.store.models import RingOut
from bridge.store.session import Database
from tests.api.conftest import (
    NON_ASCII_DIGIT_IDS,
    RecordingProvisioner,
    TenantAuth,
    assert_no_body,
)
from tests.support.json_answers import json_of

OWN = "/restapi/v1.0/account/~/extension/~/ring-out"
BODY = {"from": {"phoneNumber": "3001"}, "to": {"phoneNumber": "+14155550123"}}


@pytest.fixture
def office(client: FlaskClient, acme: TenantAuth) -> dict[str, Any]:
    """Extension 3001 of the token's user (caller ids, a default forwarding number) and
    extension 3002 of nobody."""
    own = json_of(client.post("/api/extensions", headers=acme.headers, json={
        "extension_number": "3001", "user_id": encode_id(acme.user_id),
        "caller_ids": ["+14155550100", "+14155550101"],
        "forwarding_numbers": [{"number": "+14155550111"},
                               {"number": "+14155550112", "default": True}]}))["id"]
    other = json_of(client.post("/api/extensions", headers=acme.headers,
                                json={"extension_number": "3002"}))["id"]
    shown = json_of(client.get(f"/api/extensions/{own}", headers=acme.headers))
    return {"own": own, "other": other, "forwarding": shown["forwarding_numbers"]}


def post(client: FlaskClient, who: TenantAuth, body: Any = None, path: str = OWN,
         **kwargs: Any) -> Any:
    return client.post(path, headers=who.headers, json=BODY if body is None else body,
                       **kwargs)


def assert_error(response: Any, status: int, code: str, parameter: str | None = None) -> None:
    assert response.status_code == status, response.json
    body = response.json
    assert body["errorCode"] == code and body["message"]
    assert body["errors"][0]["errorCode"] == code
    if parameter is not None:
        assert [e.get("parameterName") for e in body["errors"]] == [parameter]


def test_post_starts_a_ringout_and_get_reads_it(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    response = post(client, acme, {**BODY, "callerId": {"phoneNumber": "+14155550101"},
                                   "playPrompt": True})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == {"callStatus": "InProgress", "callerStatus": "InProgress",
                              "calleeStatus": "InProgress"}
    assert body["uri"] == f"http://127.0.0.1:8887{OWN}/{body['id']}"  # the listen address
    (plan,) = provisioner.ringouts
    assert plan.call_id == body["id"] and plan.play_prompt
    assert plan.caller.dial == "PJSIP/3001@3001@abc.example"
    assert plan.caller.presented == "+14155550123"
    assert (plan.callee.dial, plan.callee.presented) == (
        "PJSIP/+14155550123@carrier", "+14155550101")
    shown = client.get(f"{OWN}/{body['id']}", headers=acme.headers)
    assert shown.status_code == 200 and shown.json == body


def test_the_older_spelling_and_explicit_ids_work(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
) -> None:
    path = (f"/restapi/v1.0/account/{encode_id(acme.tenant_id)}/extension/"
            f"{office['other']}/ringout")
    response = post(client, acme, path=path)
    assert response.status_code == 200, response.json
    assert response.json["uri"].endswith(f"{path}/{response.json['id']}")
    assert client.get(f"{path}/{response.json['id']}", headers=acme.headers).status_code == 200
    # Another extension's RingOut is not found under this one.
    assert_error(client.get(f"{OWN}/{response.json['id']}", headers=acme.headers), 404,
                 "CMN-102")


def test_the_uri_comes_from_the_public_url_never_from_the_host_header(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
) -> None:
    """It echoed the request's Host (`http://evil.example/...`)."""
    settings = Settings(public_url="https://pbx.example.com/rb/")
    client = create_app(database, provisioner, lambda: Readiness(True, True, True),
                        settings).test_client()
    client.post("/api/extensions", headers=acme.headers, json={
        "extension_number": "3001", "user_id": encode_id(acme.user_id),
        "forwarding_numbers": [{"number": "+14155550112", "default": True}]})
    forged = {**acme.headers, "Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    created = client.post(OWN, headers=forged, json=BODY)
    assert created.status_code == 200, created.json
    uri = f"https://pbx.example.com/rb{OWN}/{json_of(created)['id']}"
    assert json_of(created)["uri"] == uri
    assert json_of(client.get(f"{OWN}/{json_of(created)['id']}", headers=forged))["uri"] == uri


def test_own_extension_is_the_users_lowest_number(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    client.post("/api/extensions", headers=acme.headers, json={
        "extension_number": "2999", "user_id": encode_id(acme.user_id)})
    assert post(client, acme).status_code == 200
    assert provisioner.ringouts[0].caller.label == "3001"  # `from`, as asked
    shown = client.get(f"{OWN}/{provisioner.ringouts[0].call_id}", headers=acme.headers)
    assert shown.status_code == 200
    explicit = client.get(f"/restapi/v1.0/account/~/extension/{office['own']}/ring-out/"
                          f"{provisioner.ringouts[0].call_id}", headers=acme.headers)
    assert_error(explicit, 404, "CMN-102")  # it belongs to 2999, the lowest number


def test_a_token_without_a_user_has_no_own_extension(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
) -> None:
    with database.session() as session:
        _, token = issue_token(session, acme.tenant_id, None)
    response = client.post(OWN, headers={"Authorization": f"Bearer {token}"}, json=BODY)
    assert_error(response, 404, "CMN-102", "extensionId")


def test_another_tenants_account_extension_and_ringout_are_not_found(
    client: FlaskClient, acme: TenantAuth, globex: TenantAuth, office: dict[str, Any],
) -> None:
    ringout_id = post(client, acme).json["id"]
    theirs = f"/restapi/v1.0/account/~/extension/{office['own']}/ring-out"
    assert_error(post(client, globex, path=theirs), 404, "CMN-102", "extensionId")
    other_account = f"/restapi/v1.0/account/{encode_id(acme.tenant_id)}/extension/~/ring-out"
    assert_error(post(client, globex, path=other_account), 404, "CMN-102", "accountId")
    assert_error(client.get(f"{theirs}/{ringout_id}", headers=globex.headers), 404,
                 "CMN-102")
    assert_error(client.delete(f"{theirs}/{ringout_id}", headers=globex.headers), 404,
                 "CMN-102")


@pytest.mark.parametrize("bad_id", NON_ASCII_DIGIT_IDS)
def test_ids_of_non_ascii_digits_are_not_found(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any], bad_id: str,
) -> None:
    """Ids are ASCII digits: '²' passes str.isdigit() but not int() (it was a 500)."""
    account = f"/restapi/v1.0/account/{bad_id}/extension/~/ring-out"
    assert_error(post(client, acme, path=account), 404, "CMN-102", "accountId")
    extension = f"/restapi/v1.0/account/~/extension/{bad_id}/ring-out"
    assert_error(post(client, acme, path=extension), 404, "CMN-102", "extensionId")
    body = {**BODY, "from": {"forwardingNumberId": bad_id}}
    assert_error(post(client, acme, body), 400, "CMN-101", "from.forwardingNumberId")
    for ringout_id in (bad_id, "%C2%B2", "%D9%A1%D9%A2"):  # also the decimal ids: ², ١٢
        assert_error(client.get(f"{OWN}/{ringout_id}", headers=acme.headers), 404, "CMN-102")
        assert_error(client.delete(f"{OWN}/{ringout_id}", headers=acme.headers), 404,
                     "CMN-102")


@pytest.mark.parametrize("body, status, parameter", [
    ({"from": {"phoneNumber": "3001"}}, 400, "to"),
    ({**BODY, "to": {}}, 400, "to.phoneNumber"),
    ({**BODY, "to": {"phoneNumber": ""}}, 400, "to.phoneNumber"),
    ({**BODY, "to": {"phoneNumber": "+1-415-555-0123"}}, 400, "to.phoneNumber"),
    ({**BODY, "to": {"phoneNumber": "+1415"}}, 400, "to.phoneNumber"),
    ({**BODY, "to": [{"phoneNumber": "+14155550123"}]}, 400, "to"),
    ({**BODY, "to": {"phoneNumber": 14155550123}}, 400, "to.phoneNumber"),
    ({**BODY, "from": {"phoneNumber": "12ab"}}, 400, "from.phoneNumber"),
    ({**BODY, "from": {"forwardingNumberId": "NzAw"}}, 400, "from.forwardingNumberId"),
    ({**BODY, "from": {"phoneNumber": "3001", "forwardingNumberId": "x"}}, 400, "from"),
    ({**BODY, "callerId": {"phoneNumber": "+44 20"}}, 400, "callerId.phoneNumber"),
    ({**BODY, "callerId": {"phoneNumber": "+14155550199"}}, 403, "callerId.phoneNumber"),
    ({**BODY, "playPrompt": "yes"}, 400, "playPrompt"),
    ({**BODY, "country": {"id": "XX"}}, 400, "country.id"),
    ({**BODY, "country": {"id": "999"}}, 400, "country.id"),
    ({**BODY, "country": {"id": "²"}}, 400, "country.id"),
    ({**BODY, "to": {"phoneNumber": "(415) 555-0123"}}, 400, "to.phoneNumber"),
    ({**BODY, "extra": 1}, 400, "extra"),
    ([BODY], 400, "body"),
])
def test_invalid_requests_name_the_parameter(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any], body: Any, status: int,
    parameter: str, provisioner: RecordingProvisioner,
) -> None:
    assert_error(post(client, acme, body), status, "CMN-101", parameter)
    assert provisioner.ringouts == []


def test_from_defaults_to_the_default_forwarding_number_or_the_one_named(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    first = office["forwarding"][0]["id"]
    assert post(client, acme, {"to": {"phoneNumber": "+14155550123"}}).status_code == 200
    assert post(client, acme, {"to": {"phoneNumber": "+14155550123"},
                               "from": {"forwardingNumberId": first}}).status_code == 200
    assert [p.caller.dial for p in provisioner.ringouts] == [
        "PJSIP/+14155550112@carrier", "PJSIP/+14155550111@carrier"]
    other = f"/restapi/v1.0/account/~/extension/{office['other']}/ring-out"
    assert_error(post(client, acme, {"to": {"phoneNumber": "+14155550123"}}, path=other), 400,
                 "CMN-101", "from.phoneNumber")


def test_national_numbers_use_country_id_or_the_tenants_region(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    for country in (None, {"id": "44"}, {"id": "GB"}):
        number = "4155550123" if country is None else "02079460000"
        body = {**BODY, "to": {"phoneNumber": number}}
        assert post(client, acme, {**body, **({"country": country} if country else {})}
                    ).status_code == 200
    assert [p.callee.label for p in provisioner.ringouts] == [
        "+14155550123", "+442079460000", "+442079460000"]
    assert_error(post(client, acme, {**BODY, "to": {"phoneNumber": "02079460000"}}), 400,
                 "CMN-101", "to.phoneNumber")


def test_callee_may_be_an_extension_and_caller_id_defaults_to_the_first(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    assert post(client, acme, {"from": {"phoneNumber": "+14155550177"},
                               "to": {"phoneNumber": "3002"}}).status_code == 200
    (plan,) = provisioner.ringouts
    assert (plan.caller.dial, plan.callee.dial) == (
        "PJSIP/+14155550177@carrier", "PJSIP/3002@3002@abc.example")
    assert plan.callee.presented == "+14155550100"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer rb_nope"},
                                     {"Authorization": "Basic eDp5"}])
def test_requests_without_a_valid_token_are_401(client: FlaskClient, headers: dict[str, str]
                                                ) -> None:
    assert_error(client.post(OWN, headers=headers, json=BODY), 401, "OAU-123")
    assert_error(client.get(f"{OWN}/1", headers=headers), 401, "OAU-123")
    assert_error(client.delete(f"{OWN}/1", headers=headers), 401, "OAU-123")
    # The token is checked before the body: no hint about the body without one.
    assert_error(client.post(OWN, headers=headers, json={"x": 1}), 401, "OAU-123")
    assert_error(client.post(OWN, headers={**headers, "Content-Type": "application/json"},
                             data="{"), 401, "OAU-123")


def test_invalid_json_unknown_routes_and_methods(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
) -> None:
    response = client.post(OWN, headers={**acme.headers, "Content-Type": "application/json"},
                           data='{"to": ')
    assert_error(response, 400, "CMN-103")
    assert_error(client.get("/restapi/v1.0/nothing", headers=acme.headers), 404, "CMN-102")
    assert_error(client.put(f"{OWN}/1", headers=acme.headers), 405, "CMN-405")
    assert_error(client.get(f"{OWN}/abc", headers=acme.headers), 404, "CMN-102")
    assert_error(client.get(f"{OWN}/99999999999999999999", headers=acme.headers), 404,
                 "CMN-102")


@pytest.mark.parametrize("content_type", [None, "text/plain",
                                          "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any], provisioner: Any,
    content_type: str | None,
) -> None:
    headers = {**acme.headers, **({"Content-Type": content_type} if content_type else {})}
    response = client.post(OWN, headers=headers, data=json.dumps(BODY))
    assert_error(response, 415, "CMN-415")
    assert "Content-Type: application/json" in json_of(response)["message"]
    assert provisioner.ringouts == []


def set_statuses(database: Database, ringout_id: str, *statuses: str,
                 ended: datetime | None = None) -> None:
    with database.session() as session:
        row = session.get(RingOut, int(ringout_id))
        assert row is not None
        row.call_status, row.caller_status, row.callee_status = statuses
        row.ended_at = ended


def status_of(client: FlaskClient, who: TenantAuth, ringout_id: str) -> Any:
    return json_of(client.get(f"{OWN}/{ringout_id}", headers=who.headers))["status"]


def test_delete_before_connect_cancels_and_shows_rejected(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    ringout_id = post(client, acme).json["id"]
    assert_no_body(client.delete(f"{OWN}/{ringout_id}", headers=acme.headers), 204)
    assert provisioner.cancelled == [ringout_id]
    assert status_of(client, acme, ringout_id) == {
        "callStatus": "CannotReach", "callerStatus": "Rejected", "calleeStatus": "Rejected"}


def test_a_change_written_after_the_cancel_does_not_undo_it(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    """The writer may hold the engine's last ringing change while the API's DELETE
    commits; written after it, that change is older than the end."""
    ringout_id = post(client, acme).json["id"]
    assert_no_body(client.delete(f"{OWN}/{ringout_id}", headers=acme.headers), 204)
    with database.transaction() as connection:
        apply_ringout_change(connection, RingOutStatusChanged(
            call_id=ringout_id, at=datetime.now(UTC), call=CallState.TRYING,
            caller=LegState.ANSWERED, callee=LegState.CALLING))
    assert status_of(client, acme, ringout_id) == {
        "callStatus": "CannotReach", "callerStatus": "Rejected", "calleeStatus": "Rejected"}


def test_delete_of_a_ringout_no_engine_runs_hangs_up_and_rejects_what_rang(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    provisioner.cancel_outcome = CancelOutcome()  # started before a restart
    ringing = post(client, acme).json["id"]
    answered = post(client, acme).json["id"]
    set_statuses(database, answered, "InProgress", "Success", "InProgress")
    for ringout_id in (ringing, answered):
        assert client.delete(f"{OWN}/{ringout_id}", headers=acme.headers).status_code == 204
    assert status_of(client, acme, ringing) == {
        "callStatus": "CannotReach", "callerStatus": "Rejected", "calleeStatus": "InProgress"}
    assert status_of(client, acme, answered) == {
        "callStatus": "CannotReach", "callerStatus": "Rejected", "calleeStatus": "Rejected"}
    # Over already: nothing more to end.
    assert client.delete(f"{OWN}/{ringing}", headers=acme.headers).status_code == 204
    assert provisioner.cancelled == [ringing, answered]


def _engine_restarting(*_: object) -> Any:
    raise EngineNotReached("the telephony engine is not running (restarting?); retry shortly")


def _engine_silent(*_: object) -> Any:
    raise EngineUnavailable("the telephony engine did not answer in time")


def test_a_ringout_the_engine_cannot_take_is_503_and_ends_failed(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner, monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[RingOutPlan] = []

    def start_ringout(plan: RingOutPlan) -> None:
        started.append(plan)
        _engine_restarting()

    monkeypatch.setattr(provisioner, "start_ringout", start_ringout)
    response = post(client, acme)
    assert_error(response, 503, "CMN-503")  # RingCentral's code for 503
    assert response.headers["Retry-After"] == "2"
    assert "restarting" in response.json["message"]
    [plan] = started  # asked once the row was committed
    ringout_id = plan.call_id  # the RingOut id, as the API shows it
    with database.session() as session:
        row = session.get_one(RingOut, int(plan.call_id))
        assert row.ended_at is not None  # not left InProgress for ever
    assert status_of(client, acme, ringout_id) == {
        "callStatus": "NoAnsweringMachine", "callerStatus": "InProgress",
        "calleeStatus": "InProgress"}


def test_a_ringout_the_engine_took_without_answering_is_left_to_its_reports(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It may ring: ending it here would hide a live call from GET and DELETE."""
    monkeypatch.setattr(provisioner, "start_ringout", _engine_silent)
    assert_error(post(client, acme), 503, "CMN-503")
    with database.session() as session:
        [row] = session.scalars(select(RingOut).where(RingOut.tenant_id == acme.tenant_id))
        assert (row.call_status, row.ended_at) == ("InProgress", None)


def test_a_cancel_the_engine_cannot_take_is_503_and_changes_nothing(
    client: FlaskClient, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ringout_id = post(client, acme).json["id"]
    monkeypatch.setattr(provisioner, "cancel_ringout", _engine_restarting)
    assert_error(client.delete(f"{OWN}/{ringout_id}", headers=acme.headers), 503, "CMN-503")
    assert status_of(client, acme, ringout_id)["callStatus"] == "InProgress"


def test_delete_after_connect_is_409_and_leaves_the_call(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    ringout_id = post(client, acme).json["id"]
    set_statuses(database, ringout_id, "Success", "Success", "Success")
    assert_error(client.delete(f"{OWN}/{ringout_id}", headers=acme.headers), 409, "CMN-409",
                 "ringoutId")
    assert provisioner.cancelled == []
    # Connected in the engine a moment before the database knew: the engine says so.
    second = post(client, acme).json["id"]
    provisioner.cancel_outcome = CancelOutcome(connected=True)
    assert_error(client.delete(f"{OWN}/{second}", headers=acme.headers), 409, "CMN-409")
    assert status_of(client, acme, second)["callStatus"] == "InProgress"


def test_delete_after_a_connected_call_ended_has_nothing_to_end(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    ringout_id = post(client, acme).json["id"]
    set_statuses(database, ringout_id, "Success", "Finished", "Finished",
                 ended=datetime.now(UTC))
    assert_no_body(client.delete(f"{OWN}/{ringout_id}", headers=acme.headers), 204)
    assert provisioner.cancelled == []
    assert status_of(client, acme, ringout_id) == {
        "callStatus": "Success", "callerStatus": "Finished", "calleeStatus": "Finished"}


def test_engine_steps_update_the_row_and_retention_ends_get(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
) -> None:
    ringout_id = post(client, acme).json["id"]
    now = datetime.now(UTC)
    with database.transaction() as connection:
        apply_ringout_change(connection, RingOutConnected(
            call_id=ringout_id, at=now, call=CallState.CONNECTED, caller=LegState.ANSWERED,
            callee=LegState.ANSWERED, leg="+14155550123"))
        apply_ringout_end(connection, RingOutEnded(call_id=ringout_id, at=now, why="done"))
    assert status_of(client, acme, ringout_id) == {
        "callStatus": "Success", "callerStatus": "Finished", "calleeStatus": "Finished"}
    set_statuses(database, ringout_id, "Success", "Finished", "Finished",
                 ended=now - timedelta(minutes=11))
    assert_error(client.get(f"{OWN}/{ringout_id}", headers=acme.headers), 404, "CMN-102")
    failed = post(client, acme).json["id"]
    with database.transaction() as connection:
        apply_ringout_end(connection, RingOutEnded(call_id=failed, at=now, why="broke"))
    assert status_of(client, acme, failed) == {
        "callStatus": "NoAnsweringMachine", "callerStatus": "InProgress",
        "calleeStatus": "InProgress"}


def test_the_status_writer_hears_ringout_events_only(
    client: FlaskClient, database: Database, acme: TenantAuth, office: dict[str, Any],
) -> None:
    """Through the publisher and the writer thread, as in `ringbridge serve`: a RingOut's
    changes and end reach its row; another call's end does not, whatever its id."""
    ringout_id = post(client, acme).json["id"]
    recorder, call_log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(call_log)
    subscribe_ringout_statuses(recorder)
    call_log.publish(RingOutConnected(
        call_id=ringout_id, call=CallState.CONNECTED, caller=LegState.ANSWERED,
        callee=LegState.ANSWERED, leg="+14155550123"))
    call_log.publish(CallEnded(call_id=ringout_id, why="not a RingOut's end"))
    recorder.flush()
    assert status_of(client, acme, ringout_id) == {
        "callStatus": "Success", "callerStatus": "Success", "calleeStatus": "Success"}
    call_log.publish(RingOutEnded(call_id=ringout_id, why="callee hung up"))
    recorder.flush()
    recorder.close()
    assert status_of(client, acme, ringout_id) == {
        "callStatus": "Success", "callerStatus": "Finished", "calleeStatus": "Finished"}


def test_post_and_delete_are_heavy_and_get_light(
    database: Database, acme: TenantAuth, provisioner: RecordingProvisioner,
) -> None:
    settings = Settings(restapi_heavy_per_minute=2, restapi_light_per_minute=3)
    client = create_app(database, provisioner, lambda: Readiness(True, True, True),
                        settings).test_client()
    client.post("/api/extensions", headers=acme.headers, json={
        "extension_number": "3001", "user_id": encode_id(acme.user_id)})
    first = post(client, acme)
    assert (first.headers["X-Rate-Limit-Group"], first.headers["X-Rate-Limit-Limit"],
            first.headers["X-Rate-Limit-Remaining"], first.headers["X-Rate-Limit-Window"]) == (
        "Heavy", "2", "1", "60")
    assert client.delete(f"{OWN}/{first.json['id']}", headers=acme.headers).status_code == 204
    limited = post(client, acme)
    assert_error(limited, 429, "CMN-301")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    # GET is in the Light group, counted apart.
    for remaining in ("2", "1", "0"):
        shown = client.get(f"{OWN}/{first.json['id']}", headers=acme.headers)
        assert shown.status_code == 200
        assert (shown.headers["X-Rate-Limit-Group"], shown.headers["X-Rate-Limit-Remaining"]
                ) == ("Light", remaining)
    assert_error(client.get(f"{OWN}/{first.json['id']}", headers=acme.headers), 429,
                 "CMN-301")


def test_rate_limits_can_be_switched_off(
    database: Database, acme: TenantAuth, provisioner: RecordingProvisioner,
) -> None:
    settings = Settings(restapi_heavy_per_minute=0, restapi_light_per_minute=0)
    client = create_app(database, provisioner, lambda: Readiness(True, True, True),
                        settings).test_client()
    client.post("/api/extensions", headers=acme.headers, json={
        "extension_number": "3001", "user_id": encode_id(acme.user_id)})
    responses = [post(client, acme) for _ in range(12)]
    assert [r.status_code for r in responses] == [200] * 12
    assert "X-Rate-Limit-Group" not in responses[-1].headers
