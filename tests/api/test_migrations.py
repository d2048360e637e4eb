"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from bridge.store.migrate import drop_schema, upgrade
from bridge.store.models import Base
from bridge.store.session import Database
from tests.support.postgres import postgres_schema_url


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


# A node that is started (its imports done), says so, and upgrades once told to go.
NODE = """
import sys
from bridge.cli import main
print("ready", flush=True)
sys.stdin.read()
main(["db", "upgrade"])
"""


def test_nodes_upgrading_one_postgresql_at_once_all_succeed() -> None:
    """Nodes starting together on a fresh database: without a lock each ran CREATE TABLE
    and all but one failed. Processes, as nodes are (Alembic's module globals make two
    upgrades in one process unsafe whatever the database does), let go at one moment."""
    url = postgres_schema_url("RINGBRIDGE_TEST_POSTGRES_URL", "ringbridge_migrate")
    database = Database(url)
    try:
        drop_schema(database)
        environment = {**os.environ, "RINGBRIDGE_DATABASE_URL": url}
        environment.pop("RINGBRIDGE_CONFIG", None)
        nodes = [subprocess.Popen([sys.executable, "-c", NODE], env=environment,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        for node in nodes:
            assert node.stdout is not None and node.stdout.readline() == "ready\n"
        for node in nodes:
            assert node.stdin is not None
            node.stdin.close()
        outputs = [node.stdout.read() for node in nodes if node.stdout is not None]
        assert [node.wait(timeout=60) for node in nodes] == [0, 0], outputs
        with database.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection),
                                    Base.metadata) == []
    finally:
        database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (f"sqlite:///{tmp_path / 'roles.db'}" if request.param == "sqlite" else
           postgres_schema_url("RINGBRIDGE_TEST_POSTGRES_URL", "ringbridge_roles"))
    database = Database(url)
    drop_schema(database)
    yield database
    database.dispose()


def test_users_there_before_roles_become_admins_and_new_ones_users(
        empty_database: Database) -> None:
    """Existing users keep reaching every extension, as before roles (docs/security.md);
    their tokens and extensions stay theirs (on SQLite, copying `users` to change a
    column default dropped the old table, and foreign keys took both with it)."""
    upgrade(empty_database, "0008")
    user = ("INSERT INTO users (id, tenant_id, username, name, created_at) "
            "VALUES (:id, 1, :name, :name, CURRENT_TIMESTAMP)")
    with empty_database.engine.begin() as connection:
        connection.execute(text("INSERT INTO tenants (id, company_id, name, region, "
                                "sip_domain, created_at) VALUES (1, 'c', 'c', 'US', "
                                "'c.example', CURRENT_TIMESTAMP)"))
        connection.execute(text(user), {"id": 1, "name": "old"})
        connection.execute(text("INSERT INTO api_tokens (id, tenant_id, user_id, "
                                "token_hash, kind, label, created_at) VALUES (1, 1, 1, "
                                "'h', 'api', '', CURRENT_TIMESTAMP)"))
        connection.execute(text("INSERT INTO extensions (id, tenant_id, user_id, "
                                "extension_number, sip_password, caller_ids, created_at, "
                                "updated_at) VALUES (1, 1, 1, '1001', 'p', '[]', "
                                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    upgrade(empty_database)
    with empty_database.engine.begin() as connection:
        connection.execute(text(user), {"id": 2, "name": "new"})
        roles: dict[str, str] = dict(
            connection.execute(text("SELECT username, role FROM users")).all())
        tokens = connection.execute(text("SELECT user_id FROM api_tokens")).scalars().all()
        owners = connection.execute(text("SELECT user_id FROM extensions")).scalars().all()
    assert roles == {"old": "admin", "new": "user"}
    assert (tokens, owners) == ([1], [1])


def test_dropping_the_schema_drops_tables_another_version_made(
        empty_database: Database) -> None:
    """A test database upgraded by a newer ringbridge kept that version's tables through
    drop_schema, and every later comparison of migrations with models failed."""
    upgrade(empty_database)
    with empty_database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE from_a_later_version (id INTEGER PRIMARY KEY)"))
    drop_schema(empty_database)
    upgrade(empty_database)
    with empty_database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
