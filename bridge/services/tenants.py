"""Tenants, users, passwords and bearer tokens (CLI tokens and OAuth access/refresh)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from bridge.dispatch.times import is_time_zone
from bridge.phone_numbers import is_region
from bridge.services.errors import NotFound, Unauthorized, ValidationFailed
from bridge.store.ids import decimal_id
from bridge.store.models import (
    ApiToken,
    CallRecord,
    Extension,
    RingGroup,
    Tenant,
    User,
    aware,
)

_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
TOKEN_PREFIX = "rb_"
BEARER_KINDS = ("api", "access")  # a refresh token is only good at the token endpoint
OAUTH_KINDS = ("access", "refresh")
ACCESS_LIFETIME = timedelta(hours=1)
REFRESH_LIFETIME = timedelta(days=30)
LAST_USE_STEP = timedelta(minutes=1)  # how finely a token's last use is kept
# scrypt cost: 32 MiB and ~0.1 s per hash; stored in each hash, so it can be raised later.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
# What a check against no password of ours costs: the same scrypt, on a random salt.
_DECOY_SALT = secrets.token_bytes(16)
ROLES = ("admin", "user")


class UnsupportedTokenType(ValidationFailed):
    """RFC 7009 2.2.1: the revocation endpoint does not handle this kind of token."""

    code = "unsupported_token_type"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a tenant, and the user when the token names one. `admin`:
    a token without a user (`ringbridge tokens create` without --user), or an admin's."""

    tenant_id: int
    user_id: int | None
    token_id: int
    admin: bool

    def reaches(self, owner_id: int | None) -> bool:
        """May act on an extension owned by `owner_id` (None: owned by nobody)."""
        return self.admin or (self.user_id is not None and owner_id == self.user_id)


@dataclass(frozen=True)
class TokenPair:
    """What the OAuth token endpoint hands out (the tokens themselves are never stored),
    with the user they act as and their login (family)."""

    access_token: str
    refresh_token: str
    expires_in: int
    user_id: int | None
    family_id: int


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (base64) of a password of 8..128 characters."""
    if not 8 <= len(password) <= 128:
        raise ValidationFailed("password must be 8..128 characters", field="password")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    encoded = [base64.b64encode(part).decode() for part in (salt, digest)]
    return "$".join(["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), *encoded])


def verify_password(password: str, stored: str | None) -> bool:
    """Always one scrypt of the password, whatever `stored` is (no password set, or not
    a hash of ours, costs as much as a wrong password: timing tells no user apart)."""
    try:
        n, r, p, salt, expected = _parse_hash(stored)
    except ValueError:
        _scrypt(password, _DECOY_SALT, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
        return False
    try:
        actual = _scrypt(password, salt, n, r, p)
    except ValueError:  # parameters scrypt refuses
        return False
    return hmac.compare_digest(actual, expected)


def _parse_hash(stored: str | None) -> tuple[int, int, int, bytes, bytes]:
    parts = (stored or "").split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a password hash of ours")
    _, n, r, p, salt, digest = parts
    return (int(n), int(r), int(p), base64.b64decode(salt, validate=True),
            base64.b64decode(digest, validate=True))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM,
                          dklen=32)


def at_most(value: str, length: int, field: str) -> None:
    """The column's length: past it PostgreSQL refuses the row (SQLite would keep it)."""
    if len(value) > length:
        raise ValidationFailed(f"{field} must be at most {length} characters", field=field)


MAX_RETENTION_DAYS = 3650


