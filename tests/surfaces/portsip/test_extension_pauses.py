"""Pausing and resuming extensions (agent availability) under /api/extensions: the
answers, where a pause shows, the rules on the reason, roles and tenants, the directory
generation, and the engine's read of the pauses (bridge/services/pauses.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.services.pauses import paused_extensions
from bridge.store.directory_changes import current_generation
from bridge.store.ids import decode_id
from bridge.store.session import Database
from tests.api.conftest import NON_ASCII_DIGIT_IDS, TenantAuth
from tests.api.user_tokens import token_of
from tests.support.json_answers import json_of
from tests.surfaces.portsip.extension_calls import create, error_of, show
from tests.surfaces.portsip.ring_group_calls import create as create_group
from tests.surfaces.portsip.ring_group_calls import set_agents

AVAILABLE = {"paused": False, "pause_reason": None, "paused_at": None}


def pause(client: FlaskClient, who: TenantAuth, extension_id: str, **body: Any) -> Any:
    return client.post(f"/api/extensions/{extension_id}/pause", headers=who.headers,
                       json=body)


def resume(client: FlaskClient, who: TenantAuth, extension_id: str) -> Any:
    return client.post(f"/api/extensions/{extension_id}/resume", headers=who.headers)


def paused(client: FlaskClient, who: TenantAuth, extension_id: str,
           **body: Any) -> dict[str, Any]:
    response = pause(client, who, extension_id, **body)
    assert response.status_code == 200, response.json
    return dict(json_of(response))


def state(shown: dict[str, Any]) -> dict[str, Any]:
    return {name: shown[name] for name in AVAILABLE}


def generation(database: Database) -> int | None:
    with database.engine.connect() as connection:
        return current_generation(connection)


class TestPauseAndResume:
    def test_pause_answers_the_pause_and_every_form_shows_it(
            self, client: FlaskClient, acme: TenantAuth) -> None:
        extension_id = create(client, acme, display_name="Ann")
        create(client, acme, extension_number="1002")
        group_id = create_group(client, acme)
        assert set_agents(client, acme, group_id, {"items": [
            {"extension_number": "1001"}, {"extension_number": "1002"}]}).status_code == 200
        before = datetime.now(UTC) - timedelta(seconds=1)
        answer = paused(client, acme, extension_id, reason="lunch")
        assert answer["paused"] is True and answer["pause_reason"] == "lunch"
        assert answer["paused_at"].endswith("Z")
        moment = datetime.fromisoformat(answer["paused_at"])
        assert before <= moment <= datetime.now(UTC)
        assert state(show(client, acme, extension_id)) == answer
        listed = json_of(client.get("/api/extensions?orderby=extension_number",
                                    headers=acme.headers))["items"]
        assert [state(item) for item in listed] == [answer, AVAILABLE]
        members = json_of(client.get(f"/api/ring_groups/{group_id}/agents",
                                     headers=acme.headers))["items"]
        assert [state(member) for member in members] == [answer, AVAILABLE]
        member = json_of(client.get(f"/api/ring_groups/{group_id}/agents/1001",
                                    headers=acme.headers))
        assert state(member) == answer

    def test_resume_clears_the_pause(self, client: FlaskClient, acme: TenantAuth) -> None:
        extension_id = create(client, acme)
        paused(client, acme, extension_id, reason="lunch")
        for _ in range(2):  # resuming an available extension changes nothing
            response = resume(client, acme, extension_id)
            assert response.status_code == 200, response.json
            assert json_of(response) == AVAILABLE
            assert state(show(client, acme, extension_id)) == AVAILABLE

    def test_pausing_again_changes_the_reason_and_keeps_the_time(
            self, client: FlaskClient, acme: TenantAuth) -> None:
        extension_id = create(client, acme)
        first = paused(client, acme, extension_id, reason="lunch")
        again = paused(client, acme, extension_id, reason="training")
        assert again == {**first, "pause_reason": "training"}
        assert paused(client, acme, extension_id) == {**first, "pause_reason": None}

    @pytest.mark.parametrize("body", [None, {}, {"reason": None}, {"reason": ""}],
                             ids=["no body", "empty", "null", "empty reason"])
    def test_the_reason_may_be_left_out(self, client: FlaskClient, acme: TenantAuth,
                                        body: dict[str, Any] | None) -> None:
        extension_id = create(client, acme)
        response = client.post(f"/api/extensions/{extension_id}/pause",
                               headers=acme.headers, json=body)
        assert response.status_code == 200, response.json
        assert json_of(response)["paused"] is True
        assert json_of(response)["pause_reason"] is None

    @pytest.mark.parametrize("reason", ["r" * 200, "Café, 午餐 🍜", 'a "quoted" <reason>; ok'])
    def test_any_printable_reason_of_200_characters_is_kept(
            self, client: FlaskClient, acme: TenantAuth, reason: str) -> None:
        extension_id = create(client, acme)
        assert paused(client, acme, extension_id, reason=reason)["pause_reason"] == reason
        assert show(client, acme, extension_id)["pause_reason"] == reason

    def test_members_posted_back_with_their_pause_keep_it(
            self, client: FlaskClient, acme: TenantAuth) -> None:
        """The pause fields of GET .../agents are read-only: posting it back works and
        neither pauses nor resumes anyone."""
        extension_id = create(client, acme)
        group_id = create_group(client, acme)
        set_agents(client, acme, group_id, {"items": [{"extension_number": "1001"}]})
        paused(client, acme, extension_id, reason="lunch")
        path = f"/api/ring_groups/{group_id}/agents"
        before = json_of(client.get(path, headers=acme.headers))
        assert set_agents(client, acme, group_id, before).status_code == 200
        assert json_of(client.get(path, headers=acme.headers)) == before
        posted = {"items": [{**before["items"][0], **AVAILABLE}]}
        assert set_agents(client, acme, group_id, posted).status_code == 200
        assert show(client, acme, extension_id)["paused"] is True


class TestRules:
    @pytest.mark.parametrize("body", [
        {"reason": "r" * 201}, {"reason": 5}, {"reason": True}, {"reason": ["lunch"]},
        {"reason": {"text": "lunch"}}, {"reason": "line\nbreak"}, {"reason": "lunch\n"},
        {"reason": "tab\there"}, {"reason": "del\x7f"}, {"reason": "c1\x85"},
        {"reason": "nul\x00"}, {"reason": "a\ud800b"}, {"colour": "red"},
    ])
    def test_a_bad_body_is_400_and_changes_nothing(
            self, client: FlaskClient, acme: TenantAuth, body: dict[str, Any]) -> None:
        extension_id = create(client, acme)
        response = pause(client, acme, extension_id, **body)
        assert response.status_code == 400, response.json
        error = error_of(response)
        assert error["code"] == "VALIDATE_FAILED"
        assert error["message"].startswith(f"{next(iter(body))}:"), error
        assert state(show(client, acme, extension_id)) == AVAILABLE

    @pytest.mark.parametrize("body", [[], "lunch", 5])
    def test_a_body_not_an_object_is_400(self, client: FlaskClient, acme: TenantAuth,
                                         body: Any) -> None:
        extension_id = create(client, acme)
        response = client.post(f"/api/extensions/{extension_id}/pause", headers=acme.headers,
                               json=body)
        assert response.status_code == 400, response.json
        assert error_of(response)["code"] == "VALIDATE_FAILED"

    def test_a_body_not_sent_as_json_is_415(self, client: FlaskClient,
                                            acme: TenantAuth) -> None:
        extension_id = create(client, acme)
        response = client.post(f"/api/extensions/{extension_id}/pause", headers=acme.headers,
                               data='{"reason": "lunch"}', content_type="text/plain")
        assert response.status_code == 415
        assert error_of(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert state(show(client, acme, extension_id)) == AVAILABLE

    @pytest.mark.parametrize("bad_id", ["nope", "MTIz", "NzAwNTUxOTA5NzczMTQ4MTYw",
                                        *NON_ASCII_DIGIT_IDS])
    def test_unknown_or_malformed_ids_are_404(self, client: FlaskClient, acme: TenantAuth,
                                              bad_id: str) -> None:
        for response in (pause(client, acme, bad_id, reason="lunch"),
                         resume(client, acme, bad_id)):
            assert response.status_code == 404
            assert error_of(response)["code"] == "NOT_FOUND"

    def test_another_tenants_extension_is_404(self, client: FlaskClient, acme: TenantAuth,
                                              globex: TenantAuth) -> None:
        extension_id = create(client, acme)
        for response in (pause(client, globex, extension_id), resume(client, globex,
                                                                      extension_id)):
            assert response.status_code == 404
            assert error_of(response)["code"] == "NOT_FOUND"
        assert state(show(client, acme, extension_id)) == AVAILABLE
        paused(client, acme, extension_id)
        assert resume(client, globex, extension_id).status_code == 404
        assert show(client, acme, extension_id)["paused"] is True

    @pytest.mark.parametrize("action", ["pause", "resume"])
    def test_a_users_token_is_403_and_no_token_401(
            self, client: FlaskClient, database: Database, acme: TenantAuth,
            action: str) -> None:
        extension_id = create(client, acme)
        path = f"/api/extensions/{extension_id}/{action}"
        forbidden = client.post(path, headers=token_of(database, acme, "ann"), json={})
        assert forbidden.status_code == 403
        assert error_of(forbidden)["code"] == "FORBIDDEN"
        anonymous = client.post(path, json={})
        assert anonymous.status_code == 401
        assert error_of(anonymous)["code"] == "UNAUTHORIZED"
        assert state(show(client, acme, extension_id)) == AVAILABLE


def test_pause_and_resume_move_the_directory_generation_on(
        client: FlaskClient, database: Database, acme: TenantAuth) -> None:
    """The engine reads the pauses again when the generation changes."""
    extension_id = create(client, acme)
    before = generation(database) or 0
    paused(client, acme, extension_id, reason="lunch")
    assert generation(database) == before + 1
    paused(client, acme, extension_id, reason="training")
    assert generation(database) == before + 2
    assert resume(client, acme, extension_id).status_code == 200
    assert generation(database) == before + 3
    assert pause(client, acme, extension_id, reason="r" * 201).status_code == 400
    assert generation(database) == before + 3
    assert resume(client, acme, extension_id).status_code == 200  # not paused: no write
    assert generation(database) == before + 3


def test_paused_extensions_are_read_with_one_select(
        client: FlaskClient, database: Database, acme: TenantAuth, globex: TenantAuth,
        statements: list[str]) -> None:
    """Every tenant's, with the reason ("" for none); resumed ones are not."""
    lunch, silent, back, available = (create(client, acme, extension_number=number)
                                      for number in ("1001", "1002", "1003", "1004"))
    foreign = create(client, globex)
    paused(client, acme, lunch, reason="lunch")
    paused(client, acme, silent)
    paused(client, acme, back, reason="meeting")
    assert resume(client, acme, back).status_code == 200
    paused(client, globex, foreign, reason="training")
    statements.clear()
    with database.engine.connect() as connection:
        found = paused_extensions(connection)
    assert found == {decode_id(lunch): "lunch", decode_id(silent): "",
                     decode_id(foreign): "training"}
    assert decode_id(available) not in found
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
