"""What the panel shows from the database: a tenant's agents, ring groups and today's
counts. Read again at most once a second per open panel (bridge/panel/stream.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.orm import Session, selectinload

from bridge.store.models import CallRecord, Extension, RingGroup, Tenant, aware


@dataclass(frozen=True)
class Agent:
    id: int
    number: str
    name: str
    user_id: int | None
    paused_at: datetime | None
    pause_reason: str


@dataclass(frozen=True)
class Group:
    id: int
    number: str
    name: str
    strategy: str
    members: tuple[str, ...]  # extension numbers, in the group's order
    dids: tuple[str, ...]


@dataclass(frozen=True)
class Today:
    answered: int
    missed: int
    longest_wait: float | None  # seconds from arrival to answer (or to giving up)


@dataclass(frozen=True)
class Office:
    tenant_name: str
    agents: tuple[Agent, ...]
    groups: tuple[Group, ...]
    today: dict[int, Today]  # by ring group id


def read_office(session: Session, tenant: Tenant, now: datetime) -> Office:
    extensions = session.scalars(select(Extension).where(Extension.tenant_id == tenant.id)
                                 .order_by(Extension.extension_number))
    agents = tuple(Agent(e.id, e.extension_number, e.display_name or "", e.user_id,
                         aware(e.paused_at) if e.paused_at else None, e.pause_reason or "")
                   for e in extensions)
    rows = session.scalars(select(RingGroup).where(RingGroup.tenant_id == tenant.id)
                           .options(selectinload(RingGroup.members))
                           .order_by(RingGroup.extension_number))
    groups = tuple(Group(g.id, g.extension_number, g.name, g.ring_strategy,
                         tuple(m.extension.extension_number for m in g.members),
                         tuple(g.did_numbers or ())) for g in rows)
    return Office(tenant.name, agents, groups, _today(session, tenant, now))


def _today(session: Session, tenant: Tenant, now: datetime) -> dict[int, Today]:
    """Each group's calls since midnight in the tenant's time zone."""
    zone = ZoneInfo(tenant.time_zone)
    # In UTC: SQLite keeps times as UTC text, and would compare a local time's text.
    midnight = datetime.combine(now.astimezone(zone).date(), time(), zone).astimezone(UTC)
    waited = _seconds(CallRecord.received_at,
                      func.coalesce(CallRecord.answered_at, CallRecord.ended_at), session)
    missed = case((CallRecord.answered_at.is_(None) & CallRecord.ended_at.is_not(None), 1),
                  else_=0)
    query = (select(CallRecord.ring_group_id, func.count(CallRecord.answered_at),
                    func.sum(missed), func.max(waited))
             .where(CallRecord.tenant_id == tenant.id, CallRecord.ring_group_id.is_not(None),
                    CallRecord.received_at >= midnight)
             .group_by(CallRecord.ring_group_id))
    return {group: Today(answered, int(missed or 0),
                         None if longest is None else float(longest))
            for group, answered, missed, longest in session.execute(query)}


def _seconds(start: Any, end: Any,
             session: Session) -> ColumnElement[float]:
    """`end - start` in seconds, in SQL (SQLite keeps times as text)."""
    if session.get_bind().dialect.name == "sqlite":
        return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
    return cast(func.extract("epoch", end - start), Float)
