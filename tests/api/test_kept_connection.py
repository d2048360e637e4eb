"""The call-record writer's kept connection (bridge/store/session.py): one connection
across transactions, let go when the database was away or after a pause, so that the
writer goes on by itself after a PostgreSQL restart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, insert, text
from sqlalchemy.exc import OperationalError

from bridge.flows.call_log import CallLog
from bridge.flows.events import CallArrived
from bridge.services.call_records import RECORDS, DatabaseCallRecorder
from bridge.store.models import CallRecord
from bridge.store.session import Database, KeptConnection
from tests.api.conftest import TenantAuth


def arrived(call_id: str, tenant_id: int) -> CallArrived:
    return CallArrived(call_id=call_id, caller="3019", dialled="6002", label="ring group",
                       channel_id=f"ch-{call_id}", tenant_id=tenant_id)


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


@pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True)
def test_the_writer_goes_on_after_postgresql_closed_its_connection(
        database: Database, acme: TenantAuth) -> None:
    """PostgreSQL restarting ends every session: the writer's next transaction fails on
    the dead connection, and the one after, on a new connection, writes the steps."""
    recorder, log = DatabaseCallRecorder(database, retry_after=0.01), CallLog()
    recorder.follow(log)
    log.publish(arrived("K2", acme.tenant_id))
    recorder.flush()
    with database.engine.begin() as connection:
        ended = connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
            "pg_backend_pid() AND datname = current_database() AND state = 'idle'"
        )).scalars().all()
    assert ended and all(ended)
    log.publish(arrived("K3", acme.tenant_id))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        assert session.get(CallRecord, "K2") is not None
        assert session.get(CallRecord, "K3") is not None
