"""/api/extensions called as a client does: an extension made and shown, and the error
of a PortSIP-format answer."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.api.conftest import TenantAuth
from tests.support.json_answers import json_of


def create(client: FlaskClient, who: TenantAuth, **body: Any) -> str:
    response = client.post("/api/extensions", json={"extension_number": "1001", **body},
                           headers=who.headers)
    assert response.status_code == 200, response.json
    return str(json_of(response)["id"])


def show(client: FlaskClient, who: TenantAuth, extension_id: str) -> dict[str, Any]:
    response = client.get(f"/api/extensions/{extension_id}", headers=who.headers)
    assert response.status_code == 200, response.json
    return dict(json_of(response))


def error_of(response: Any) -> dict[str, Any]:
    (error,) = response.json["errors"]
    return dict(error)
