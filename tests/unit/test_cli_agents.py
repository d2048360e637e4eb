"""`ringbridge agents`: pausing, resuming and listing extensions, on a temporary SQLite
file and on PostgreSQL (the fixtures of cli_fixtures.py). What a pause does to the API's
answers: tests/surfaces/portsip/test_extension_pauses.py."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bridge.store.directory_changes import current_generation
from bridge.store.models import Extension, Tenant
from bridge.store.session import Database
from tests.unit import cli_fixtures
from tests.unit.cli_fixtures import Cli

# cli_fixtures.py's fixtures: a database (SQLite, PostgreSQL), `ringbridge` on it, a tenant
database_url, cli, tenant = cli_fixtures.database_url, cli_fixtures.cli, cli_fixtures.tenant
SINCE = r"paused since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


@pytest.fixture
def extensions(tenant: str, database_url: str) -> None:
    """1001 (Ann) and 1002 (no name) of ABC Taxis."""
    db = Database(database_url)
    with db.session() as session:
        abc = session.scalars(select(Tenant)).one()
        session.add_all([
            Extension(tenant=abc, extension_number="1001", display_name="Ann",
                      sip_password="secret-1001"),
            Extension(tenant=abc, extension_number="1002", sip_password="secret-1002")])
    db.dispose()


def agents(cli: Cli, *args: str) -> str:
    result = cli("agents", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def listed(cli: Cli) -> list[str]:
    return agents(cli, "list", "--tenant", "ABC Taxis").splitlines()


def generation(database_url: str) -> int | None:
    db = Database(database_url)
    with db.engine.connect() as connection:
        found = current_generation(connection)
    db.dispose()
    return found


@pytest.mark.usefixtures("extensions")
def test_pause_list_and_resume(cli: Cli) -> None:
    assert listed(cli) == ["1001\tAnn\tavailable", "1002\t-\tavailable"]
    said = agents(cli, "pause", "--tenant", "ABC Taxis", "--extension", "1001",
                  "--reason", "lunch")
    assert re.fullmatch(f"extension 1001 {SINCE}: lunch\n", said), said
    agents(cli, "pause", "--tenant", "ABC Taxis", "--extension", "1002")
    first, second = listed(cli)
    assert re.fullmatch(f"1001\tAnn\t{SINCE}: lunch", first), first
    assert re.fullmatch(f"1002\t-\t{SINCE}", second), second
    assert agents(cli, "resume", "--tenant", "ABC Taxis", "--extension", "1001"
                  ) == "extension 1001 available\n"
    assert listed(cli)[0] == "1001\tAnn\tavailable"


@pytest.mark.usefixtures("extensions")
def test_pausing_again_changes_the_reason_and_keeps_the_time(cli: Cli,
                                                            database_url: str) -> None:
    agents(cli, "pause", "--tenant", "ABC Taxis", "--extension", "1001", "--reason", "lunch")
    before = listed(cli)[0]
    agents(cli, "pause", "--tenant", "ABC Taxis", "--extension", "1001", "--reason",
           "training")
    assert listed(cli)[0] == before.replace(": lunch", ": training")
    db = Database(database_url)
    with db.session() as session:
        row = session.scalars(select(Extension).where(Extension.extension_number == "1001")
                              ).one()
        assert row.paused_at is not None and row.pause_reason == "training"
    db.dispose()


@pytest.mark.usefixtures("extensions")
def test_pause_and_resume_move_the_directory_generation_on(cli: Cli,
                                                           database_url: str) -> None:
    """The engine of a running `ringbridge serve` reads the pauses again."""
    before = generation(database_url) or 0
    agents(cli, "pause", "--tenant", "ABC Taxis", "--extension", "1001")
    assert generation(database_url) == before + 1
    agents(cli, "resume", "--tenant", "ABC Taxis", "--extension", "1001")
    assert generation(database_url) == before + 2


@pytest.mark.usefixtures("extensions")
@pytest.mark.parametrize("args, error", [
    (("pause", "--tenant", "Nobody", "--extension", "1001"),
     "Error: no tenant with company id 'Nobody'"),
    (("resume", "--tenant", "Nobody", "--extension", "1001"),
     "Error: no tenant with company id 'Nobody'"),
    (("list", "--tenant", "Nobody"), "Error: no tenant with company id 'Nobody'"),
    (("pause", "--tenant", "ABC Taxis", "--extension", "1009"),
     "Error: no extension '1009' in tenant 'ABC Taxis'"),
    (("resume", "--tenant", "ABC Taxis", "--extension", "1009"),
     "Error: no extension '1009' in tenant 'ABC Taxis'"),
    (("pause", "--tenant", "ABC Taxis", "--extension", "1001", "--reason", "r" * 201),
     "Error: reason must be at most 200 characters"),
    (("pause", "--tenant", "ABC Taxis", "--extension", "1001", "--reason", "two\nlines"),
     "Error: reason must not contain control characters"),
])
def test_clean_errors_change_nothing(cli: Cli, args: tuple[str, ...], error: str) -> None:
    result = cli("agents", *args)
    assert result.exit_code == 1
    assert result.stderr == f"{error}\n"
    assert listed(cli) == ["1001\tAnn\tavailable", "1002\t-\tavailable"]


def test_a_tenant_without_extensions_lists_nothing(cli: Cli, tenant: str) -> None:
    assert listed(cli) == []
