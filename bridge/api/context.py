"""What a handler needs from the application: the database, the provisioner, the tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from bridge.api.auth import principal
from bridge.services.extensions import Provisioner
from bridge.services.tenants import Principal
from bridge.store.models import Tenant
from bridge.store.session import Database


@dataclass(frozen=True)
class RequestContext:
    session: Session
    tenant: Tenant
    principal: Principal
    provisioner: Provisioner


@contextmanager
def tenant_context() -> Iterator[RequestContext]:
    """A database session (committed when the handler succeeds) and the caller's tenant."""
    database: Database = current_app.config["DATABASE"]
    who = principal()
    with database.session() as session:
        tenant = session.get(Tenant, who.tenant_id)
        assert tenant is not None, "tokens are deleted with their tenant"
        yield RequestContext(session, tenant, who, current_app.config["PROVISIONER"])
