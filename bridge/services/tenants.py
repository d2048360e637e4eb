"""Tenants, users and bearer tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.phone_numbers import is_region
from bridge.services.errors import NotFound, ValidationFailed
from bridge.store.models import ApiToken, Tenant, User

_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
TOKEN_PREFIX = "rb_"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a tenant, and the user when the token names one."""

    tenant_id: int
    user_id: int | None
    token_id: int


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_tenant(session: Session, company_id: str, name: str, sip_domain: str,
                  region: str = "US") -> Tenant:
    company_id, sip_domain = company_id.strip(), sip_domain.strip().lower()
    if not 1 <= len(company_id) <= 64:
        raise ValidationFailed("company id must be 1..64 characters", field="company_id")
    if not _DOMAIN.fullmatch(sip_domain):
        raise ValidationFailed(f"{sip_domain!r} is not a DNS domain name", field="sip_domain")
    if not is_region(region):
        raise ValidationFailed(f"{region!r} is not an ISO 3166 region code", field="region")
    for column, value in ((Tenant.company_id, company_id), (Tenant.sip_domain, sip_domain)):
        if session.scalar(select(Tenant.id).where(column == value)) is not None:
            raise ValidationFailed(f"a tenant with {column.key} {value!r} exists",
                                   field=column.key)
    tenant = Tenant(company_id=company_id, name=name or company_id, sip_domain=sip_domain,
                    region=region.upper())
    session.add(tenant)
    session.flush()
    return tenant


def find_tenant(session: Session, company_id: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.company_id == company_id))
    if tenant is None:
        raise NotFound(f"no tenant with company id {company_id!r}")
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.company_id)))


def create_user(session: Session, tenant: Tenant, username: str, name: str = "",
                password_hash: str | None = None) -> User:
    if not 1 <= len(username) <= 128:
        raise ValidationFailed("username must be 1..128 characters", field="username")
    exists = select(User.id).where(User.tenant_id == tenant.id, User.username == username)
    if session.scalar(exists) is not None:
        raise ValidationFailed(f"user {username!r} exists in this tenant", field="username")
    user = User(tenant_id=tenant.id, username=username, name=name or username,
                password_hash=password_hash)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, tenant: Tenant, username: str) -> User:
    user = session.scalar(select(User).where(User.tenant_id == tenant.id,
                                             User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r} in tenant {tenant.company_id!r}")
    return user


def issue_token(session: Session, tenant_id: int, user_id: int | None, *, kind: str = "api",
                label: str = "", lifetime: timedelta | None = None) -> tuple[ApiToken, str]:
    """A new token: the row, and the token itself (shown once, never stored)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + lifetime if lifetime else None
    row = ApiToken(tenant_id=tenant_id, user_id=user_id, token_hash=hash_token(token),
                   kind=kind, label=label, expires_at=expires)
    session.add(row)
    session.flush()
    return row, token


def revoke_token(session: Session, token_or_id: str) -> ApiToken:
    """Revoke by the token itself or by its id (as `tokens list` shows it)."""
    if token_or_id.startswith(TOKEN_PREFIX):
        row = session.scalar(select(ApiToken).where(
            ApiToken.token_hash == hash_token(token_or_id)))
    else:
        row = session.get(ApiToken, int(token_or_id)) if token_or_id.isdigit() else None
    if row is None:
        raise NotFound("no such token")
    row.revoked_at = row.revoked_at or datetime.now(UTC)
    return row


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal of a live token, or None (unknown, revoked or expired)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and _aware(row.expires_at) <= datetime.now(UTC):
        return None
    return Principal(tenant_id=row.tenant_id, user_id=row.user_id, token_id=row.id)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; ours are all UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
