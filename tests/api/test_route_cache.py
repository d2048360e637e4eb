"""Routes kept in memory between calls, and the directory generation that tells the
engine they no longer hold, whichever process wrote the change (docs/architecture.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, update
from sqlalchemy.exc import OperationalError

from bridge.flows.hunt import HuntPlan
from bridge.services.route_cache import RouteCache
from bridge.services.routing import DatabaseDirectory
from bridge.store.directory_changes import current_generation
from bridge.store.ids import decode_id
from bridge.store.models import CallRecord, Extension, RingGroup, RingGroupMember
from bridge.store.session import Database
from tests.api.conftest import TenantAuth
from tests.surfaces.portsip.ring_group_calls import create, extension, set_agents
from tests.surfaces.portsip.ring_group_calls import update as api_update

DOMAIN = "abc.example"


def rung(plan: HuntPlan | None) -> list[list[str]]:
    assert plan is not None
    return [[target.label for target in wave] for wave in plan.waves]


def generation(database: Database) -> int | None:
    with database.engine.connect() as connection:
        return current_generation(connection)


@pytest.fixture
def directory(database: Database) -> DatabaseDirectory:
    return DatabaseDirectory(database, dial_timeout=30)


def sales(client: FlaskClient, acme: TenantAuth, *members: str, **fields: Any) -> str:
    for number in members:
        extension(client, acme, number)
    group_id = create(client, acme, ring_strategy="RING_SIMULTANEOUSLY", **fields)
    assert set_agents(client, acme, group_id, {"items": [
        {"extension_number": number} for number in members]}).status_code == 200
    return group_id


def test_a_call_to_a_known_number_reads_only_the_generation(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory,
        statements: list[str]) -> None:
    sales(client, acme, "1001", "1002")
    assert rung(directory.route_dial(DOMAIN, "6000", "2000")) == [["1001", "1002"]]
    statements.clear()
    assert rung(directory.route_dial(DOMAIN, "6000", "2000")) == [["1001", "1002"]]
    assert [s for s in statements if "directory_generation" not in s] == []


def test_a_change_through_the_api_routes_the_next_call_anew(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory) -> None:
    group_id = sales(client, acme, "1001", "1002")
    assert rung(directory.route_dial(DOMAIN, "6000", "2000")) == [["1001", "1002"]]
    before = generation(directory.database)
    assert api_update(client, acme, group_id, ring_strategy="PRIORITIZED_HUNT").status_code == 200
    assert generation(directory.database) == (before or 0) + 1
    assert rung(directory.route_dial(DOMAIN, "6000", "2000")) == [["1001"], ["1002"]]
    extension(client, acme, "1003")
    assert set_agents(client, acme, group_id, {"items": [
        {"extension_number": "1003"}]}).status_code == 200
    assert rung(directory.route_dial(DOMAIN, "6000", "2000")) == [["1003"]]


def test_a_number_nobody_had_routes_once_it_is_given(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory) -> None:
    assert directory.route_dial(DOMAIN, "1005", "2000") is None
    extension(client, acme, "1005")
    assert rung(directory.route_dial(DOMAIN, "1005", "2000")) == [["1005"]]


def test_statements_on_directory_rows_move_the_generation_on(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory) -> None:
    """Bulk UPDATE and DELETE, as a CLI or a script through the ORM would write them."""
    sales(client, acme, "1001", "1002")
    assert rung(directory.route_dial(DOMAIN, "6000", "2000")) == [["1001", "1002"]]
    with directory.database.session() as session:
        session.execute(update(RingGroup).where(RingGroup.extension_number == "6000")
                        .values(extension_number="6001"))
    assert directory.route_dial(DOMAIN, "6000", "2000") is None
    assert directory.route_dial(DOMAIN, "6001", "2000") is not None
    with directory.database.session() as session:
        session.execute(delete(RingGroupMember).where(RingGroupMember.extension_id.in_(
            session.query(Extension.id).filter(Extension.extension_number == "1001")
            .scalar_subquery())))
    assert rung(directory.route_dial(DOMAIN, "6001", "2000")) == [["1002"]]


def test_a_groups_plan_carries_the_pauses_of_its_generation(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory) -> None:
    """Read with the plan, so that the hunt's first wave needs no read of its own; a
    pause is a directory change, seen by the next call's plan."""
    sales(client, acme, "1001")
    second = extension(client, acme, "1002")
    plan = directory.route_dial(DOMAIN, "6000", "2000")
    assert plan is not None and plan.paused == {}
    assert client.post(f"/api/extensions/{second}/pause", headers=acme.headers,
                       json={"reason": "lunch"}).status_code == 200
    plan = directory.route_dial(DOMAIN, "6000", "2000")
    assert plan is not None and plan.paused == {decode_id(second): "lunch"}
    direct = directory.route_dial(DOMAIN, "1002", "2000")
    assert direct is not None and direct.paused is None  # a direct call rings it anyway


