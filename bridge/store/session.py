"""The database handle the API and the CLI share: an engine plus a session factory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from bridge.store.db import DATABASE_AWAY, make_engine
from bridge.store.directory_changes import watch_directory_changes


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        watch_directory_changes()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends normally, else rolls back."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A bare connection in a transaction, committed as `session()` is: for Core
        statements (migrations, the call-record writer), where an ORM session would cost
        more than the statements."""
        with self.engine.begin() as connection:
            yield connection

    def kept(self) -> KeptConnection:
        """One connection for one thread's many short transactions."""
        return KeptConnection(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


class KeptConnection:
    """A connection kept between transactions by the one thread that uses it (the
    call-record writer), whose transactions are mostly one or two statements: taking a
    connection from the pool and giving it back each time, with PostgreSQL's ping of
    each one taken, was a quarter of the writer's time (py-spy) and a third of its CPU
    per call on PostgreSQL (scripts/bench records). One left unused for IDLE_FOR
    seconds goes back, and the next is taken (and pinged) afresh: a database restart
    meanwhile has closed it. One whose transaction found the database away is let go
    too."""

    IDLE_FOR = 10.0  # seconds

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._used_at = 0.0

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The kept connection in a transaction, committed when the block ends normally,
        else rolled back."""
        if self._connection is not None and time.monotonic() - self._used_at > self.IDLE_FOR:
            self.close()
        if self._connection is None:
            self._connection = self._engine.connect()
        try:
            with self._connection.begin():
                yield self._connection
        except DATABASE_AWAY:
            self.close()
            raise
        finally:
            self._used_at = time.monotonic()

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()
