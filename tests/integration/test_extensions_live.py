"""Extensions made through the API are real SIP endpoints at once (no reload)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from bridge.store.migrate import drop_schema
from bridge.store.session import Database
from tests.integration.conftest import PhoneFactory
from tests.integration.extensions import contacts_of
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.postgres import postgres_url
from tests.support.softphone import RegistrationError


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bridge(bridge_process: BridgeProcess, request: pytest.FixtureRequest
           ) -> Iterator[BridgeProcess]:
    """The module's tests run on both databases: ringbridge restarted on a fresh
    PostgreSQL database for the second round, and back on SQLite after it."""
    if request.param == "postgresql":
        url = postgres_url("RINGBRIDGE_TEST_LIVE_POSTGRES_URL")
        database = Database(url)
        drop_schema(database)
        database.dispose()
        bridge_process.use_database(url)
    else:
        bridge_process.use_database(bridge_process.sqlite_url)
    if bridge_process.process is None:
        bridge_process.start()
    bridge_process.wait_healthy()
    yield bridge_process
    bridge_process.use_database(bridge_process.sqlite_url)


@pytest.fixture
def tenants(bridge: BridgeProcess) -> dict[str, str]:
    """Two tenants made with the CLI (new ones per test), each with a token."""
    tokens = {}
    for name in ("acme", "globex"):
        company = f"{name}{secrets.token_hex(3)}"
        bridge.cli("tenants", "create", "--company-id", company, "--sip-domain",
                   f"{company}.example")
        tokens[f"{name}.test"] = bridge.cli("tokens", "create", "--tenant", company).strip()
        tokens[f"{name}.test:domain"] = f"{company}.example"
    return tokens


def make_extension(bridge: BridgeProcess, token: str, number: str) -> tuple[str, str]:
    response = bridge.api("POST", "/api/extensions", token, json={"extension_number": number})
    assert response.status_code == 200, response.text
    extension_id = response.json()["id"]
    shown = bridge.api("GET", f"/api/extensions/{extension_id}", token).json()
    return extension_id, shown["password"]


def test_api_extension_registers_and_calls_within_its_tenant(
    bridge: BridgeProcess, phone: PhoneFactory, tenants: dict[str, str]
) -> None:
    acme, globex = tenants["acme.test"], tenants["globex.test"]
    acme_domain, globex_domain = tenants["acme.test:domain"], tenants["globex.test:domain"]
    _, pw_2001 = make_extension(bridge, acme, "2001")
    _, pw_2002 = make_extension(bridge, acme, "2002")
    _, other_2002 = make_extension(bridge, globex, "2002")

    caller = phone("2001", password=pw_2001, domain=acme_domain)
    callee = phone("2002", password=pw_2002, domain=acme_domain)
    stranger = phone("2002", password=other_2002, domain=globex_domain)

    outgoing = caller.call("2002")
    incoming = callee.wait_incoming()
    incoming.answer()
    outgoing.wait_answered()
    assert stranger.incoming == []
    outgoing.hangup()
    incoming.wait_disconnected()


def test_password_change_applies_to_the_next_registration(
    bridge: BridgeProcess, phone: PhoneFactory, tenants: dict[str, str]
) -> None:
    token, domain = tenants["acme.test"], tenants["acme.test:domain"]
    extension_id, old_password = make_extension(bridge, token, "2003")
    phone("2003", password=old_password, domain=domain).close()

    response = bridge.api("POST", f"/api/extensions/{extension_id}", token,
                          json={"password": "brand-new-secret-1"})
    assert response.status_code == 200
    with pytest.raises(RegistrationError) as refused:
        phone("2003", password=old_password, domain=domain)
    assert refused.value.status_code in (401, 403)
    assert phone("2003", password="brand-new-secret-1", domain=domain).registered


def test_destroyed_extension_can_no_longer_register_or_call(
    bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory, tenants: dict[str, str]
) -> None:
    token, domain = tenants["acme.test"], tenants["acme.test:domain"]
    extension_id, password = make_extension(bridge, token, "2004")
    _, callee_password = make_extension(bridge, token, "2005")
    callee = phone("2005", password=callee_password, domain=domain)
    doomed = phone("2004", password=password, domain=domain)
    endpoint_id = f"2004@{domain}"
    assert asterisk.ari("GET", f"/endpoints/PJSIP/{endpoint_id}").status_code == 200
    assert len(contacts_of(asterisk, endpoint_id)) == 1

    response = bridge.api("POST", f"/api/extensions/{extension_id}/destroy", token)
    assert response.status_code == 204
    # The phone's registration is gone with the endpoint, not just new ones refused.
    gone = asterisk.ari("GET", f"/endpoints/PJSIP/{endpoint_id}")
    assert gone.status_code == 404, gone.text
    assert contacts_of(asterisk, endpoint_id) == []
    attempt = doomed.call("2005")
    attempt.wait_disconnected()
    assert attempt.last_status in (401, 403, 404)
    assert callee.incoming == []
    with pytest.raises(RegistrationError):
        phone("2004", password=password, domain=domain)


def test_extensions_come_back_after_asterisk_restarts(
    bridge: BridgeProcess, asterisk_restart: Callable[[], None], phone: PhoneFactory,
    tenants: dict[str, str],
) -> None:
    token, domain = tenants["acme.test"], tenants["acme.test:domain"]
    _, password = make_extension(bridge, token, "2006")
    asterisk_restart()
    assert phone("2006", password=password, domain=domain).registered


def test_a_wrong_domain_falls_back_only_to_a_demo_endpoint_of_the_same_number(
    bridge: BridgeProcess, phone: PhoneFactory, tenants: dict[str, str]
) -> None:
    """Asterisk looks for `<user>@<From domain>`, then for a plain `<user>` endpoint
    (pjsip.conf's demo extensions): a wrong domain never reaches a tenant's extension."""
    token = tenants["acme.test"]
    _, tenant_1001 = make_extension(bridge, token, "1001")
    _, tenant_2007 = make_extension(bridge, token, "2007")
    with pytest.raises(RegistrationError):  # no endpoint 2007 at all
        phone("2007", password=tenant_2007, domain="wrong.example")
    with pytest.raises(RegistrationError) as refused:  # demo 1001, with its own password
        phone("1001", password=tenant_1001, domain="wrong.example")
    assert refused.value.status_code in (401, 403)
    assert phone("1001", domain="wrong.example").registered
