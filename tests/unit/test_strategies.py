"""The strategy table (bridge/flows/strategies.py): each row as docs/ring-groups.md
describes it, and the planner (bridge/services/routing.py) doing what the row says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.flows.strategies import (
    NAMES,
    STRATEGIES,
    in_list_order,
    longest_since_answered,
    longest_since_rung,
    strategy_named,
)
from bridge.services.routing import DatabaseDirectory
from bridge.services.tenants import create_tenant
from bridge.store.directory_changes import current_generation
from bridge.store.migrate import upgrade
from bridge.store.models import Extension, HuntStat, RingGroup, RingGroupMember
from bridge.store.session import Database

DOMAIN = "acme.example"
PAGING = {"Call-Info": f"<sip:{DOMAIN}>;answer-after=0", "Answer-Mode": "Auto",
          "Alert-Info": "<http://127.0.0.1>;info=alert-autoanswer"}

# name: (order, one at a time, by skill, uses memory, marks first rung, paging)
DOCUMENTED = {
    "RING_SIMULTANEOUSLY": (in_list_order, False, False, False, False, False),
    "PRIORITIZED_HUNT": (in_list_order, True, False, False, False, False),
    "CYCLIC_HUNT": (longest_since_rung, True, False, True, True, False),
    "LEAST_WORKED_HUNT": (longest_since_answered, True, False, True, False, False),
    "PAGING_INTERCOM": (in_list_order, False, False, False, False, True),
    "SKILL_BASED_ROUTING_PRIORITIZED_HUNT": (in_list_order, True, True, False, False, False),
    "SKILL_BASED_ROUTING_CYCLIC_HUNT": (longest_since_rung, True, True, True, True, False),
    "SKILL_BASED_ROUTING_LEAST_WORKED_HUNT": (longest_since_answered, True, True, True, False,
                                              False),
}


def test_the_table_holds_the_eight_strategies_in_the_apis_order() -> None:
    assert NAMES == (
        "RING_SIMULTANEOUSLY", "PRIORITIZED_HUNT", "CYCLIC_HUNT", "LEAST_WORKED_HUNT",
        "PAGING_INTERCOM", "SKILL_BASED_ROUTING_PRIORITIZED_HUNT",
        "SKILL_BASED_ROUTING_CYCLIC_HUNT", "SKILL_BASED_ROUTING_LEAST_WORKED_HUNT")
    assert len(STRATEGIES) == len(set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_each_row_is_as_documented(name: str) -> None:
    row = strategy_named(name)
    assert (row.order, row.one_at_a_time, row.by_skill, row.uses_memory,
            row.marks_first_rung, row.paging) == DOCUMENTED[name]


@pytest.mark.parametrize("name", NAMES)
def test_only_paging_adds_the_auto_answer_headers(name: str) -> None:
    expected = PAGING if name == "PAGING_INTERCOM" else {}
    assert strategy_named(name).headers_for(DOMAIN) == expected


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown ring strategy 'RANDOM'"):
        strategy_named("RANDOM")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """Group 6000 of members 2001, 2002, 2003 (in that order); its strategy is set by
    each test."""
    database = Database(f"sqlite:///{tmp_path / 'strategies.db'}")
    upgrade(database)
    with database.session() as session:
        tenant = create_tenant(session, "Acme", "Acme", DOMAIN)
        group = RingGroup(tenant_id=tenant.id, name="Sales", extension_number="6000",
                          ring_strategy="RING_SIMULTANEOUSLY")
        members = [Extension(tenant_id=tenant.id, extension_number=f"200{n}",
                             sip_password="secret-password") for n in (1, 2, 3)]
        session.add_all([group, *members])
        session.flush()
        session.add_all(RingGroupMember(ring_group_id=group.id, extension_id=member.id,
                                        position=n) for n, member in enumerate(members))
    yield database
    database.dispose()


def plan_with(database: Database, strategy: str) -> tuple[list[list[str]], bool,
                                                            dict[str, str], set[str]]:
    """Group 6000 planned with `strategy`: its waves (extension numbers), whether it
    pages, its headers, and the members the hunt memory holds as rung."""
    with database.session() as session:
        session.scalars(select(RingGroup)).one().ring_strategy = strategy
    plan = DatabaseDirectory(database, dial_timeout=30).route_dial(DOMAIN, "6000", "1000")
    assert plan is not None
    with database.session() as session:
        rung = {session.get(Extension, stat.extension_id).extension_number  # type: ignore[union-attr]
                for stat in session.scalars(select(HuntStat))
                if stat.last_rung_at is not None}
    waves = [[target.label for target in wave] for wave in plan.waves]
    return waves, plan.paging, plan.headers, rung


@pytest.mark.parametrize("name", NAMES)
def test_the_planner_does_what_the_row_says(database: Database, name: str) -> None:
    row = strategy_named(name)
    waves, paging, headers, rung = plan_with(database, name)
    members = ["2001", "2002", "2003"]
    assert waves == ([[m] for m in members] if row.one_at_a_time else [members])
    assert paging is row.paging
    assert headers == row.headers_for(DOMAIN)
    assert rung == ({"2001"} if row.marks_first_rung else set())


@pytest.mark.parametrize("name", [n for n in NAMES if strategy_named(n).uses_memory])
def test_planning_with_the_hunt_memory_is_no_directory_change(database: Database,
                                                               name: str) -> None:
    """The group's row is written to take turns with other engines' planners; as an ORM
    statement it counted as an edit of the directory, and every such call threw every
    process's cached routes away."""
    plan_with(database, name)
    with database.engine.connect() as connection:
        before = current_generation(connection)
    DatabaseDirectory(database, dial_timeout=30).route_dial(DOMAIN, "6000", "1000")
    with database.engine.connect() as connection:
        assert current_generation(connection) == before
