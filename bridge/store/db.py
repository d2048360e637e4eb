"""Database engine creation and readiness."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

log = logging.getLogger(__name__)
# What a statement raises while the database is away (restarting, unreachable; SQLite:
# locked past its timeout): nothing was done, and the same work can be tried again.
DATABASE_AWAY = (OperationalError, InterfaceError)
CONNECT_TIMEOUT = 5  # seconds (PostgreSQL)


def why_away(exc: BaseException) -> str:
    """What a DATABASE_AWAY error says, in one line: SQLAlchemy's go on with the
    statement and a link, nothing an operator's log needs."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def make_engine(url: str) -> Engine:
    """An engine for `url`; an SQLite file's folder is created, and WAL mode set."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A database host that does not answer at all fails a connection in seconds (503,
        # retried) rather than in the minutes TCP would take; a URL may set its own.
        connect_args = {} if "connect_timeout" in parsed.query else {
            "connect_timeout": CONNECT_TIMEOUT}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def dialect_insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that takes ON CONFLICT clauses: the connection's dialect's
    own (ringbridge runs on PostgreSQL and SQLite, and both have them)."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    return insert(table)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def database_ready(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("database not ready: %s", exc)
        return False
    return True
