"""/api/ring_groups called as a client does: a ring group made and changed, its agents
set; and an extension made, to be an agent."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.api.conftest import TenantAuth
from tests.support.json_answers import json_of

GROUP = {"name": "Sales", "extension_number": "6000", "ring_strategy": "CYCLIC_HUNT"}


def create(client: FlaskClient, who: TenantAuth, **body: Any) -> str:
    response = client.post("/api/ring_groups", json={**GROUP, **body}, headers=who.headers)
    assert response.status_code == 200, response.json
    return str(json_of(response)["id"])


def update(client: FlaskClient, who: TenantAuth, group_id: str, **body: Any) -> Any:
    return client.post(f"/api/ring_groups/{group_id}", json=body, headers=who.headers)


def extension(client: FlaskClient, who: TenantAuth, number: str,
              display_name: str | None = None) -> str:
    response = client.post("/api/extensions", headers=who.headers, json={
        "extension_number": number, "display_name": display_name})
    assert response.status_code == 200, response.json
    return str(json_of(response)["id"])


def set_agents(client: FlaskClient, who: TenantAuth, group_id: str, body: Any) -> Any:
    return client.post(f"/api/ring_groups/{group_id}/agents", json=body, headers=who.headers)
