"""Ring groups' waiting lines in the database, for engines sharing one Asterisk or a
cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.config import Settings
from bridge.engine.process import shared_lines
from bridge.services.waiting_calls import DatabaseWaitingCalls
from bridge.store.models import RingGroup
from bridge.store.session import Database
from tests.api.conftest import TenantAuth

APPS = ("ringbridge", "ringbridge-2")
ASTERISK = "http://127.0.0.1:8088/ari"
JOINED = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def a_group(database: Database, tenant: TenantAuth, number: str) -> int:
    with database.session() as session:
        group = RingGroup(tenant_id=tenant.tenant_id, name=f"group {number}",
                          extension_number=number, ring_strategy="RING_SIMULTANEOUSLY")
        session.add(group)
        session.flush()
        return group.id


def test_the_line_is_ordered_by_priority_then_arrival_across_engines(
        database: Database, acme: TenantAuth) -> None:
    group, other = a_group(database, acme, "6201"), a_group(database, acme, "6202")
    one, two = (DatabaseWaitingCalls(database, ASTERISK, app, APPS) for app in APPS)
    assert one.first(group) is None
    assert one.add(group, "early-normal", 2, JOINED) == 1
    assert two.add(group, "later-urgent", 0, JOINED + timedelta(seconds=5)) == 1
    assert one.add(group, "latest-normal", 2, JOINED + timedelta(seconds=9)) == 3
    assert two.add(other, "elsewhere", 3, JOINED) == 1
    assert one.first(group) == two.first(group) == "later-urgent"
    two.remove("later-urgent")
    assert one.first(group) == "early-normal"
    assert one.add(other, "early-normal", 2, JOINED) == 1  # redirected: one row, there
    assert one.first(group) == "latest-normal"


def test_each_asterisks_engines_keep_their_own_lines(database: Database,
                                                      acme: TenantAuth) -> None:
    """Nodes on one database, each with an Asterisk of its own."""
    group = a_group(database, acme, "6204")
    here = DatabaseWaitingCalls(database, ASTERISK, "ringbridge", APPS)
    there = DatabaseWaitingCalls(database, "http://10.0.0.2:8088/ari", "ringbridge", APPS)
    there.add(group, "on-the-other-node", 0, JOINED)
    assert here.add(group, "on-this-node", 2, JOINED + timedelta(seconds=1)) == 1
    assert here.first(group) == "on-this-node"
    here.clear()
    assert there.first(group) == "on-the-other-node"


def test_a_new_engine_process_clears_its_apps_rows_and_those_of_apps_gone(
        database: Database, acme: TenantAuth) -> None:
    group = a_group(database, acme, "6203")
    one, two = (DatabaseWaitingCalls(database, ASTERISK, app, APPS) for app in APPS)
    three = DatabaseWaitingCalls(database, ASTERISK, "ringbridge-3", (*APPS, "ringbridge-3"))
    one.add(group, "on-one", 2, JOINED)
    two.add(group, "on-two", 2, JOINED + timedelta(seconds=1))
    three.add(group, "on-three", 0, JOINED + timedelta(seconds=2))  # engines was 3 then
    DatabaseWaitingCalls(database, ASTERISK, "ringbridge", APPS).clear()  # engine 1 anew
    assert one.first(group) == "on-two"


def test_a_clusters_engines_share_one_line_per_group(database: Database,
                                                      acme: TenantAuth) -> None:
    """Engines on two Asterisk nodes of a cluster (bridge/engine/process.py): one line
    per group, whichever node a call went through; a new process of one engine clears
    its own rows only."""
    group = a_group(database, acme, "6205")
    node = Settings(ari_url="http://127.0.0.11:8088/ari", standby_asterisks="127.0.0.12",
                    database_url=database.url)
    here = shared_lines(node, "ringbridge", database)
    there = shared_lines(node.for_asterisk("127.0.0.12"), "ringbridge", database)
    assert here is not None and there is not None
    there.add(group, "through-node-2", 2, JOINED)
    assert here.add(group, "through-node-1", 2, JOINED + timedelta(seconds=1)) == 2
    assert here.first(group) == there.first(group) == "through-node-2"
    shared_lines(node.for_asterisk("127.0.0.12"), "ringbridge", database)  # restarted
    assert here.first(group) == "through-node-1"
