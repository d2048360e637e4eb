"""Engine commands queued on a session run after its commit, and never after a rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bridge.services.after_commit import after_commit
from bridge.store.session import Database


@pytest.fixture
def database() -> Database:
    return Database("sqlite://")


def test_commands_run_in_order_once_committed_with_the_connection_released(
        database: Database) -> None:
    ran: list[str] = []
    with database.session() as session:
        session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append(f"push, connected: {session.in_transaction()}"))
        after_commit(session, lambda: ran.append("start"))
        assert ran == []
    assert ran == ["push, connected: False", "start"]


def test_a_rolled_back_session_runs_nothing(database: Database) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), database.session() as session:
        after_commit(session, lambda: ran.append("push"))
        raise RuntimeError("the request failed")
    assert ran == []


def test_a_savepoint_commit_is_not_the_commit(database: Database) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), database.session() as session:
        with session.begin_nested():
            after_commit(session, lambda: ran.append("push"))
        assert ran == []
        raise RuntimeError("the request failed after its savepoint")
    assert ran == []
