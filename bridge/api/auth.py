"""Bearer-token authentication shared by every surface (each renders its own 401)."""

from __future__ import annotations

from typing import Any

from apiflask import HTTPTokenAuth
from flask import current_app, g, request

from bridge.services.errors import Forbidden
from bridge.services.tenants import Principal, authenticate
from bridge.store.session import Database

# The management API (PortSIP style, under /api/): its blueprints are for admins.
MANAGEMENT = ("extensions", "ring_groups", "dispatch", "call_records")

bearer = HTTPTokenAuth(scheme="Bearer",
                       description="A ringbridge token (`ringbridge tokens create`)")


@bearer.verify_token
def verify(token: str) -> Principal | None:
    """The token's principal, looked up once a request: hooks that run before the route
    (admins_only, RingCentral's rate limits) ask for it too."""
    if not token:
        return None
    known: tuple[str, Principal | None] | None = g.get("authenticated")
    if known is not None and known[0] == token:
        return known[1]
    database: Database = current_app.config["DATABASE"]
    with database.session() as session:
        found = authenticate(session, token)
    g.authenticated = (token, found)
    return found


def looked_up() -> tuple[bool, Principal | None]:
    """Whether this request's bearer token was looked up, and its principal (None: the
    token is unknown, revoked or expired); no lookup is made here."""
    known: tuple[str, Principal | None] | None = g.get("authenticated")
    return (known is not None, known[1] if known is not None else None)


def bearer_principal() -> Principal | None:
    """The principal of the request's bearer token, for a hook before the route checks
    it; None without a valid one (the route answers its own 401)."""
    credentials = request.authorization
    if credentials is None or credentials.type != "bearer" or not credentials.token:
        return None
    return verify(credentials.token)


def principal() -> Principal:
    current = bearer.current_user
    assert isinstance(current, Principal), "route is missing @auth_required(bearer)"
    return current


def admins_only() -> None:
    """Before each request: a user's token (role user) is 403 on the management API,
    where it could make another user's extension its own and so reach it under
    /restapi/ and /uapi/. Requests without a valid token get the route's own 401."""
    if request.blueprint not in MANAGEMENT:
        return
    who = bearer_principal()
    if who is not None and not who.admin:
        raise Forbidden("the management API is for admins: this token's user has the "
                        "role user (`ringbridge users set-role`)")


def document_admins_only(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """Spec processor step: every operation of the management API may answer 403."""
    if isinstance(spec, str):
        return spec
    for path, operations in spec.get("paths", {}).items():
        if not path.startswith("/api/") or path.startswith("/api/login/"):
            continue
        for operation in operations.values():
            operation.setdefault("responses", {}).setdefault("403", {
                "description": "A user's token (role user): the management API is for "
                               "admins (FORBIDDEN)",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/HTTPError"}}}})
    return spec
