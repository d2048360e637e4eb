"""The call-record writer's kept connection (bridge/store/session.py): one connection
across transactions, let go when the database was away or after a pause (the writer
going on after PostgreSQL ended it: tests/surfaces/call_records)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, insert, text
from sqlalchemy.exc import OperationalError

from bridge.services.call_records import RECORDS
from bridge.store.models import CallRecord
from bridge.store.session import Database, KeptConnection
from tests.api.conftest import TenantAuth


def used(kept: KeptConnection) -> Connection:
    with kept.transaction() as connection:
        connection.execute(text("SELECT 1"))
        return connection


def test_one_connection_serves_transaction_after_transaction(database: Database) -> None:
    kept = database.kept()
    first = used(kept)
    assert used(kept) is first and first.closed is False
    kept.close()
    assert first.closed


def test_a_failed_statement_rolls_back_and_keeps_the_connection(database: Database,
                                                                acme: TenantAuth) -> None:
    kept = database.kept()
    first = used(kept)
    with pytest.raises(ZeroDivisionError), kept.transaction() as connection:
        connection.execute(insert(RECORDS), {
            "call_id": "K1", "tenant_id": acme.tenant_id, "caller": "", "dialled": "",
            "received_at": datetime.now(UTC)})
        _ = 1 / 0
    assert used(kept) is first
    with database.session() as session:
        assert session.get(CallRecord, "K1") is None
    kept.close()


def test_the_database_away_lets_the_connection_go(database: Database) -> None:
    kept = database.kept()
    first = used(kept)
    with pytest.raises(OperationalError), kept.transaction():
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
    assert first.closed and used(kept) is not first
    kept.close()


def test_a_connection_unused_for_a_while_is_taken_afresh(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    kept = database.kept()
    first = used(kept)
    monkeypatch.setattr(KeptConnection, "IDLE_FOR", 0.0)
    assert used(kept) is not first and first.closed
    kept.close()