def test_a_group_is_routed_when_its_pauses_cannot_be_read(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The database failing between the route's read and the pauses': the plan has no
    pauses, and its hunt reads them itself (ringing every member if it cannot)."""
    sales(client, acme, "1001")

    def failing(_connection: object) -> dict[int, str]:
        raise OperationalError("SELECT extensions", {}, ConnectionError("gone"))

    monkeypatch.setattr("bridge.services.routing.paused_extensions", failing)
    plan = directory.route_dial(DOMAIN, "6000", "2000")
    assert plan is not None and plan.paused is None and rung(plan) == [["1001"]]


def test_another_process_change_is_seen(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory) -> None:
    """Another engine on the same database (a CLI, another node): only the row tells."""
    group_id = sales(client, acme, "1001")
    assert rung(directory.route_dial(DOMAIN, "6000", "2000")) == [["1001"]]
    elsewhere = Database(directory.database.url)
    try:
        with elsewhere.session() as session:
            group = session.get(RingGroup, decode_id(group_id))
            assert group is not None
            group.ring_time = 45
    finally:
        elsewhere.dispose()
    plan = directory.route_dial(DOMAIN, "6000", "2000")
    assert plan is not None and plan.ring_time == 45


def test_writes_outside_the_directory_keep_the_routes(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory) -> None:
    sales(client, acme, "1001")
    before = generation(directory.database)
    with directory.database.session() as session:
        session.add(CallRecord(call_id="c1", tenant_id=acme.tenant_id, caller="2000",
                               dialled="6000", received_at=datetime.now(UTC)))
    assert generation(directory.database) == before


def test_with_the_generation_row_gone_calls_are_routed_from_the_database_until_a_change(
        client: FlaskClient, acme: TenantAuth, database: Database,
        directory: DatabaseDirectory, statements: list[str]) -> None:
    """Nothing can be kept without the row: correct, only slower; the next change makes
    it again, at a number no process has kept."""
    group_id = sales(client, acme, "1001")
    assert rung(directory.route_dial(DOMAIN, "6000", "2000")) == [["1001"]]
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM directory_generation")
    assert api_update(client, acme, group_id, ring_time=50).status_code == 200
    assert (generation(database) or 0) > 10**15
    plan = directory.route_dial(DOMAIN, "6000", "2000")
    assert plan is not None and plan.ring_time == 50
    statements.clear()
    assert directory.route_dial(DOMAIN, "6000", "2000") is not None
    assert [s for s in statements if "directory_generation" not in s] == []


def test_pauses_are_read_once_per_generation_and_the_last_read_holds_while_away(
        client: FlaskClient, acme: TenantAuth, directory: DatabaseDirectory,
        statements: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = extension(client, acme, "1001")
    extension_id = decode_id(encoded)
    assert directory.paused() == {}
    assert client.post(f"/api/extensions/{encoded}/pause", headers=acme.headers,
                       json={"reason": "lunch"}).status_code == 200
    assert directory.paused() == {extension_id: "lunch"}  # a new generation: read again
    statements.clear()
    assert directory.paused() == {extension_id: "lunch"}
    assert [s for s in statements if "directory_generation" not in s] == []

    def away(_: Database) -> None:
        raise OperationalError("SELECT", {}, Exception("the database went away"))

    monkeypatch.setattr(RouteCache, "current", lambda self, database: away(database))
    assert directory.paused() == {extension_id: "lunch"}  # paused agents stay unrung
    with pytest.raises(OperationalError):  # nothing read yet: the hunt rings them all
        DatabaseDirectory(directory.database, dial_timeout=30).paused()
