"""Every failed password grant costs one scrypt check, whichever way it fails: a user
without a password failed in 3-4 ms and an unknown one in about 105 ms, which told
existing usernames apart (issue 13). Counted, not timed: the check is the cost."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from bridge.services import tenants
from bridge.store.models import User
from bridge.store.session import Database
from tests.api.conftest import TenantAuth
from tests.api.login_attempts import PORTSIP, RINGCENTRAL, Surface, attempt_in
from tests.surfaces.portsip.oauth_users import PASSWORD, add_user


@pytest.fixture(params=[PORTSIP, RINGCENTRAL], ids=["portsip", "ringcentral"])
def surface(request: pytest.FixtureRequest) -> Surface:
    return request.param


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The salts of the scrypt computations made (the real one still runs)."""
    calls: list[bytes] = []
    real = tenants._scrypt

    def counting(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        calls.append(salt)
        return real(password, salt, n, r, p)

    monkeypatch.setattr(tenants, "_scrypt", counting)
    return calls


@pytest.fixture
def users(database: Database, acme: TenantAuth, globex: TenantAuth) -> None:
    add_user(database, acme)
    add_user(database, acme, "nopass", password=None)
    add_user(database, acme, "foreign")
    add_user(database, globex, "elsewhere")
    with database.session() as session:
        session.execute(update(User).where(User.username == "foreign").values(
            password_hash="bcrypt$2b$12$notours"))


FAILURES = {
    "wrong password": ("acme", "api", "wrong password"),
    "wrong password, no tenant named": (None, "api", "wrong password"),
    "user without a password": ("acme", "nopass", PASSWORD),
    "user without a password, no tenant named": (None, "nopass", PASSWORD),
    "hash not of ours": ("acme", "foreign", PASSWORD),
    "unknown username": ("acme", "ghost", PASSWORD),
    "unknown username, no tenant named": (None, "ghost", PASSWORD),
    "another tenant's username": ("acme", "elsewhere", PASSWORD),
}


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("failure", FAILURES)
def test_every_failure_costs_one_scrypt_check(
    client: FlaskClient, acme: TenantAuth, surface: Surface, scrypt_calls: list[bytes],
    failure: str,
) -> None:
    tenant, username, password = FAILURES[failure]
    response = attempt_in(client, surface, acme if tenant else None, password, username)
    assert response.status_code == surface.wrong_status, response.json
    assert len(scrypt_calls) == 1


@pytest.mark.usefixtures("users")
def test_a_right_password_costs_one_scrypt_check_too(
    client: FlaskClient, acme: TenantAuth, surface: Surface, scrypt_calls: list[bytes],
) -> None:
    assert attempt_in(client, surface, acme).status_code == 200
    assert len(scrypt_calls) == 1


@pytest.mark.parametrize("stored", [None, "", "plain", "scrypt$1$2$3$x$y",
                                    "bcrypt$16384$8$1$AAAA$AAAA"])
def test_verifying_against_no_hash_of_ours_runs_scrypt_at_full_cost(
        scrypt_calls: list[bytes], stored: str | None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    costs: list[Any] = []

    def scrypt(*args: object, **kwargs: object) -> bytes:
        costs.append(kwargs)
        return b"\0" * 32
    monkeypatch.setattr(tenants.hashlib, "scrypt", scrypt)
    assert not tenants.verify_password(PASSWORD, stored)
    assert len(scrypt_calls) == 1
    (cost,) = costs
    assert (cost["n"], cost["r"], cost["p"]) == (2**15, 8, 1)