def create_tenant(session: Session, company_id: str, name: str, sip_domain: str,
                  region: str = "US", time_zone: str = "UTC",
                  recording_retention_days: int = 90) -> Tenant:
    company_id, sip_domain = company_id.strip(), sip_domain.strip().lower()
    if not 1 <= len(company_id) <= 64:
        raise ValidationFailed("company id must be 1..64 characters", field="company_id")
    at_most(name, 128, "name")
    if not _DOMAIN.fullmatch(sip_domain):
        raise ValidationFailed(f"{sip_domain!r} is not a DNS domain name", field="sip_domain")
    if not is_region(region):
        raise ValidationFailed(f"{region!r} is not an ISO 3166 region code", field="region")
    _check_time_zone(time_zone)
    _check_retention(recording_retention_days)
    for column, value in ((Tenant.company_id, company_id), (Tenant.sip_domain, sip_domain)):
        if session.scalar(select(Tenant.id).where(column == value)) is not None:
            raise ValidationFailed(f"a tenant with {column.key} {value!r} exists",
                                   field=column.key)
    tenant = Tenant(company_id=company_id, name=name or company_id, sip_domain=sip_domain,
                    region=region.upper(), time_zone=time_zone,
                    recording_retention_days=recording_retention_days)
    session.add(tenant)
    session.flush()
    return tenant


def change_tenant(session: Session, tenant: Tenant, *, time_zone: str | None = None,
                  recording_retention_days: int | None = None) -> Tenant:
    """Change a tenant's time zone and/or recording retention (the ones given)."""
    if time_zone is not None:
        _check_time_zone(time_zone)
        tenant.time_zone = time_zone
    if recording_retention_days is not None:
        _check_retention(recording_retention_days)
        tenant.recording_retention_days = recording_retention_days
    session.flush()
    return tenant


def _check_time_zone(name: str) -> None:
    if not is_time_zone(name):
        raise ValidationFailed(f"{name!r} is not an IANA time zone name (e.g. Europe/London, "
                               "UTC)", field="time_zone")


def _check_retention(days: int) -> None:
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise ValidationFailed(f"recording retention must be 1..{MAX_RETENTION_DAYS} days",
                               field="recording_retention_days")


def find_tenant(session: Session, company_id: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.company_id == company_id))
    if tenant is None:
        raise NotFound(f"no tenant with company id {company_id!r}")
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.company_id)))


def create_user(session: Session, tenant: Tenant, username: str, name: str = "",
                password_hash: str | None = None, role: str = "user") -> User:
    if not 1 <= len(username) <= 128:
        raise ValidationFailed("username must be 1..128 characters", field="username")
    at_most(name, 128, "name")
    _check_role(role)
    exists = select(User.id).where(User.tenant_id == tenant.id, User.username == username)
    if session.scalar(exists) is not None:
        raise ValidationFailed(f"user {username!r} exists in this tenant", field="username")
    user = User(tenant_id=tenant.id, username=username, name=name or username,
                password_hash=password_hash, role=role)
    session.add(user)
    session.flush()
    return user


def set_role(user: User, role: str) -> None:
    """Takes effect on the user's next request: tokens are checked against it each time."""
    _check_role(role)
    user.role = role


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", field="role")


def list_users(session: Session, tenant: Tenant) -> list[User]:
    return list(session.scalars(select(User).where(User.tenant_id == tenant.id)
                                .order_by(User.username)))


