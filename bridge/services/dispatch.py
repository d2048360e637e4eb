"""Dispatch settings per tenant, the delivery log, and the engine's view of both."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from bridge.dispatch.config import (
    DEFAULT_DELIVERY_TIMEOUT_MS,
    DEFAULT_INVITE_TIMEOUT_MS,
    DEFAULT_RETRY_SECONDS,
    DEFAULT_RINGING_TIMEOUT_MS,
    EVENTS,
    DispatchConfig,
)
from bridge.dispatch.deliveries import ANSWER_LIMIT, CLAIM_LEASE, Delivery, Outcome
from bridge.http_urls import http_url_problem
from bridge.services import subscriptions
from bridge.services.call_records import tenant_call_record
from bridge.services.errors import NotFound, ValidationFailed
from bridge.services.signing_secrets import GENERATE, chosen_secret
from bridge.store.models import DispatchDelivery, DispatchSettings, Tenant, aware
from bridge.store.session import Database

# (setting, lowest, highest)
LIMITS = {"invite_timeout_ms": (50, 5000), "ringing_timeout_ms": (100, 10_000),
          "delivery_timeout_ms": (100, 30_000), "retry_seconds": (0, 86_400)}
DEFAULTS: dict[str, Any] = {
    "company_in_path": False, "company_in_query": False, "events": list(EVENTS),
    "invite_timeout_ms": DEFAULT_INVITE_TIMEOUT_MS,
    "ringing_timeout_ms": DEFAULT_RINGING_TIMEOUT_MS,
    "delivery_timeout_ms": DEFAULT_DELIVERY_TIMEOUT_MS, "retry_seconds": DEFAULT_RETRY_SECONDS,
    "signing_secret": None, "headers": {},
}
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")
RESERVED_HEADERS = {"host", "content-type", "content-length", "transfer-encoding",
                     "connection", "webhook-id", "webhook-timestamp", "webhook-signature"}
MAX_HEADERS = 10
URL_RULE = ("base_url must be an absolute http(s) URL without query or fragment, e.g. "
            "https://dispatch.example.com")


@dataclass(frozen=True)
class SettingsChange:
    settings: DispatchSettings
    new_secret: str | None  # shown once, when the change generated one


def get_settings(session: Session, tenant_id: int) -> DispatchSettings:
    settings = session.get(DispatchSettings, tenant_id)
    if settings is None:
        raise NotFound("dispatch is not set up for this tenant")
    return settings


def update_settings(session: Session, tenant_id: int,
                    changes: Mapping[str, Any]) -> SettingsChange:
    """Create or change a tenant's settings; `base_url` is needed the first time.

    `signing_secret`: a `whsec_…` secret, "generate" for a new one, or None for none.
    """
    settings = session.get(DispatchSettings, tenant_id)
    if settings is None:
        if "base_url" not in changes:
            raise ValidationFailed("base_url is required to set up dispatch", field="base_url")
        settings = DispatchSettings(tenant_id=tenant_id, **DEFAULTS)
        session.add(settings)
    generated = None
    for name, value in changes.items():
        if name == "signing_secret":
            value = chosen_secret(value, name)
            generated = value if changes[name] == GENERATE else generated
        else:
            _check(name, value)
        setattr(settings, name, value)
    session.flush()
    return SettingsChange(settings, generated)


def delete_settings(session: Session, tenant_id: int) -> None:
    session.delete(get_settings(session, tenant_id))


def _check(name: str, value: Any) -> None:
    if name == "base_url":
        _check_url(value)
    elif name in LIMITS:
        low, high = LIMITS[name]
        if not low <= value <= high:
            raise ValidationFailed(f"{name} must be {low}..{high}", field=name)
    elif name == "events":
        unknown = sorted(set(value) - set(EVENTS))
        if unknown:
            raise ValidationFailed(f"unknown events {', '.join(unknown)}; known: "
                                   f"{', '.join(EVENTS)}", field="events")
    elif name == "headers":
        _check_headers(value)


def _check_url(url: str) -> None:
    problem = http_url_problem(url)
    if problem is not None:
        hint = ("; send credentials with the headers setting" if "credentials" in problem
                else ", e.g. https://dispatch.example.com")
        raise ValidationFailed(f"base_url {problem}{hint}", field="base_url")


def _check_headers(headers: Mapping[str, str]) -> None:
    if len(headers) > MAX_HEADERS:
        raise ValidationFailed(f"at most {MAX_HEADERS} headers", field="headers")
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in RESERVED_HEADERS:
            raise ValidationFailed(f"header name {name!r} is not allowed", field="headers")
        if any(ch in value for ch in "\r\n\0") or len(value) > 1024:
            raise ValidationFailed(f"header {name} has a value that cannot be sent",
                                   field="headers")


def dispatch_config(session: Session, tenant: Tenant) -> DispatchConfig | None:
    """The engine's view of a tenant's settings; None when dispatch is not set up."""
    row = session.get(DispatchSettings, tenant.id)
    return None if row is None else _config(row, tenant)


def _config(row: DispatchSettings, tenant: Tenant) -> DispatchConfig:
    return DispatchConfig(
        tenant_id=tenant.id, company_id=tenant.company_id, base_url=row.base_url,
        company_in_path=row.company_in_path, company_in_query=row.company_in_query,
        events=frozenset(row.events), invite_timeout=row.invite_timeout_ms / 1000,
        ringing_timeout=row.ringing_timeout_ms / 1000,
        delivery_timeout=row.delivery_timeout_ms / 1000, retry_seconds=row.retry_seconds,
        signing_secret=row.signing_secret, headers=dict(row.headers),
        time_zone=tenant.time_zone)


def call_deliveries(session: Session, tenant_id: int, call_id: str) -> list[DispatchDelivery]:
    """A call's dispatch delivery log, oldest first; another tenant's call is not found."""
    tenant_call_record(session, tenant_id, call_id)
    return list(session.scalars(select(DispatchDelivery).where(dispatch_events_of(call_id))
                                .order_by(DispatchDelivery.id)))


def dispatch_events_of(call_id: str) -> ColumnElement[bool]:
    """The call's deliveries to its dispatch system (not its subscriptions' notices)."""
    return and_(DispatchDelivery.call_id == call_id, DispatchDelivery.subscription_id.is_(None))


class DatabaseDeliveryStore:
    """The dispatch client's outbox and log (bridge.dispatch.deliveries.DeliveryStore).

    `node_id` names this process in the claims on its pending deliveries, so nodes
    sharing the database do not send each other's."""

    def __init__(self, database: Database, node_id: str | None = None,
                 lease: float = CLAIM_LEASE) -> None:
        self.database = database
        self.node_id = node_id or secrets.token_hex(8)
        self.lease = timedelta(seconds=lease)

    def add(self, delivery: Delivery) -> int:
        with self.database.session() as session:
            row = _row(delivery, "pending")
            row.claimed_by, row.claimed_until = self.node_id, datetime.now(UTC) + self.lease
            session.add(row)
            session.flush()
            return row.id

    def attempted(self, delivery: Delivery, outcome: Outcome, state: str,
                  next_attempt_at: datetime | None) -> None:
        with self.database.session() as session:
            row = session.get(DispatchDelivery, delivery.id)
            if row is not None:
                _apply(row, delivery, outcome, state)
                row.next_attempt_at = next_attempt_at

    def log(self, delivery: Delivery, outcome: Outcome, state: str) -> None:
        with self.database.session() as session:
            row = _row(delivery, state)
            _apply(row, delivery, outcome, state)
            session.add(row)

    def pending(self) -> list[tuple[Delivery, DispatchConfig]]:
        """Rows another node is claiming at this moment are skipped (locked, on
        PostgreSQL), then found claimed once it commits."""
        now = datetime.now(UTC)
        with self.database.session() as session:
            ids = list(session.scalars(select(DispatchDelivery.id).where(
                *_resumable(self.node_id, now)).order_by(DispatchDelivery.id)
                .with_for_update(skip_locked=True)))
            claimed = claim_deliveries(session, ids, self.node_id, now, now + self.lease)
            rows = session.scalars(select(DispatchDelivery).where(
                DispatchDelivery.id.in_(claimed)).order_by(DispatchDelivery.id)).all()
            found = []
            subscription_config = subscriptions.config_of(session)
            for row in rows:
                if row.subscription_id is not None:
                    config = subscription_config(row.subscription_id)
                    gone = "subscription expired"
                else:
                    config = _dispatch_config(session, row.tenant_id)
                    gone = "dispatch settings removed"
                if config is None:
                    row.state, row.error = "failed", gone
                    continue
                found.append((Delivery(
                    row.tenant_id, row.call_id, row.event, row.method, row.url, row.body,
                    give_up_at=aware(row.give_up_at), created_at=aware(row.created_at),
                    webhook_id=row.webhook_id, attempts=row.attempts, id=row.id,
                    subscription_id=row.subscription_id), config))
            return found

    def renew(self) -> None:
        self._claim_mine_until(datetime.now(UTC) + self.lease)

    def release(self) -> None:
        self._claim_mine_until(None)

    def _claim_mine_until(self, until: datetime | None) -> None:
        with self.database.session() as session:
            session.execute(update(DispatchDelivery).where(
                DispatchDelivery.claimed_by == self.node_id,
                DispatchDelivery.state == "pending").values(claimed_until=until))


