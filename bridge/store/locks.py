"""Locks that make a service's read-then-write checks atomic.

A tenant's extensions and ring groups share its numbers, and a DID goes to one ring
group of all tenants; no database constraint spans those tables, so the services check
by reading before they write. Two requests checking at once would both pass: a service
takes `lock_numbers` first, in the same transaction, and holds it to the commit.
"""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from bridge.store.models import Tenant

# pg_advisory_xact_lock's key for DID changes: any fixed number, the same on every node.
DID_LOCK = 0x64696473  # "dids"


def lock_numbers(session: Session, tenant_id: int, *, dids: bool = False) -> None:
    """Serialize writes that check then set the tenant's extension numbers (and, with
    `dids`, anyone's DIDs) until this transaction ends.

    PostgreSQL: the tenant's row `FOR UPDATE` (and an advisory lock for DIDs, which are
    unique across tenants), always in that order. SQLite has one writer at a time, but
    pysqlite begins a transaction only at the first write, so a check read before it
    is outside any transaction: a write of the tenant's row that changes nothing starts
    the write transaction (SQLite's write lock) before the check.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
        if dids:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DID_LOCK})
    else:
        session.execute(update(Tenant).where(Tenant.id == tenant_id).values(id=Tenant.id)
                        .execution_options(synchronize_session=False))
