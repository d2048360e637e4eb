"""Password grants are throttled on both token endpoints (PortSIP's and RingCentral's):
failures per username and per client address, and concurrent password checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.services import tenants
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.test_oauth import PASSWORD, add_user
from tests.api.test_ringcentral_oauth import basic


@dataclass(frozen=True)
class Surface:
    url: str
    headers: dict[str, str]
    wrong_status: int  # a wrong password
    code: Callable[[Any], str]  # of an error body


PORTSIP = Surface("/api/login/oauth/token", {}, 401, lambda r: r.json["errors"][0]["code"])
RINGCENTRAL = Surface("/restapi/oauth/token", basic(), 400, lambda r: r.json["errorCode"])
LIMITED = {id(PORTSIP): "TOO_MANY_REQUESTS", id(RINGCENTRAL): "CMN-301"}


@pytest.fixture(params=[PORTSIP, RINGCENTRAL], ids=["portsip", "ringcentral"])
def surface(request: pytest.FixtureRequest) -> Surface:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords checked, in order (the real check still runs)."""
    checked: list[str] = []
    real = tenants.verify_password

    def counting(password: str, stored: str | None) -> bool:
        checked.append(password)
        return real(password, stored)

    monkeypatch.setattr(tenants, "verify_password", counting)
    return checked


def app_client(database: Database, provisioner: RecordingProvisioner,
               **settings: int) -> FlaskClient:
    return create_app(database, provisioner, lambda: Readiness(True, True, True),
                      Settings(**settings)).test_client()  # type: ignore[arg-type]


def attempt(client: FlaskClient, surface: Surface, username: str = "api",
            password: str = PASSWORD, address: str = "127.0.0.1") -> Any:
    return client.post(surface.url, headers=surface.headers,
                       environ_overrides={"REMOTE_ADDR": address},
                       data={"grant_type": "password", "username": username,
                             "password": password})


def assert_limited(response: Any, surface: Surface) -> None:
    assert response.status_code == 429, response.json
    assert surface.code(response) == LIMITED[id(surface)]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def a_minute_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter's clock (limits' memory storage) moved on past its window."""
    real = time.time
    monkeypatch.setattr("limits.storage.memory.time", SimpleNamespace(
        time=lambda: real() + 61))


def test_failures_per_username_past_the_limit_are_refused_unchecked(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    surface: Surface, checks: list[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_user(database, acme)
    add_user(database, acme, "other")
    client = app_client(database, provisioner, login_username_failures_per_minute=3,
                        login_address_failures_per_minute=0)
    for _ in range(3):
        assert attempt(client, surface, password="wrong guess").status_code == (
            surface.wrong_status)
    assert len(checks) == 3
    assert_limited(attempt(client, surface, password="wrong guess"), surface)
    assert_limited(attempt(client, surface), surface)  # even the right one, unchecked
    assert len(checks) == 3
    assert attempt(client, surface, "other").status_code == 200
    a_minute_later(monkeypatch)
    assert attempt(client, surface).status_code == 200


def test_failures_per_address_past_the_limit_are_refused_unchecked(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    surface: Surface, checks: list[str],
) -> None:
    add_user(database, acme)
    client = app_client(database, provisioner, login_username_failures_per_minute=0,
                        login_address_failures_per_minute=2)
    for username in ("guess1", "guess2"):
        assert attempt(client, surface, username, address="192.0.2.7").status_code == (
            surface.wrong_status)
    assert_limited(attempt(client, surface, address="192.0.2.7"), surface)
    assert len(checks) == 2
    assert attempt(client, surface, address="192.0.2.8").status_code == 200


def test_limits_can_be_switched_off(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    surface: Surface, checks: list[str],
) -> None:
    add_user(database, acme)
    client = app_client(database, provisioner, login_username_failures_per_minute=0,
                        login_address_failures_per_minute=0)
    assert [attempt(client, surface, password="wrong guess").status_code
            for _ in range(8)] == [surface.wrong_status] * 8
    assert attempt(client, surface).status_code == 200
    assert len(checks) == 9


def test_a_burst_past_the_concurrent_checks_is_refused(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    surface: Surface, monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_user(database, acme)
    app = create_app(database, provisioner, lambda: Readiness(True, True, True),
                     Settings(login_concurrent_checks=1))
    app.config["LOGIN_THROTTLE"].wait = 0.05
    inside, release = threading.Event(), threading.Event()
    real = tenants.verify_password

    def held(password: str, stored: str | None) -> bool:
        inside.set()
        assert release.wait(10)
        return real(password, stored)

    monkeypatch.setattr(tenants, "verify_password", held)
    first: list[Any] = []
    running = threading.Thread(target=lambda: first.append(
        attempt(app.test_client(), surface)))
    running.start()
    try:
        assert inside.wait(10)
        inside.clear()
        assert_limited(attempt(app.test_client(), surface), surface)
        assert not inside.is_set()  # refused without a check
    finally:
        release.set()
        running.join(10)
    assert first[0].status_code == 200
