"""RingCentral's token endpoint as its clients call it (client credentials in Basic auth,
a password login of the API user), and the RingOut URL of the token's own extension."""

from __future__ import annotations

import base64
from typing import Any

from flask.testing import FlaskClient

from tests.surfaces.portsip.oauth_users import PASSWORD

TOKEN_URL = "/restapi/oauth/token"
RINGOUT = "/restapi/v1.0/account/~/extension/~/ring-out"


def basic(client_id: str = "rc-app-key", secret: str = "rc-app-secret") -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def token(client: FlaskClient, headers: dict[str, str] | None = None, **form: str) -> Any:
    return client.post(TOKEN_URL, data=form, headers=basic() if headers is None else headers)


def login(client: FlaskClient, **extra: str) -> dict[str, Any]:
    response = token(client, headers=None, grant_type="password", username="api",
                     password=PASSWORD, **extra)
    assert response.status_code == 200, response.json
    return dict(response.json)
