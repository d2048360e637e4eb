"""A panel session's state, read for its stream: who is signed in, the office from the
database, the engine's view of the tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bridge.gateway import EngineGateway
from bridge.panel.office import Office, read_office
from bridge.panel.state import Me, panel_state
from bridge.services.panel_sessions import session_principal
from bridge.services.tenants import Principal
from bridge.store.models import Tenant, User
from bridge.store.session import Database


class StateReader:
    """Reads a session's state for its stream: the engine each time, the database when
    asked (the office is kept between)."""

    def __init__(self, database: Database, gateway: EngineGateway, token: str) -> None:
        self.gateway = gateway
        self.token = token
        self.database = database
        self._office: tuple[Office, Me, str] | None = None

    def __call__(self, office: bool) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        if office or self._office is None:
            with self.database.session() as session:
                found = signed_in(session, self.token)
                if found is None:
                    return None
                who, user, tenant = found
                read = read_office(session, tenant, now)
                mine = tuple(a.number for a in read.agents if a.user_id == user.id)
                self._office = (read, Me(user.username, who.admin, mine), tenant.sip_domain)
        read, me, domain = self._office
        return panel_state(read, self.gateway.panel(domain), me, now)


def signed_in(session: Session, token: str) -> tuple[Principal, User, Tenant] | None:
    """Who a live session is: its principal, user and tenant (None: none, or ended)."""
    who = session_principal(session, token)
    if who is None or who.user_id is None:
        return None
    user, tenant = session.get(User, who.user_id), session.get(Tenant, who.tenant_id)
    return (who, user, tenant) if user is not None and tenant is not None else None
