"""`ringbridge tenants delete` against a running ringbridge: its calls, its endpoints and
its rows go; another tenant's stay."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bridge.store.models import Base, Tenant
from tests.integration.conftest import PhoneFactory
from tests.integration.extensions import contacts_of
from tests.integration.phone_calls import talking
from tests.integration.ring_groups import Office
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess


def tenant_rows(bridge: BridgeProcess, tenant: int) -> dict[str, int]:
    """The tenant's rows, table by table (those it has any in): `tenants` and every
    table with a tenant_id."""
    counts = {}
    with bridge.database_session() as session:
        counts["tenants"] = session.scalar(select(func.count()).select_from(Tenant).where(
            Tenant.id == tenant)) or 0
        for table in Base.metadata.sorted_tables:
            if (column := table.c.get("tenant_id")) is not None:
                counts[table.name] = session.scalar(
                    select(func.count()).select_from(table).where(column == tenant)) or 0
    return {table: count for table, count in counts.items() if count}


def test_a_deleted_tenant_leaves_nothing_in_asterisk_or_the_database(
    bridge: BridgeProcess, phone: PhoneFactory, asterisk: Asterisk,
) -> None:
    doomed, kept = Office(bridge, phone).create(), Office(bridge, phone).create()
    caller, callee = doomed.phone("2101"), doomed.phone("2102")
    doomed.group("6191", ["2102"], ring_strategy="RING_SIMULTANEOUSLY")
    kept.phone("2101")  # the same number in another tenant
    out, incoming, _ = talking(doomed, caller, callee)
    doomed_id = bridge.tenant_id(doomed.company)
    before = tenant_rows(bridge, doomed_id)
    assert {"tenants", "extensions", "ring_groups", "api_tokens"} <= before.keys()

    with pytest.raises(RuntimeError, match="has 1 calls up"):
        bridge.cli("tenants", "delete", "--tenant", doomed.company, "--yes")
    assert (out.state, incoming.state) == ("confirmed", "confirmed")
    assert tenant_rows(bridge, doomed_id) == before

    printed = bridge.cli("tenants", "delete", "--tenant", doomed.company, "--force", "--yes")
    assert printed == (f"tenant {doomed.company!r} deleted: 1 calls hung up, 2 endpoints "
                       "and 0 recordings removed from Asterisk\n")
    out.wait_disconnected()
    incoming.wait_disconnected()
    for number in ("2101", "2102"):
        endpoint_id = f"{number}@{doomed.domain}"
        assert asterisk.ari("GET", f"/endpoints/PJSIP/{endpoint_id}").status_code == 404
        assert contacts_of(asterisk, endpoint_id) == []
    assert tenant_rows(bridge, doomed_id) == {}
    assert bridge.api("GET", "/api/extensions", doomed.token).status_code == 401
    assert asterisk.ari("GET", f"/endpoints/PJSIP/2101@{kept.domain}").status_code == 200
    assert len(contacts_of(asterisk, f"2101@{kept.domain}")) == 1
