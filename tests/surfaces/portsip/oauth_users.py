"""API users with passwords, and their tokens as bearer headers or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bridge.services.tenants import create_user, find_tenant, hash_password, hash_token
from bridge.store.models import ApiToken
from bridge.store.session import Database
from tests.api.conftest import TenantAuth

PASSWORD = "correct horse battery"


def add_user(database: Database, who: TenantAuth, username: str = "api",
             password: str | None = PASSWORD, role: str = "user") -> int:
    with database.session() as session:
        return create_user(session, find_tenant(session, who.company_id), username,
                           password_hash=hash_password(password) if password else None,
                           role=role).id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expire(database: Database, token: str) -> None:
    with database.session() as session:
        session.execute(update(ApiToken).where(ApiToken.token_hash == hash_token(token)).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