def find_user(session: Session, tenant: Tenant, username: str) -> User:
    user = session.scalar(select(User).where(User.tenant_id == tenant.id,
                                             User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r} in tenant {tenant.company_id!r}")
    return user


def issue_token(session: Session, tenant_id: int, user_id: int | None, *, kind: str = "api",
                label: str = "", lifetime: timedelta | None = None,
                family_id: int | None = None) -> tuple[ApiToken, str]:
    """A new token: the row, and the token itself (shown once, never stored)."""
    at_most(label, 128, "label")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + lifetime if lifetime else None
    row = ApiToken(tenant_id=tenant_id, user_id=user_id, token_hash=hash_token(token),
                   kind=kind, label=label, expires_at=expires, family_id=family_id)
    session.add(row)
    session.flush()
    return row, token


def revoke_token(session: Session, token_or_id: str) -> ApiToken:
    """Revoke by the token itself or by its id (as `tokens create` prints it)."""
    if token_or_id.startswith(TOKEN_PREFIX):
        row = session.scalar(select(ApiToken).where(
            ApiToken.token_hash == hash_token(token_or_id)))
    else:
        token_id = decimal_id(token_or_id)  # an id as `tokens create` prints it
        row = session.get(ApiToken, token_id) if token_id is not None else None
    if row is None:
        raise NotFound("no such token")
    row.revoked_at = row.revoked_at or datetime.now(UTC)
    return row


def authenticate(session: Session, token: str,
                 kinds: tuple[str, ...] = BEARER_KINDS) -> Principal | None:
    """The principal of a live token of one of these kinds, or None (unknown, revoked,
    expired, or of another kind: a refresh token is good only for getting new tokens,
    a panel session only in the panel)."""
    row = _live_token(session, token)
    if row is None or row.kind not in kinds:
        return None
    _note_use(row)
    user = session.get(User, row.user_id) if row.user_id is not None else None
    return Principal(tenant_id=row.tenant_id, user_id=row.user_id, token_id=row.id,
                     admin=user is None or user.role == "admin")


def _note_use(row: ApiToken) -> None:
    """`last_used_at` to the minute: one write a minute per busy token, not per request."""
    now = datetime.now(UTC)
    if row.last_used_at is None or aware(row.last_used_at) + LAST_USE_STEP <= now:
        row.last_used_at = now


def list_tokens(session: Session, tenant: Tenant,
                user: User | None = None) -> list[tuple[ApiToken, str | None]]:
    """The tenant's live tokens (or `user`'s), oldest first, each with its username
    (None: a tenant-wide token)."""
    query = (select(ApiToken, User.username).outerjoin(User, ApiToken.user_id == User.id)
             .where(ApiToken.tenant_id == tenant.id, _live_now())
             .order_by(ApiToken.created_at, ApiToken.id))
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return [(token, username) for token, username in session.execute(query)]


def _live_now() -> ColumnElement[bool]:
    """Tokens neither revoked nor expired."""
    return and_(ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None),
                                                   ApiToken.expires_at > datetime.now(UTC)))


def tenant_counts(session: Session, tenant: Tenant) -> dict[str, int]:
    """How many of each thing the tenant holds."""
    counted: dict[str, ColumnElement[bool]] = {
        "users": User.tenant_id == tenant.id, "extensions": Extension.tenant_id == tenant.id,
        "ring groups": RingGroup.tenant_id == tenant.id,
        "call records": CallRecord.tenant_id == tenant.id,
        "live tokens": and_(ApiToken.tenant_id == tenant.id, _live_now())}
    return {what: session.scalar(select(func.count()).where(rule)) or 0
            for what, rule in counted.items()}


