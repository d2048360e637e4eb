"""The caller number a ring group call is planned with, and the dispatcher is sent: a
trunk caller's as E.164 in the tenant's region (or `anonymous`), an internal caller's
extension number as it is (issue 14: `07911123456` was sent as `+447911123456`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.dispatch.notifier import DispatchNotifier
from bridge.flows.hunt import HuntPlan
from bridge.services.routing import DatabaseDirectory
from bridge.services.tenants import create_tenant
from bridge.store.migrate import upgrade
from bridge.store.models import DispatchSettings, Extension, RingGroup, RingGroupMember
from bridge.store.session import Database

DOMAIN = "gb.example"
DID = "+442079460000"


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[DatabaseDirectory]:
    """A GB tenant with dispatch set up, and group 6000 (DID +442079460000) of one
    member."""
    database = Database(f"sqlite:///{tmp_path / 'callers.db'}")
    upgrade(database)
    with database.session() as session:
        tenant = create_tenant(session, "GB Taxis", "GB Taxis", DOMAIN, "GB")
        member = Extension(tenant_id=tenant.id, extension_number="2001",
                           sip_password="secret-password")
        group = RingGroup(tenant_id=tenant.id, name="Main", extension_number="6000",
                          ring_strategy="RING_SIMULTANEOUSLY", did_numbers=[DID])
        session.add_all([member, group])
        session.flush()
        session.add(RingGroupMember(ring_group_id=group.id, extension_id=member.id,
                                    position=1))
        session.add(DispatchSettings(
            tenant_id=tenant.id, base_url="http://127.0.0.1:9/", events=["invite"],
            invite_timeout_ms=1000, ringing_timeout_ms=1000, delivery_timeout_ms=1000,
            retry_seconds=0, headers={}))
    yield DatabaseDirectory(database, dial_timeout=30, dispatch=object())  # type: ignore[arg-type]
    database.dispose()


def sent(plan: HuntPlan | None) -> tuple[str, str]:
    """The plan's caller number, and the phoneNumber its dispatch events carry."""
    assert plan is not None and isinstance(plan.events, DispatchNotifier)
    return plan.caller_number, plan.events.phone_number


@pytest.mark.parametrize("from_trunk, caller", [
    ("+447700900123", "+447700900123"),
    ("07700900123", "+447700900123"),  # national, read in the tenant's region (GB)
    ("anonymous", "anonymous"),
    ("Restricted", "anonymous"),  # never a number that is none
])
def test_a_trunk_caller_is_e164_in_the_tenants_region(directory: DatabaseDirectory,
                                                      from_trunk: str, caller: str) -> None:
    assert sent(directory.route_did(DID, from_trunk)) == (caller, caller)


@pytest.mark.parametrize("extension", ["07911123456", "2002"])
def test_an_internal_caller_stays_its_extension_number(directory: DatabaseDirectory,
                                                       extension: str) -> None:
    assert sent(directory.route_dial(DOMAIN, "6000", extension)) == (extension, extension)
