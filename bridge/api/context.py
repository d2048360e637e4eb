"""What a handler needs from the application: a database session, the engine, the tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.api.auth import principal
from bridge.api.deps import current_deps
from bridge.api.listing import ListField, ListQueryError, page, parse_list_query
from bridge.gateway import EngineGateway, Positions
from bridge.services.errors import ValidationFailed
from bridge.services.tenants import Principal
from bridge.store.models import Tenant


@dataclass(frozen=True)
class RequestContext:
    session: Session
    tenant: Tenant
    principal: Principal
    gateway: EngineGateway
    parking: Positions  # the `parking_positions` setting: no extension may take one


@contextmanager
def tenant_context() -> Iterator[RequestContext]:
    """A database session (committed when the handler succeeds; engine commands queued
    on it run after the commit, bridge/services/after_commit.py) and the caller's
    tenant."""
    deps = current_deps()
    who = principal()
    with deps.database.session() as session:
        tenant = session.get(Tenant, who.tenant_id)
        assert tenant is not None, "tokens are deleted with their tenant"
        yield RequestContext(session, tenant, who, deps.gateway, deps.parking)


def tenant_list(ctx: RequestContext, model: Any, fields: Mapping[str, ListField],
                render: Callable[[Any], dict[str, Any]],
                options: Mapping[str, Any]) -> dict[str, Any]:
    """A PortSIP list answer over the tenant's `model` rows, with the request's options
    (as `ListArgsIn` loaded them)."""
    try:
        query = parse_list_query(options, fields, tie_breaker=model.id)
    except ListQueryError as exc:
        raise ValidationFailed(str(exc)) from exc
    base = select(model).where(model.tenant_id == ctx.tenant.id)
    count, rows = page(ctx.session, base, query)
    return {"count": count, "items": [render(row) for row in rows]}
