"""A tenant's users as the role tests make them: a new user's bearer header, a user's id,
and an extension a user owns."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from bridge.services.tenants import create_user, find_tenant, find_user, issue_token
from bridge.store.ids import encode_id
from bridge.store.session import Database
from tests.api.conftest import TenantAuth
from tests.support.json_answers import json_of


def token_of(database: Database, who: TenantAuth, username: str | None,
             role: str = "user") -> dict[str, str]:
    """A bearer header for a new user of that role (None: a token without a user)."""
    with database.session() as session:
        tenant = find_tenant(session, who.company_id)
        user = create_user(session, tenant, username, role=role) if username else None
        _, token = issue_token(session, tenant.id, user.id if user else None)
    return {"Authorization": f"Bearer {token}"}


def user_id(database: Database, who: TenantAuth, username: str) -> int:
    with database.session() as session:
        return find_user(session, find_tenant(session, who.company_id), username).id


def add_extension(client: FlaskClient, who: TenantAuth, number: str,
                  owner: int | None) -> str:
    body: dict[str, Any] = {"extension_number": number,
                            "caller_ids": [f"+1415555{number}"]}
    if owner is not None:
        body["user_id"] = encode_id(owner)
    response = client.post("/api/extensions", headers=who.headers, json=body)
    assert response.status_code == 200, response.json
    return str(json_of(response)["id"])
