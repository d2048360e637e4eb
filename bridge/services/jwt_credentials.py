"""JWT credentials: what a server app logs in with by RingCentral's JWT bearer grant.

A credential is a JWT signed (HS256) with its tenant's key, which is made with the
tenant's first credential and kept in the database. Its row (the JWT's `jti`) says whose
it is, when it expires, when it was last exchanged and whether it is revoked; the JWT
itself is not stored: it is shown once, when made.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import jwt
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from bridge.services.errors import NotFound, Unauthorized, ValidationFailed
from bridge.services.tenants import at_most
from bridge.store.db import dialect_insert
from bridge.store.ids import decode_id, encode_id
from bridge.store.models import JwtCredential, JwtSigningKey, Tenant, User

ISSUER = "ringbridge"  # also the audience: ringbridge's token endpoint takes them
ALGORITHM = "HS256"
TENANT_CLAIM = "tenant"
REQUIRED_CLAIMS = ["iss", "aud", "sub", TENANT_CLAIM, "jti", "iat", "exp"]
DEFAULT_DAYS = 365
MAX_DAYS = 3650
_KEYS = cast(Table, JwtSigningKey.__table__)


def create_credential(session: Session, tenant: Tenant, user: User, label: str = "",
                      days: int = DEFAULT_DAYS) -> tuple[JwtCredential, str]:
    """A new credential of `user` (of `tenant`) for `days`: the row, and the JWT (shown
    once, never stored)."""
    at_most(label, 128, "label")
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"a JWT credential lasts 1..{MAX_DAYS} days",
                               field="expires_days")
    now = datetime.now(UTC).replace(microsecond=0)  # JWT times are whole seconds
    row = JwtCredential(tenant_id=tenant.id, user_id=user.id, label=label, created_at=now,
                        expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    claims = {"iss": ISSUER, "aud": ISSUER, "sub": encode_id(user.id),
              TENANT_CLAIM: encode_id(tenant.id), "jti": encode_id(row.id), "iat": now,
              "exp": row.expires_at}
    return row, jwt.encode(claims, _signing_key(session, tenant.id), algorithm=ALGORITHM)


def _signing_key(session: Session, tenant_id: int) -> bytes:
    """The tenant's key, made now if it has none (ON CONFLICT: two made at once agree on
    the one stored first)."""
    connection = session.connection()
    connection.execute(dialect_insert(connection, _KEYS).values(
        tenant_id=tenant_id, secret=secrets.token_hex(32), created_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=[_KEYS.c.tenant_id]))
    return bytes.fromhex(session.scalars(select(JwtSigningKey.secret).where(
        JwtSigningKey.tenant_id == tenant_id)).one())


def list_credentials(session: Session, tenant: Tenant,
                     user: User | None = None) -> list[tuple[JwtCredential, str]]:
    """A tenant's credentials (only `user`'s, when given), oldest first, with the
    username of each."""
    query = (select(JwtCredential, User.username).join(User, User.id == JwtCredential.user_id)
             .where(JwtCredential.tenant_id == tenant.id))
    if user is not None:
        query = query.where(JwtCredential.user_id == user.id)
    ordered = query.order_by(JwtCredential.created_at, JwtCredential.id)
    return [(row, username) for row, username in session.execute(ordered)]


def revoke_credential(session: Session, credential_id: str) -> JwtCredential:
    """Revoke by the id `users jwt create` and `list` print (revoking again is harmless)."""
    key = decode_id(credential_id)
    row = session.get(JwtCredential, key) if key is not None else None
    if row is None:
        raise NotFound("no such JWT credential")
    row.revoked_at = row.revoked_at or datetime.now(UTC)
    return row


def check_assertion(session: Session, assertion: str, tenant_id: int | None) -> User:
    """The user a JWT credential is for, when it is one of ours, live, and of the tenant
    `tenant_id` (None: any); its last use is noted. Else Unauthorized."""
    claims = _verified_claims(session, assertion)
    key = decode_id(claims["jti"])
    credential = session.get(JwtCredential, key) if key is not None else None
    if (credential is None or encode_id(credential.user_id) != claims["sub"]
            or encode_id(credential.tenant_id) != claims[TENANT_CLAIM]):
        raise Unauthorized("the assertion is not a JWT credential of ringbridge")
    if credential.revoked_at is not None:
        raise Unauthorized("the JWT credential is revoked")
    if tenant_id is not None and credential.tenant_id != tenant_id:
        raise Unauthorized("the JWT credential is not of the tenant the client id names")
    credential.last_used_at = datetime.now(UTC)
    return session.get_one(User, credential.user_id)


def _verified_claims(session: Session, assertion: str) -> dict[str, Any]:
    """The claims of a JWT signed with the key of the tenant it names, unexpired."""
    try:
        named = jwt.decode(assertion, options={"verify_signature": False}).get(TENANT_CLAIM)
        tenant_id = decode_id(named) if isinstance(named, str) else None
        key = session.get(JwtSigningKey, tenant_id) if tenant_id is not None else None
        if key is None:
            raise Unauthorized("the assertion is not a JWT credential of ringbridge")
        return jwt.decode(assertion, bytes.fromhex(key.secret), algorithms=[ALGORITHM],
                          issuer=ISSUER, audience=ISSUER, options={"require": REQUIRED_CLAIMS})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the JWT credential has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"the assertion is not a valid JWT credential: {exc}") from exc
