"""What a handler needs from the application: the database, the provisioner, the tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.api.auth import principal
from bridge.api.listing import ListField, ListQueryError, page, parse_list_query
from bridge.services.errors import ValidationFailed
from bridge.services.extensions import Provisioner
from bridge.services.tenants import Principal
from bridge.store.models import Tenant
from bridge.store.session import Database
from bridge.telephony.endpoints import SipEndpoint
from bridge.telephony.parking import Positions


class AfterCommit:
    """The engine's provisioner, holding pushes and removals until `apply()`: they go to
    Asterisk only once the transaction that made them has committed (the database is the
    truth; a failed request changes neither)."""

    def __init__(self, target: Provisioner) -> None:
        self._target = target
        self._held: list[Callable[[], None]] = []

    def push(self, endpoint: SipEndpoint) -> None:
        self._held.append(partial(self._target.push, endpoint))

    def remove(self, endpoint_id: str) -> None:
        self._held.append(partial(self._target.remove, endpoint_id))

    def apply(self) -> None:
        held, self._held = self._held, []
        for action in held:
            action()


@dataclass(frozen=True)
class RequestContext:
    session: Session
    tenant: Tenant
    principal: Principal
    provisioner: Provisioner
    parking: Positions  # the `parking_positions` setting: no extension may take one


@contextmanager
def tenant_context() -> Iterator[RequestContext]:
    """A database session (committed when the handler succeeds) and the caller's tenant;
    endpoint changes reach Asterisk after the commit."""
    database: Database = current_app.config["DATABASE"]
    who = principal()
    provisioner = AfterCommit(current_app.config["PROVISIONER"])
    with database.session() as session:
        tenant = session.get(Tenant, who.tenant_id)
        assert tenant is not None, "tokens are deleted with their tenant"
        yield RequestContext(session, tenant, who, provisioner,
                             current_app.config["PARKING_POSITIONS"])
    provisioner.apply()


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
