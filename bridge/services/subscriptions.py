"""RingCentral-style WebHook subscriptions to telephony sessions: their rows, and what
the engine needs to send their notifications.

A subscription belongs to its tenant and to the token's user (None: tenant-wide tokens
share theirs). Its event filters are resolved when it is made or changed: an extension
filter to the extension's id (with the access checks of every `/extension/{id}` path),
the account filter to `account_level`. Notifications go only to subscriptions not
expired; an expired one can still be read, renewed or deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.dispatch.config import DispatchConfig
from bridge.http_urls import http_url_problem
from bridge.services.errors import NotFound, ValidationFailed
from bridge.services.signing_secrets import chosen_secret
from bridge.store.ids import decimal_id
from bridge.store.models import Extension, Subscription, Tenant, aware

DEFAULT_LIFETIME = 604_800  # seconds: RingCentral's default for a WebHook (7 days)
MAX_LIFETIME = 315_360_000  # seconds: RingCentral's maximum for a WebHook (10 years)
NOTIFICATION_TIMEOUT = 5.0  # seconds an attempt to deliver a notification may take
NOTIFICATION_RETRY_SECONDS = 600  # a notification not delivered is retried this long


@dataclass(frozen=True)
class Scope:
    """What a subscription's filters resolved to."""

    account_level: bool
    extension_ids: tuple[int, ...]


@dataclass(frozen=True)
class Delivery:
    """How a subscription's notifications are sent."""

    address: str
    verification_token: str | None = None
    signing_secret: str | None = None


@dataclass(frozen=True)
class ActiveSubscription:
    """A live subscription as the engine matches sessions against it."""

    id: int
    tenant_id: int
    owner_id: int | None
    account_level: bool
    extensions: dict[str, int]  # number -> id of those it follows (account: all)
    config: DispatchConfig


def check_delivery(address: str, verification_token: str | None,
                   signing_secret: str | None) -> Delivery:
    problem = http_url_problem(address)
    if problem:
        raise ValidationFailed(f"deliveryMode.address {problem}",
                               field="deliveryMode.address")
    return Delivery(address, verification_token,
                    chosen_secret(signing_secret, "deliveryMode.signingSecret"))


def lifetime(expires_in: int | None) -> int:
    """Seconds: those asked for (1..MAX_LIFETIME), else the default."""
    seconds = DEFAULT_LIFETIME if expires_in is None else expires_in
    if not 1 <= seconds <= MAX_LIFETIME:
        raise ValidationFailed(f"expiresIn must be 1..{MAX_LIFETIME} seconds",
                               field="expiresIn")
    return seconds


def create(session: Session, tenant: Tenant, user_id: int | None, filters: list[str],
           scope: Scope, delivery: Delivery, expires_in: int | None) -> Subscription:
    now, seconds = datetime.now(UTC), lifetime(expires_in)
    row = Subscription(tenant_id=tenant.id, user_id=user_id, event_filters=filters,
                       account_level=scope.account_level,
                       extension_ids=list(scope.extension_ids), address=delivery.address,
                       verification_token=delivery.verification_token,
                       signing_secret=delivery.signing_secret, lifetime=seconds,
                       created_at=now, expires_at=now + timedelta(seconds=seconds))
    session.add(row)
    session.flush()
    return row


def find(session: Session, tenant: Tenant, user_id: int | None,
         subscription_id: str) -> Subscription:
    """One of the caller's subscriptions (another's, or another tenant's, is not found)."""
    key = decimal_id(subscription_id)
    row = session.get(Subscription, key) if key is not None else None
    if row is None or row.tenant_id != tenant.id or row.user_id != user_id:
        raise NotFound(f"subscription {subscription_id} not found", field="subscriptionId")
    return row


def owned(session: Session, tenant: Tenant, user_id: int | None) -> list[Subscription]:
    owner = (Subscription.user_id.is_(None) if user_id is None
             else Subscription.user_id == user_id)
    return list(session.scalars(select(Subscription).where(
        Subscription.tenant_id == tenant.id, owner).order_by(Subscription.created_at,
                                                             Subscription.id)))


def change(row: Subscription, filters: list[str] | None, scope: Scope | None,
           delivery: Delivery | None, expires_in: int | None) -> None:
    """Update what is given; `expires_in` renews it for that long."""
    if filters is not None and scope is not None:
        row.event_filters = filters
        row.account_level, row.extension_ids = scope.account_level, list(scope.extension_ids)
    if delivery is not None:
        row.address, row.verification_token = delivery.address, delivery.verification_token
        row.signing_secret = delivery.signing_secret
    if expires_in is not None:
        renew(row, expires_in)


def renew(row: Subscription, expires_in: int | None = None) -> None:
    """Live again from now: for `expires_in` seconds (kept for later renewals), else for
    the lifetime it has."""
    if expires_in is not None:
        row.lifetime = lifetime(expires_in)
    row.expires_at = datetime.now(UTC) + timedelta(seconds=row.lifetime)


def is_active(row: Subscription, now: datetime | None = None) -> bool:
    return aware(row.expires_at) > (now or datetime.now(UTC))


def active(session: Session) -> list[ActiveSubscription]:
    """Every live subscription, with the numbers of the extensions it follows (the
    engine matches parties by number; an account-level one gets all the tenant's, to
    name them in its notifications)."""
    now = datetime.now(UTC)
    rows = session.execute(select(Subscription, Tenant.company_id).join(
        Tenant, Tenant.id == Subscription.tenant_id).where(Subscription.expires_at > now)
    ).all()
    numbers = _extension_numbers(session, {row.tenant_id for row, _ in rows})
    found = []
    for row, company_id in rows:
        tenant_numbers = numbers.get(row.tenant_id, {})
        followed = tenant_numbers.keys() if row.account_level else row.extension_ids
        found.append(ActiveSubscription(
            row.id, row.tenant_id, row.user_id, row.account_level,
            {tenant_numbers[key]: key for key in followed if key in tenant_numbers},
            notification_config(row, company_id)))
    return found


def _extension_numbers(session: Session, tenant_ids: set[int]) -> dict[int, dict[int, str]]:
    """Tenant id -> extension id -> number, in one read for all the tenants."""
    numbers: dict[int, dict[int, str]] = defaultdict(dict)
    if tenant_ids:
        for key, tenant_id, number in session.execute(select(
                Extension.id, Extension.tenant_id, Extension.extension_number).where(
                Extension.tenant_id.in_(tenant_ids))):
            numbers[tenant_id][key] = number
    return numbers


def notification_config(row: Subscription, company_id: str) -> DispatchConfig:
    """How the dispatch client sends this subscription's notifications."""
    headers = ({"Verification-Token": row.verification_token} if row.verification_token
               else {})
    return DispatchConfig(
        tenant_id=row.tenant_id, company_id=company_id, base_url=row.address,
        delivery_timeout=NOTIFICATION_TIMEOUT, retry_seconds=NOTIFICATION_RETRY_SECONDS,
        signing_secret=row.signing_secret, headers=headers)


def config_of(session: Session) -> Callable[[int], DispatchConfig | None]:
    """For stored notifications: the config of a subscription still live, else None."""
    def config(subscription_id: int) -> DispatchConfig | None:
        row = session.get(Subscription, subscription_id)
        if row is None or not is_active(row):
            return None
        tenant = session.get_one(Tenant, row.tenant_id)
        return notification_config(row, tenant.company_id)

    return config
