"""The operator panel over HTTP (docs/panel.md): sign-in and its session cookie, CSRF on
every change, who may do what, the state it shows and its event stream. The engine is
the recording provisioner; tests/integration/test_panel_browser_live.py drives the page
in a real browser on live calls."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.gateway import LiveCall, ParkedCall, Party, PartyState, Waiting
from bridge.panel.office import read_office
from bridge.services.tenants import create_user, find_tenant, hash_password
from bridge.store.ids import decode_id
from bridge.store.models import CallRecord
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.user_tokens import add_extension, user_id
from tests.surfaces.portsip.ring_group_calls import create, set_agents

PASSWORD = "correct horse battery staple"
NOW = datetime.now(UTC)


def make_user(database: Database, who: TenantAuth, username: str, role: str = "user") -> None:
    with database.session() as session:
        create_user(session, find_tenant(session, who.company_id), username,
                    password_hash=hash_password(PASSWORD), role=role)


def form_csrf(client: FlaskClient) -> str:
    page = client.get("/panel/signin")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD,
            domain: str = "") -> Any:
    return client.post("/panel/signin", data={
        "username": username, "password": password, "domain": domain,
        "csrf": form_csrf(client)})


def page_csrf(client: FlaskClient) -> str:
    page = client.get("/panel")
    assert page.status_code == 200, page.status_code
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def act(client: FlaskClient, name: str, body: dict[str, Any], csrf: str | None) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    return client.post(f"/panel/actions/{name}", json=body, headers=headers)


@pytest.fixture
def office(client: FlaskClient, database: Database, acme: TenantAuth) -> TenantAuth:
    """Amy (user) owns 1001, Bob (user) owns 1002, Ann is an admin; group 6001 rings both."""
    make_user(database, acme, "amy")
    make_user(database, acme, "bob")
    make_user(database, acme, "ann", role="admin")
    add_extension(client, acme, "1001", user_id(database, acme, "amy"))
    add_extension(client, acme, "1002", user_id(database, acme, "bob"))
    group_id = create(client, acme, extension_number="6001",
                      ring_strategy="RING_SIMULTANEOUSLY")
    assert set_agents(client, acme, group_id, {"items": [
        {"extension_number": "1001"}, {"extension_number": "1002"}]}).status_code == 200
    return acme


def ringing_call(domain: str) -> LiveCall:
    caller = Party("00", "ch-caller", "+442071234567", "Kim", True, True,
                   PartyState.OTHER_SIDE_RINGING)
    ringing = Party("01", "ch-1001", "1001", "", False, False, PartyState.RINGING,
                    ringing_at=NOW)
    return LiveCall("call1", domain, NOW - timedelta(seconds=3), None, True, "6001",
                    (caller, ringing), source="+442071234567")


def talking_call(domain: str) -> LiveCall:
    caller = Party("00", "ch-caller2", "+442079999999", "", True, True, PartyState.UP,
                   answered_at=NOW)
    agent = Party("01", "ch-1001b", "1001", "", False, False, PartyState.UP, answered_at=NOW)
    return LiveCall("call2", domain, NOW - timedelta(seconds=30), NOW, True, "6001",
                    (caller, agent), source="+442079999999")


def parked_call(domain: str) -> LiveCall:
    parked = ParkedCall("ch-parked", "PJSIP/trunk-01", "default", "701", "+442075550000",
                        "", NOW, 60, "call3", "1001")
    party = Party("00", "ch-parked", "+442075550000", "", True, True, PartyState.UP,
                  answered_at=NOW, parked=parked)
    return LiveCall("call3", domain, NOW - timedelta(seconds=60), NOW, True, "6001",
                    (party,), source="+442075550000")


def test_signing_in_opens_a_session_in_a_strict_http_only_cookie(
        client: FlaskClient, office: TenantAuth) -> None:
    assert client.get("/panel").headers["Location"].endswith("/panel/signin")
    signed = sign_in(client, "amy")
    assert signed.status_code == 303 and signed.headers["Location"].endswith("/panel")
    cookie = next(c for c in signed.headers.getlist("Set-Cookie") if c.startswith("rb_panel="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/panel" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here
    page = client.get("/panel")
    assert page.status_code == 200 and "amy" in page.get_data(as_text=True)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_a_session_is_secure_over_tls(client: FlaskClient, office: TenantAuth) -> None:
    https = "https://localhost"
    page = client.get("/panel/signin", base_url=https)
    assert "Secure" in page.headers["Set-Cookie"]
    found = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    signed = client.post("/panel/signin", base_url=https, data={
        "username": "amy", "password": PASSWORD, "csrf": found.group(1)})
    assert signed.status_code == 303
    cookie = next(c for c in signed.headers.getlist("Set-Cookie") if c.startswith("rb_panel="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_wrong_password_is_refused_on_the_page_and_opens_no_session(
        client: FlaskClient, office: TenantAuth) -> None:
    refused = sign_in(client, "amy", "wrong")
    assert refused.status_code == 401
    assert 'role="alert"' in refused.get_data(as_text=True)
    assert not any(c.startswith("rb_panel=") for c in refused.headers.getlist("Set-Cookie"))
    assert client.get("/panel/state").status_code == 401


def test_sign_in_without_the_forms_csrf_token_is_refused(
        client: FlaskClient, office: TenantAuth) -> None:
    form_csrf(client)
    refused = client.post("/panel/signin", data={"username": "amy", "password": PASSWORD,
                                                 "csrf": "forged"})
    assert refused.status_code == 400
    assert client.get("/panel").status_code == 303


def test_a_panel_session_is_not_a_bearer_token(client: FlaskClient, office: TenantAuth) -> None:
    signed = sign_in(client, "ann")
    cookie = next(c for c in signed.headers.getlist("Set-Cookie") if c.startswith("rb_panel="))
    token = cookie.split(";")[0].removeprefix("rb_panel=")
    listed = client.get("/api/extensions", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 401


def test_signing_out_ends_the_session(client: FlaskClient, office: TenantAuth) -> None:
    sign_in(client, "amy")
    csrf = page_csrf(client)
    assert client.post("/panel/signout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/panel/state").status_code == 200  # a forged sign-out did nothing
    token = client.get_cookie("rb_panel", path="/panel")
    assert token is not None
    client.post("/panel/signout", data={"csrf": csrf})
    client.set_cookie("rb_panel", token.value, path="/panel")
    assert client.get("/panel/state").status_code == 401  # revoked, not only forgotten


def test_the_state_shows_agents_groups_lots_and_calls(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner) -> None:
    domain = office.sip_domain
    provisioner.calls = [ringing_call(domain), talking_call(domain), parked_call(domain)]
    provisioner.registered = {f"1001@{domain}", "1002@other.example"}
    provisioner.lines = {}
    provisioner.time_left = {"ch-parked": 42.0}
    sign_in(client, "amy")
    state = client.get("/panel/state").get_json()
    assert state["me"] == {"username": "amy", "admin": False, "extensions": ["1001"]}
    agents = {a["number"]: a for a in state["agents"]}
    assert (agents["1001"]["state"], agents["1001"]["peer"]) == ("talking", "+442079999999")
    assert agents["1001"]["group"] == "6001 Sales" and agents["1001"]["mine"] is True
    assert (agents["1001"]["registered"], agents["1002"]["registered"]) == (True, False)
    assert agents["1002"]["state"] == "idle"
    assert [g["number"] for g in state["groups"]] == ["6001"]
    assert [m["number"] for m in state["groups"][0]["members"]] == ["1001", "1002"]
    [parked] = state["parked"]
    assert (parked["slot"], parked["caller"], parked["parked_by"]) == (
        "701", "+442075550000", "1001")
    left = datetime.fromisoformat(parked["rings_back_at"]) - datetime.fromisoformat(
        state["now"])
    assert 40 <= left.total_seconds() <= 43
    calls = {c["call_id"]: c for c in state["calls"]}
    assert (calls["call1"]["state"], calls["call1"]["agent"]) == ("ringing", "1001")
    assert (calls["call2"]["state"], calls["call3"]["state"]) == ("talking", "parked")
    assert calls["call1"]["group"] == "6001 Sales"


def test_a_caller_waiting_in_a_groups_line_is_shown_in_it(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner) -> None:
    call = ringing_call(office.sip_domain)
    provisioner.calls = [call]
    groups = client.get("/api/ring_groups", headers=office.headers).get_json()["items"]
    group_id = decode_id(groups[0]["id"])
    assert group_id is not None
    provisioner.lines = {group_id: (Waiting("call1", "urgent", NOW - timedelta(seconds=9)),)}
    sign_in(client, "amy")
    state = client.get("/panel/state").get_json()
    [waiting] = state["groups"][0]["waiting"]
    assert (waiting["caller"], waiting["priority"]) == ("+442071234567", "urgent")
    assert state["calls"][0]["state"] == "waiting"


def test_another_tenants_calls_and_agents_are_not_shown(
        client: FlaskClient, office: TenantAuth, globex: TenantAuth,
        provisioner: RecordingProvisioner) -> None:
    provisioner.calls = [ringing_call(globex.sip_domain)]
    sign_in(client, "ann")
    state = client.get("/panel/state").get_json()
    assert state["calls"] == [] and {a["number"] for a in state["agents"]} == {"1001", "1002"}


def test_an_action_without_the_pages_csrf_token_is_refused_and_logged(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner,
        caplog: pytest.LogCaptureFixture) -> None:
    provisioner.calls = [ringing_call(office.sip_domain)]
    sign_in(client, "amy")
    caplog.set_level(logging.INFO, logger="bridge.security")
    for csrf in (None, "forged"):
        refused = act(client, "pickup", {"call_id": "call1", "extension": "1001"}, csrf)
        assert refused.status_code == 403 and "CSRF" in refused.get_json()["message"]
    assert provisioner.actions == []
    assert "refused 403: POST /panel/actions/pickup by a panel session" in caplog.text


def test_an_action_without_a_session_is_refused(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner) -> None:
    refused = act(client, "hangup", {"call_id": "call1"}, "anything")
    assert refused.status_code == 401 and refused.get_json()["ok"] is False
    assert provisioner.actions == []


def test_a_user_picks_a_call_up_to_their_own_extension_only(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner) -> None:
    provisioner.calls = [ringing_call(office.sip_domain)]
    sign_in(client, "bob")
    csrf = page_csrf(client)
    refused = act(client, "pickup", {"call_id": "call1", "extension": "1001"}, csrf)
    assert refused.status_code == 403 and "not your extension" in refused.get_json()["message"]
    picked = act(client, "pickup", {"call_id": "call1", "extension": "1002"}, csrf)
    assert picked.get_json() == {"ok": True, "message": "Picking up on 1002"}
    assert provisioner.actions == [("pick_up", office.sip_domain, "call1", "1002", 25)]


def test_a_user_parks_the_other_party_of_their_own_call(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner) -> None:
    provisioner.calls = [talking_call(office.sip_domain)]
    sign_in(client, "bob")
    refused = act(client, "park", {"call_id": "call2", "extension": "1002"}, page_csrf(client))
    assert refused.status_code == 400 and "not talking" in refused.get_json()["message"]
    client.post("/panel/signout", data={"csrf": page_csrf(client)})
    sign_in(client, "amy")
    full = act(client, "park", {"call_id": "call2", "extension": "1001"}, page_csrf(client))
    assert provisioner.actions == [("park", office.sip_domain, "call2", "00", "1001", 180)]
    assert full.status_code == 409 and "full" in full.get_json()["message"]


def test_taking_a_parked_call_back_a_user_to_their_own_an_admin_to_any(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner) -> None:
    provisioner.calls = [parked_call(office.sip_domain)]
    sign_in(client, "bob")
    refused = act(client, "unpark", {"call_id": "call3", "extension": "1001"},
                  page_csrf(client))
    assert refused.status_code == 403
    client.post("/panel/signout", data={"csrf": page_csrf(client)})
    sign_in(client, "ann")
    taken = act(client, "unpark", {"call_id": "call3", "extension": "1002"}, page_csrf(client))
    assert taken.get_json()["ok"] is True
    assert provisioner.actions == [("unpark", office.sip_domain, "call3", "1002", 25)]


def test_only_an_admin_hangs_up(client: FlaskClient, office: TenantAuth,
                                provisioner: RecordingProvisioner) -> None:
    provisioner.calls = [talking_call(office.sip_domain)]
    sign_in(client, "amy")
    assert act(client, "hangup", {"call_id": "call2"}, page_csrf(client)).status_code == 403
    client.post("/panel/signout", data={"csrf": page_csrf(client)})
    sign_in(client, "ann")
    assert act(client, "hangup", {"call_id": "call2"}, page_csrf(client)).status_code == 200
    assert provisioner.actions == [("hang_up", office.sip_domain, "call2", None)]


def test_a_user_pauses_only_themselves_and_an_admin_anyone(
        client: FlaskClient, office: TenantAuth) -> None:
    sign_in(client, "amy")
    csrf = page_csrf(client)
    assert act(client, "pause", {"extension": "1002"}, csrf).status_code == 403
    paused = act(client, "pause", {"extension": "1001", "reason": "lunch"}, csrf)
    assert paused.get_json() == {"ok": True, "message": "1001 paused"}
    agents = {a["number"]: a for a in client.get("/panel/state").get_json()["agents"]}
    assert (agents["1001"]["paused"], agents["1001"]["pause_reason"]) == (True, "lunch")
    client.post("/panel/signout", data={"csrf": csrf})
    sign_in(client, "ann")
    assert act(client, "resume", {"extension": "1001"}, page_csrf(client)).status_code == 200
    agents = {a["number"]: a for a in client.get("/panel/state").get_json()["agents"]}
    assert agents["1001"]["paused"] is False


@pytest.mark.parametrize(("name", "body", "status"), [
    ("explode", {}, 404),
    ("pickup", {"extension": "1001"}, 400),
    ("pickup", {"call_id": "gone", "extension": "1001"}, 404),
    ("pickup", {"call_id": "call1", "extension": "9999"}, 404),
    ("pause", {"extension": "1001", "reason": "a\nb"}, 400),
    ("pause", {"extension": "1001", "reason": 7}, 400),
])
def test_bad_actions_are_refused_with_a_message(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner,
        name: str, body: dict[str, Any], status: int) -> None:
    provisioner.calls = [ringing_call(office.sip_domain)]
    sign_in(client, "ann")
    refused = act(client, name, body, page_csrf(client))
    assert refused.status_code == status
    answer = refused.get_json()
    assert answer["ok"] is False and answer["message"]
    assert provisioner.actions == []


def test_the_event_stream_sends_the_state_then_each_change(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner) -> None:
    sign_in(client, "amy")
    response = client.get("/panel/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(cast(Iterator[bytes], response.response))
    assert next(chunks).startswith(b"retry:")
    first = next(chunks).decode()
    assert first.startswith("event: state\n") and '"calls":[]' in first
    provisioner.calls = [ringing_call(office.sip_domain)]
    provisioner.changed.note()
    second = next(chunks).decode()
    assert second.startswith("event: state\n") and '"call_id":"call1"' in second
    response.close()


def test_a_session_holds_two_streams_and_a_process_eight(
        client: FlaskClient, office: TenantAuth) -> None:
    sessions = [client.application.test_client() for _ in range(5)]
    for session, username in zip(sessions, ["amy", "bob", "ann", "amy", "bob"], strict=True):
        sign_in(session, username)
    streams = [sessions[0].get("/panel/events", buffered=False) for _ in range(2)]
    third = sessions[0].get("/panel/events")
    assert third.status_code == 429 and "2 panels open" in third.get_json()["message"]
    streams += [s.get("/panel/events", buffered=False) for s in sessions[1:4] for _ in range(2)]
    assert [s.status_code for s in streams] == [200] * 8
    full = sessions[4].get("/panel/events")
    assert full.status_code == 503 and full.headers["Retry-After"] == "5"
    streams[0].close()
    streams[0].close()  # given back once, however often closed
    again = sessions[4].get("/panel/events", buffered=False)
    assert again.status_code == 200
    assert sessions[4].get("/panel/events").status_code == 503
    for stream in [*streams[1:], again]:
        stream.close()


def test_an_ended_session_is_told_so_in_the_stream(
        client: FlaskClient, office: TenantAuth) -> None:
    ended = client.get("/panel/events")
    assert ended.status_code == 200 and ended.mimetype == "text/event-stream"
    assert ended.get_data(as_text=True) == "event: signed-out\ndata: {}\n\n"


def test_odd_csrf_values_and_long_sign_ins_are_refused_not_failed(
        client: FlaskClient, office: TenantAuth, provisioner: RecordingProvisioner) -> None:
    csrf = form_csrf(client)
    long_name = client.post("/panel/signin", data={"username": "a" * 129,
                                                   "password": PASSWORD, "csrf": csrf})
    assert long_name.status_code == 400 and "at most 128" in long_name.get_data(as_text=True)
    odd_form = client.post("/panel/signin", data={"username": "amy", "password": PASSWORD,
                                                  "csrf": "é"})
    assert odd_form.status_code == 400
    sign_in(client, "amy")
    odd = client.post("/panel/actions/pause", json={"extension": "1001"},
                      headers={"X-CSRF-Token": "é"})
    assert odd.status_code == 403
    assert client.post("/panel/signout", data={"csrf": "é"}).status_code == 403


def test_the_cookie_is_secure_behind_a_tls_proxy(
        database: Database, provisioner: RecordingProvisioner, office: TenantAuth) -> None:
    """The public URL is https: the proxy in front ends TLS, ringbridge sees http."""
    settings = Settings(public_url="https://pbx.example.com")
    behind = create_app(database, provisioner, lambda: Readiness(True, True, True),
                        settings).test_client()
    signed = sign_in(behind, "amy")
    cookie = next(c for c in signed.headers.getlist("Set-Cookie") if c.startswith("rb_panel="))
    assert "Secure" in cookie


def test_todays_counts_are_read_from_the_call_records_since_local_midnight(
        database: Database, acme: TenantAuth) -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    with database.session() as session:
        tenant = find_tenant(session, acme.company_id)
        tenant.time_zone = "America/New_York"  # midnight there is 05:00 UTC
        for call_id, received, answered, ended in [
            ("a1", now - timedelta(hours=1), now - timedelta(minutes=59, seconds=48), now),
            ("a2", now - timedelta(hours=2), now - timedelta(hours=2) + timedelta(seconds=3),
             now),
            ("m1", now - timedelta(hours=3), None, now - timedelta(hours=3) +
             timedelta(seconds=20)),
            ("up", now - timedelta(minutes=1), None, None),  # still ringing: not missed
            ("old", now - timedelta(hours=8), None, now - timedelta(hours=8)),  # yesterday
        ]:
            session.add(CallRecord(call_id=call_id, tenant_id=tenant.id, ring_group_id=77,
                                   received_at=received, answered_at=answered,
                                   ended_at=ended))
    with database.session() as session:
        office = read_office(session, find_tenant(session, acme.company_id), now)
    today = office.today[77]
    assert (today.answered, today.missed) == (2, 1)
    assert today.longest_wait is not None and abs(today.longest_wait - 20.0) < 0.01
