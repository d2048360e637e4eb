"""Deleting a tenant: its live calls, what Asterisk holds of it, then its rows.

Every row of a tenant hangs from `tenants` by foreign keys with ON DELETE CASCADE, so
deleting that one row deletes the rest in the same transaction. What lives in Asterisk
goes through the engine gateway: live calls are hung up first (only when forced), and
once the rows are committed the extensions' endpoints and the stored recordings are
deleted. An engine that is away then leaves the endpoints to its next connect, whose
resync removes every tenant endpoint the database lacks; recordings it could not
delete are logged by name.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.gateway import CallChanged, EngineGateway
from bridge.services.after_commit import after_commit
from bridge.services.errors import Conflict
from bridge.services.extensions import sip_endpoint
from bridge.store.models import CallRecord, Extension, Tenant

log = logging.getLogger(__name__)
HANG_UP_WAIT = 10.0  # seconds for forced hang-ups to end their calls


@dataclass(frozen=True)
class TenantRemoval:
    calls_hung_up: int
    endpoints: tuple[str, ...]
    recordings: tuple[str, ...]


def remove_tenant(session: Session, tenant: Tenant, gateway: EngineGateway, *,
                  force: bool) -> TenantRemoval:
    """Delete `tenant`; refused while it has calls up, unless `force` hangs them up."""
    hung_up = _end_calls(tenant, gateway, force)
    endpoints = tuple(sip_endpoint(extension).endpoint_id for extension in session.scalars(
        select(Extension).where(Extension.tenant_id == tenant.id)))
    recordings = tuple(name for name in session.scalars(select(CallRecord.recording).where(
        CallRecord.tenant_id == tenant.id)) if name)
    session.delete(tenant)
    session.flush()
    after_commit(session, partial(_clear_asterisk, gateway, tenant.company_id, endpoints,
                                  recordings))
    return TenantRemoval(hung_up, endpoints, recordings)


def _end_calls(tenant: Tenant, gateway: EngineGateway, force: bool) -> int:
    """How many calls were hung up (each logged); they have ended when this returns."""
    calls = gateway.live_calls(tenant.sip_domain)
    if not calls:
        return 0
    if not force:
        raise Conflict(f"tenant {tenant.company_id!r} has {len(calls)} calls up: hang "
                       "them up first, or delete with --force (which hangs them up)")
    for call in calls:
        try:
            gateway.hang_up(tenant.sip_domain, call.call_id, None)
        except CallChanged:  # it ended meanwhile
            continue
        log.info("tenant %s: call %s hung up (tenant deleted)", tenant.company_id,
                 call.call_id)
    deadline = time.monotonic() + HANG_UP_WAIT
    while left := gateway.live_calls(tenant.sip_domain):
        if time.monotonic() > deadline:
            raise Conflict(f"tenant {tenant.company_id!r}: {len(left)} calls still up "
                           f"{HANG_UP_WAIT:.0f} s after hanging up; nothing deleted")
        time.sleep(0.2)
    return len(calls)


def _clear_asterisk(gateway: EngineGateway, company_id: str, endpoints: tuple[str, ...],
                    recordings: tuple[str, ...]) -> None:
    for endpoint_id in endpoints:
        gateway.remove(endpoint_id)
    kept = gateway.delete_recordings(list(recordings)) if recordings else []
    for name in kept:
        log.error("tenant %s deleted, but its recording %s is still in Asterisk: delete it "
                  "with ARI DELETE /recordings/stored/%s", company_id, name, name)