def _dispatch_config(session: Session, tenant_id: int) -> DispatchConfig | None:
    settings, tenant = session.get(DispatchSettings, tenant_id), session.get(Tenant, tenant_id)
    return None if settings is None or tenant is None else _config(settings, tenant)


def claim_deliveries(session: Session, ids: list[int], node_id: str, now: datetime,
                     until: datetime) -> list[int]:
    """Claim for `node_id` those of the rows `ids` nobody else claimed meanwhile; returns
    them. The rows are read without a lock on SQLite (SKIP LOCKED is PostgreSQL's):
    this write, under SQLite's one write lock, is what makes two engines resuming at
    once (each `serve`'s engines start together) send each delivery once."""
    if not ids:
        return []
    return list(session.scalars(update(DispatchDelivery).where(
        DispatchDelivery.id.in_(ids), *_resumable(node_id, now)).values(
        claimed_by=node_id, claimed_until=until).returning(DispatchDelivery.id)
        .execution_options(synchronize_session=False)))


def _resumable(node_id: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending rows no process holds a claim on, and not `node_id`'s own."""
    return (DispatchDelivery.state == "pending", _unclaimed(now),
            or_(DispatchDelivery.claimed_by.is_(None), DispatchDelivery.claimed_by != node_id))


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(DispatchDelivery.claimed_until.is_(None), DispatchDelivery.claimed_until < now)


def _row(delivery: Delivery, state: str) -> DispatchDelivery:
    return DispatchDelivery(
        webhook_id=delivery.webhook_id, tenant_id=delivery.tenant_id,
        call_id=delivery.call_id, event=delivery.event, method=delivery.method,
        url=delivery.url, body=delivery.body, state=state, attempts=delivery.attempts,
        created_at=delivery.created_at, give_up_at=delivery.give_up_at,
        subscription_id=delivery.subscription_id)


def _apply(row: DispatchDelivery, delivery: Delivery, outcome: Outcome, state: str) -> None:
    row.state, row.attempts = state, delivery.attempts
    row.http_status, row.latency_ms = outcome.http_status, outcome.latency_ms
    row.answer = outcome.answer and outcome.answer[:ANSWER_LIMIT]
    row.error = outcome.error and outcome.error[:512]
    row.location = outcome.location and outcome.location[:512]
