"""The database handle the API and the CLI share: an engine plus a session factory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from bridge.store.db import make_engine
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

    def dispose(self) -> None:
        self.engine.dispose()
