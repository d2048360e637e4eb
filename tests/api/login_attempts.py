"""Password grants as the two token endpoints (PortSIP's and RingCentral's) take them,
on an app whose rate limits a test chooses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.surfaces.portsip.oauth_users import PASSWORD
from tests.surfaces.ringcentral.oauth_logins import basic


@dataclass(frozen=True)
class Surface:
    url: str
    headers: dict[str, str]
    wrong_status: int  # a wrong password
    code: Callable[[Any], str]  # of an error body


PORTSIP = Surface("/api/login/oauth/token", {}, 401, lambda r: r.json["errors"][0]["code"])
RINGCENTRAL = Surface("/restapi/oauth/token", basic(), 400, lambda r: r.json["errorCode"])


def app_client(database: Database, provisioner: RecordingProvisioner,
               **settings: int) -> FlaskClient:
    """The RingCentral Auth rate group (every token request per address) off unless
    given: these tests count failed attempts."""
    settings = {"restapi_auth_per_minute": 0, **settings}
    return create_app(database, provisioner, lambda: Readiness(True, True, True),
                      Settings(**settings)).test_client()  # type: ignore[arg-type]


def attempt(client: FlaskClient, surface: Surface, username: str = "api",
            password: str = PASSWORD, address: str = "127.0.0.1") -> Any:
    return client.post(surface.url, headers=surface.headers,
                       environ_overrides={"REMOTE_ADDR": address},
                       data={"grant_type": "password", "username": username,
                             "password": password})


def named(surface: Surface, who: TenantAuth) -> dict[str, Any]:
    """How the surface's client names the tenant: PortSIP by domain, RingCentral by the
    company id as the client id in Basic auth."""
    if surface is PORTSIP:
        return {"data": {"domain": who.sip_domain}}
    return {"headers": basic(who.company_id)}


def attempt_in(client: FlaskClient, surface: Surface, who: TenantAuth | None,
               password: str = PASSWORD, username: str = "api") -> Any:
    naming = named(surface, who) if who is not None else {}
    return client.post(surface.url, headers=naming.get("headers", surface.headers),
                       data={"grant_type": "password", "username": username,
                             "password": password, **naming.get("data", {})})
