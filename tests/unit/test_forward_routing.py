"""FORWARD_TO_NUMBER at call time, planned from the database: an extension, an E.164
number out through the carrier, or (a number that names an extension destroyed since)
neither, which hangs up with the reason logged and never dials the carrier."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridge.flows.hunt import NO_ANSWER, HuntPlan
from bridge.gateway import Target
from bridge.services.routing import DatabaseDirectory
from bridge.services.tenants import create_tenant
from bridge.store.migrate import upgrade
from bridge.store.models import Extension, RingGroup
from bridge.store.session import Database
from tests.unit.async_support import run

DOMAIN = "abc.example"


@dataclass
class FakeHunt:
    """What a no-answer rule uses of a hunt: it records what the rule did."""

    plan: HuntPlan
    call_id: str = "c1"
    ended: list[tuple[str, int]] = field(default_factory=list)
    rang: list[Target] = field(default_factory=list)

    async def end(self, why: str, cause: int) -> None:
        self.ended.append((why, cause))

    def publish(self, *_: Any, **__: Any) -> None:
        pass

    async def ring_targets(self, _why: str, targets: tuple[Target, ...], _time: int) -> None:
        self.rang.extend(targets)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'routing.db'}")
    upgrade(database)
    with database.session() as session:
        tenant = create_tenant(session, "ABC Taxis", "ABC Taxis", DOMAIN)
        session.add(Extension(tenant_id=tenant.id, extension_number="1002",
                              sip_password="secret-password"))
        session.add(RingGroup(tenant_id=tenant.id, name="Sales", extension_number="6000",
                              ring_strategy="RING_SIMULTANEOUSLY",
                              no_answer_action="FORWARD_TO_NUMBER"))
    yield database
    database.dispose()


def no_answer(database: Database, number: str) -> FakeHunt:
    """Nobody answered group 6000 whose rule forwards to `number`: what happened."""
    with database.session() as session:
        group = session.query(RingGroup).one()
        group.no_answer_number = number
    plan = DatabaseDirectory(database, dial_timeout=30).route_dial(DOMAIN, "6000", "2000")
    assert plan is not None and plan.no_answer is not None
    hunt = FakeHunt(plan)
    run(plan.no_answer(hunt))  # type: ignore[arg-type]
    return hunt


def test_a_number_that_names_no_extension_and_is_no_e164_hangs_up_with_the_reason(
    database: Database, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        hunt = no_answer(database, "1001")  # extension 1001 was destroyed
    assert hunt.rang == []  # not PJSIP/1001@carrier
    why = ("nobody answered ring group 6000 (Sales); FORWARD_TO_NUMBER 1001 is neither an "
           "extension of the tenant nor an E.164 number")
    assert hunt.ended == [(why, NO_ANSWER)]
    assert f"call c1: {why}; hanging up" in caplog.messages


def test_an_extension_rings_and_an_e164_number_goes_out_through_the_carrier(
    database: Database,
) -> None:
    (extension,) = no_answer(database, "1002").rang
    assert extension.dial == "PJSIP/1002@1002@abc.example"
    (external,) = no_answer(database, "+14155550100").rang
    assert external.dial == "PJSIP/+14155550100@carrier"
    assert no_answer(database, "+14155550100").ended == []
