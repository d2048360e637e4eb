"""Bodies nested too deeply are refused on every surface, in its own error body, before
anything walks them (they answered 500 and logged a 200 kB traceback)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.api.json_depth import MAX_DEPTH
from tests.api.conftest import TenantAuth

ROUTES = [("POST", "/api/extensions"), ("POST", "/api/dispatch/settings"),
          ("POST", "/restapi/v1.0/account/~/extension/~/ring-out"),
          ("PUT", "/uapi/phoneCalls/@me/100")]


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def error_code(path: str, body: Any) -> str:
    if path.startswith("/api/"):
        return str(body["errors"][0]["code"])
    if path.startswith("/restapi/"):
        return str(body["errorCode"])
    return str(body["error"]["code"])


def send(client: FlaskClient, who: TenantAuth, method: str, path: str, data: str) -> Any:
    return client.open(path, method=method, data=data,
                       headers={**who.headers, "Content-Type": "application/json"})


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("body", [nested(490), nested(MAX_DEPTH + 1),
                                  '{"a": ' * 490 + "1" + "}" * 490, "[" * 5000])
def test_a_body_nested_too_deeply_is_400_in_the_surfaces_format(
        client: FlaskClient, acme: TenantAuth, caplog: pytest.LogCaptureFixture,
        method: str, path: str, body: str) -> None:
    caplog.set_level(logging.INFO)
    response = send(client, acme, method, path, body)
    assert response.status_code == 400, response.json
    assert error_code(path, response.json) == {
        "/api/": "VALIDATE_FAILED", "/restapi/": "CMN-101", "/uapi/": "invalid_request",
    }[path[:path.index("/", 1) + 1]]
    assert f"more than {MAX_DEPTH} levels" in str(response.json)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_body_at_the_limit_is_read_as_usual(
        client: FlaskClient, acme: TenantAuth, method: str, path: str) -> None:
    """Refused by the route's own validation (a list is not the object it wants), not
    for its depth; brackets inside strings do not count."""
    for body in (nested(MAX_DEPTH), '["' + "[" * 100 + '"]'):
        response = send(client, acme, method, path, body)
        assert response.status_code == 400, response.json
        assert "levels" not in str(response.json)


def test_the_token_is_checked_before_the_body(client: FlaskClient) -> None:
    response = client.post("/api/extensions", data=nested(490),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 401
