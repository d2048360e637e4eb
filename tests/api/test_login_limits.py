"""Password grants are throttled on both token endpoints (PortSIP's and RingCentral's):
failures per (tenant, username) and per client address, and concurrent password checks."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.api.shared_login_limits import KEPT, DatabaseWindows
from bridge.config import Settings
from bridge.services import tenants
from bridge.store.models import LoginFailure
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.login_attempts import (
    PORTSIP,
    RINGCENTRAL,
    Surface,
    app_client,
    attempt,
    attempt_in,
)
from tests.surfaces.portsip.oauth_users import add_user

LIMITED = {id(PORTSIP): "TOO_MANY_REQUESTS", id(RINGCENTRAL): "CMN-301"}
AMBIGUOUS = {id(PORTSIP): "VALIDATE_FAILED", id(RINGCENTRAL): "CMN-101"}


@pytest.fixture(params=[PORTSIP, RINGCENTRAL], ids=["portsip", "ringcentral"])
def surface(request: pytest.FixtureRequest) -> Surface:
    return request.param


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


def assert_limited(response: Any, surface: Surface) -> None:
    assert response.status_code == 429, response.json
    assert surface.code(response) == LIMITED[id(surface)]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def a_minute_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock of the failures' window (kept in the database) moved on past it."""
    real = time.time
    monkeypatch.setattr("bridge.api.shared_login_limits.time", SimpleNamespace(
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


def test_failures_in_one_tenant_never_lock_the_username_in_another(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    globex: TenantAuth, surface: Surface, checks: list[str],
) -> None:
    """5 failures against `admin` in tenant A locked tenant B's `admin` out (issue 13)."""
    add_user(database, acme)
    add_user(database, globex, password="globex password")
    client = app_client(database, provisioner, login_username_failures_per_minute=3,
                        login_address_failures_per_minute=0)
    for _ in range(3):
        assert attempt_in(client, surface, acme, "wrong guess").status_code == (
            surface.wrong_status)
    assert_limited(attempt_in(client, surface, acme), surface)
    assert attempt_in(client, surface, globex, "globex password").status_code == 200
    assert len(checks) == 4


def test_naming_no_tenant_a_locked_account_is_passed_over_not_refused(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    globex: TenantAuth, surface: Surface, checks: list[str],
) -> None:
    add_user(database, acme)
    add_user(database, globex, password="globex password")
    client = app_client(database, provisioner, login_username_failures_per_minute=3,
                        login_address_failures_per_minute=0)
    for _ in range(3):
        attempt_in(client, surface, acme, "wrong guess")
    checks.clear()
    # The other tenant's right password is checked (against it alone) and accepted: the
    # answer asks for the tenant to be named, as for any username two tenants have.
    ambiguous = attempt_in(client, surface, None, "globex password")
    assert ambiguous.status_code == 400, ambiguous.json
    assert surface.code(ambiguous) == AMBIGUOUS[id(surface)]
    assert checks == ["globex password"]
    # Its failures count against the accounts checked: once both are locked, it is 429.
    for _ in range(3):
        assert attempt_in(client, surface, None, "wrong guess").status_code == (
            surface.wrong_status)
    assert_limited(attempt_in(client, surface, None, "globex password"), surface)
    assert_limited(attempt_in(client, surface, globex, "globex password"), surface)


def test_naming_no_tenant_another_tenants_lock_on_an_unknown_name_does_not_count(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    globex: TenantAuth, surface: Surface,
) -> None:
    """Failures for a username a tenant does not have lock only that (tenant, name)."""
    add_user(database, acme)
    client = app_client(database, provisioner, login_username_failures_per_minute=2,
                        login_address_failures_per_minute=0)
    for _ in range(2):
        assert attempt_in(client, surface, globex, "wrong guess").status_code == (
            surface.wrong_status)
    assert_limited(attempt_in(client, surface, globex), surface)
    assert attempt_in(client, surface, None).status_code == 200
    assert attempt_in(client, surface, acme).status_code == 200


def test_unknown_usernames_are_limited_like_known_ones(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    surface: Surface,
) -> None:
    """Else the 429 would tell which usernames exist."""
    add_user(database, acme)
    add_user(database, acme, "other")
    client = app_client(database, provisioner, login_username_failures_per_minute=2,
                        login_address_failures_per_minute=0)
    for who, username in ((None, "api"), (None, "ghost"), (acme, "other"), (acme, "ghost")):
        for _ in range(2):
            assert attempt_in(client, surface, who, "wrong guess", username).status_code == (
                surface.wrong_status)
        assert_limited(attempt_in(client, surface, who, "wrong guess", username), surface)


def test_failures_count_alike_in_every_api_process(
    database: Database, provisioner: RecordingProvisioner, acme: TenantAuth,
    surface: Surface, checks: list[str],
) -> None:
    """Two API processes (two apps on the one database): a lockout reached through one
    holds in the other."""
    add_user(database, acme)
    first, second = (app_client(database, provisioner, login_username_failures_per_minute=3,
                                login_address_failures_per_minute=0) for _ in range(2))
    assert attempt(first, surface, password="wrong guess").status_code == surface.wrong_status
    assert attempt(second, surface, password="wrong guess").status_code == (
        surface.wrong_status)
    assert attempt(first, surface, password="wrong guess").status_code == surface.wrong_status
    assert_limited(attempt(second, surface), surface)  # the right password, unchecked
    assert len(checks) == 3


def test_failures_are_kept_by_a_digest_of_their_key_and_only_an_hour(
    database: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    windows = DatabaseWindows(database)
    key = "LIMITER/password-grant/account/" + "x" * 2000  # a request may name anything
    assert windows.acquire_entry(key, 2, 60) and windows.acquire_entry(key, 2, 60)
    assert not windows.acquire_entry(key, 2, 60)
    start, counted = windows.get_moving_window(key, 2, 60)
    assert counted == 2 and time.time() - 5 < start <= time.time()
    with database.session() as session:
        assert {len(k) for k in session.scalars(select(LoginFailure.key))} == {64}
    real = time.time
    monkeypatch.setattr("bridge.api.shared_login_limits.time", SimpleNamespace(
        time=lambda: real() + KEPT + 1))
    assert windows.acquire_entry("another key", 5, 60)  # and the old ones are deleted
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1
