"""Applying Alembic migrations from code (`ringbridge db upgrade`, and at `serve`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text

from bridge.store.session import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    return config


# pg_advisory_xact_lock's key for migrations: any fixed number, the same on every node.
MIGRATION_LOCK = 0x72696E67  # "ring"


def upgrade(database: Database, revision: str = "head") -> None:
    """Migrate to `revision`. On PostgreSQL, nodes starting at once take turns: each waits
    for an advisory lock in the migration's own transaction (held to its commit or
    rollback, so no pooled connection keeps it); the later ones then find nothing to do.
    An SQLite file belongs to one node: it takes none."""
    config = alembic_config(database)
    with database.transaction() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def drop_schema(database: Database) -> None:
    """Drop every table in the database (its search path's schema on PostgreSQL), those
    of other versions of ringbridge included, so that an upgrade starts from nothing.
    Destroys all data: for tests and benchmarks."""
    with database.transaction() as connection:
        tables = MetaData()
        tables.reflect(connection)
        tables.drop_all(connection)
