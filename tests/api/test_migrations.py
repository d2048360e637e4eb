"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bridge.store.migrate import drop_schema
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
