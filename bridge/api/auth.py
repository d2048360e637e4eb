"""Bearer-token authentication shared by every surface (each renders its own 401)."""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import current_app

from bridge.services.tenants import Principal, authenticate
from bridge.store.session import Database

bearer = HTTPTokenAuth(scheme="Bearer",
                       description="A ringbridge token (`ringbridge tokens create`)")


@bearer.verify_token
def verify(token: str) -> Principal | None:
    if not token:
        return None
    database: Database = current_app.config["DATABASE"]
    with database.session() as session:
        return authenticate(session, token)


def principal() -> Principal:
    current = bearer.current_user
    assert isinstance(current, Principal), "route is missing @auth_required(bearer)"
    return current