def token_expired(session: Session, token: str) -> bool:
    """True for a bearer token of ours that has expired (not revoked, not unknown)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    return (row is not None and row.revoked_at is None and row.kind in BEARER_KINDS
            and row.expires_at is not None and aware(row.expires_at) <= datetime.now(UTC))


class AmbiguousUsername(ValidationFailed):
    """A right password for a username that several tenants have: name the tenant."""


def login_users(session: Session, username: str, company_id: str | None,
                sip_domain: str | None = None) -> list[User]:
    """The users a password grant may be for: of that username, in the tenant with
    `company_id` and/or `sip_domain` when given, else in any tenant."""
    query = select(User).join(Tenant, Tenant.id == User.tenant_id).where(
        User.username == username)
    if company_id is not None:
        query = query.where(Tenant.company_id == company_id)
    if sip_domain is not None:
        query = query.where(Tenant.sip_domain == sip_domain.strip().lower())
    return list(session.scalars(query.order_by(User.tenant_id)))


def named_tenant_id(session: Session, company_id: str | None,
                    sip_domain: str | None) -> int | None:
    """The tenant a password grant names (None: it names none, or none exists)."""
    if company_id is None and sip_domain is None:
        return None
    query = select(Tenant.id)
    if company_id is not None:
        query = query.where(Tenant.company_id == company_id)
    if sip_domain is not None:
        query = query.where(Tenant.sip_domain == sip_domain.strip().lower())
    return session.scalar(query)


def check_password(users: Sequence[User], password: str, candidates: int) -> User:
    """The user of `users` (those of the username whose password may be checked now)
    the password is right for: one password check each, or one against nothing when
    there are none. A username that `candidates` > 1 tenants have needs the tenant
    named; that is said only to a caller who got a password right."""
    matched = [user for user in users if verify_password(password, user.password_hash)]
    if not users:
        verify_password(password, None)
    if not matched:
        raise Unauthorized("wrong username or password")
    if candidates > 1:
        raise AmbiguousUsername("this username exists in more than one tenant: give "
                                "client_id = the company id of the tenant", field="client_id")
    return matched[0]


def login_grant(session: Session, user: User) -> TokenPair:
    """The tokens of a new login (a new family) of a user whose credentials (a password,
    a JWT credential) were right."""
    return _issue_pair(session, user.tenant_id, user.id, family_id=None)


def refresh_grant(session: Session, refresh_token: str) -> TokenPair:
    """New tokens for a live refresh token. It and its access token are revoked: each
    refresh token works once, and a refresh retires the access token of its pair."""
    row = _live_token(session, refresh_token)
    if row is None or row.kind != "refresh":
        raise Unauthorized("the refresh token is unknown, expired or revoked")
    family_id = row.family_id if row.family_id is not None else row.id
    _lock_family(session, family_id)
    used = session.connection().execute(update(ApiToken).where(
        ApiToken.id == row.id, ApiToken.revoked_at.is_(None)).values(
        revoked_at=datetime.now(UTC)))
    if used.rowcount != 1:  # a concurrent request rotated or revoked it first
        raise Unauthorized("the refresh token is unknown, expired or revoked")
    _revoke_family(session, family_id)
    return _issue_pair(session, row.tenant_id, row.user_id, family_id)


def revoke_oauth_token(session: Session, token: str, hint: str | None = None) -> None:
    """Revoke an access or refresh token with every token of its login (the other of its
    pair, and those refreshed from it: RFC 7009 2.1). Unknown tokens are ignored (RFC
    7009 2.2); a CLI token, or a hint naming another type, is not handled here."""
    if hint is not None and hint not in ("access_token", "refresh_token"):
        raise UnsupportedTokenType(f"token_type_hint {hint!r}: only access_token and "
                                   "refresh_token are revoked here", field="token_type_hint")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        return
    if row.kind not in OAUTH_KINDS:
        raise UnsupportedTokenType("not an OAuth access or refresh token: revoke a token "
                                   "made by `ringbridge tokens create` with `ringbridge "
                                   "tokens revoke`", field="token")
    if row.family_id is not None:
        _lock_family(session, row.family_id)
        _revoke_family(session, row.family_id)
    row.revoked_at = row.revoked_at or datetime.now(UTC)


def _lock_family(session: Session, family_id: int) -> None:
    """Refreshes and revocations of one family take turns (on PostgreSQL; SQLite runs one
    writer at a time): a revocation running beside a refresh would not see the pair the
    refresh adds, and that pair would outlive the logout. The lock is on the family's
    first token, which every one of its tokens names."""
    session.execute(select(ApiToken.id).where(ApiToken.id == family_id).with_for_update())


def _revoke_family(session: Session, family_id: int) -> None:
    session.execute(update(ApiToken).where(
        ApiToken.family_id == family_id, ApiToken.revoked_at.is_(None)).values(
        revoked_at=datetime.now(UTC)).execution_options(synchronize_session=False))


def _issue_pair(session: Session, tenant_id: int, user_id: int | None,
                family_id: int | None) -> TokenPair:
    """A new access and refresh token, in the family given (None: a new login's)."""
    row, access = issue_token(session, tenant_id, user_id, kind="access", label="oauth",
                              lifetime=ACCESS_LIFETIME, family_id=family_id)
    if family_id is None:
        row.family_id = family_id = row.id
    _, refresh = issue_token(session, tenant_id, user_id, kind="refresh", label="oauth",
                             lifetime=REFRESH_LIFETIME, family_id=family_id)
    return TokenPair(access, refresh, int(ACCESS_LIFETIME.total_seconds()), user_id,
                     family_id)


def _live_token(session: Session, token: str) -> ApiToken | None:
    """The row of a token that is neither revoked nor expired."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and aware(row.expires_at) <= datetime.now(UTC):
        return None
    return row
