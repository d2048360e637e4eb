"""`/restapi/oauth/*`: RingCentral's token endpoint over the same token services.

The client id and secret come in HTTP Basic auth, as RingCentral's clients send them.
ringbridge has no registry of client applications: the secret is not checked, and the
client id is used as the tenant's company id only when a tenant has it (to pick the
tenant of a username that several tenants have, and to refuse another tenant's JWT
credential); any other client id is accepted.

Besides the password and refresh_token grants it takes RingCentral's JWT bearer grant
(RFC 7523), with a JWT credential made by `ringbridge users jwt create`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, String
from apiflask.validators import Length
from flask import current_app, request
from marshmallow import EXCLUDE
from sqlalchemy import select

from bridge.api.schemas import (
    Responses,
    body_errors,
    error_bodies,
    error_body,
    no_body,
)
from bridge.services.errors import ServiceError, Unauthorized
from bridge.services.extensions import own_extension
from bridge.services.tenants import REFRESH_LIFETIME, TokenPair
from bridge.store.ids import encode_id
from bridge.store.models import Tenant
from bridge.store.session import Database
from bridge.surfaces.portsip.oauth import (
    GRANTS,
    JWT_BEARER,
    NO_STORE,
    REVOKE_RULES,
    RevokeIn,
    TokenIn,
    grant,
    grants_json_schema,
    revoke_token,
)
from bridge.surfaces.ringcentral.errors import RINGCENTRAL_ERROR_SCHEMA
from bridge.surfaces.ringcentral.rate_limits import RATE_EXCEEDED, rate_group

ringcentral_oauth_blueprint = APIBlueprint("ringcentral_oauth", __name__,
                                           url_prefix="/restapi/oauth", tag="RingCentral OAuth")


FORM_ERRORS = body_errors(RINGCENTRAL_ERROR_SCHEMA, json=False)
# RingCentral's permissions whose routes ringbridge has (RingOut; the account and its
# extensions); every token gets them all, whatever `scope` asks: its user's role decides.
SCOPE = "RingOut ReadAccounts"
REVOKED: Responses = {200: no_body("Revoked; no body"), 400: error_body(
    "unsupported_token_type: a token made by `ringbridge tokens create`, or another "
    "token_type_hint", RINGCENTRAL_ERROR_SCHEMA),
    429: error_body(RATE_EXCEEDED, RINGCENTRAL_ERROR_SCHEMA), **FORM_ERRORS}


class InvalidGrant(ServiceError):
    code = "OAU-140"


class ClientRequired(ServiceError):
    status = 401
    code = "OAU-123"


class RingCentralTokenIn(TokenIn):
    class Meta:
        unknown = EXCLUDE  # RingCentral clients also send `extension`, `access_token_ttl`...
        exclude = ("domain",)  # PortSIP's way of naming the tenant

    grants: ClassVar[Mapping[str, tuple[str, ...]]] = {**GRANTS, JWT_BEARER: ("assertion",)}
    json_schema: ClassVar[dict[str, Any]] = grants_json_schema(grants)

    scope = String(validate=Length(max=1024), metadata={"description": "ignored"})
    assertion = String(validate=Length(1, 8192), metadata={
        "description": f"{JWT_BEARER} grant: a JWT credential (`ringbridge users jwt "
                       "create`)"})


class RingCentralTokenOut(Schema):
    access_token = String()
    token_type = String(metadata={"description": "bearer"})
    expires_in = Integer()
    refresh_token = String()
    refresh_token_expires_in = Integer()
    scope = String(metadata={"description": f"always {SCOPE!r}, space-separated"})
    owner_id = String(allow_none=True, metadata={
        "description": "the id of the user's own extension (the one `~` names: of those "
                       "it owns, the one with the lowest number); null when it owns none"})
    endpoint_id = String(metadata={
        "description": "the login's id: the same for every pair refreshed from it"})


@ringcentral_oauth_blueprint.post("/token")
@rate_group("Auth")
@ringcentral_oauth_blueprint.input(RingCentralTokenIn, location="form")
@ringcentral_oauth_blueprint.output(RingCentralTokenOut)
@ringcentral_oauth_blueprint.doc(
    summary="Get tokens: password, refresh_token or JWT bearer grant (client id in Basic "
            "auth)",
    description="A refresh revokes the refresh token used and its access token. The JWT "
                f"bearer grant ({JWT_BEARER}) takes a JWT credential made by `ringbridge "
                "users jwt create` as `assertion`; a bad, expired or revoked one, or one "
                "of another tenant than the client id names, is invalid_grant. "
                "Password grants are throttled: 429 CMN-301 (with Retry-After) after too "
                "many failures for the username in the tenant, or for the client "
                "address, in a minute, or when too many are being checked at once; the "
                "password is then not checked. Failed JWT assertions count against the "
                "client address too. Every request here and to /restapi/oauth/revoke "
                "counts in the Auth rate group, per client address (429 CMN-301 past "
                "it).",
    responses={**error_bodies(RINGCENTRAL_ERROR_SCHEMA, {
        400: "Wrong credentials (OAU-140, invalid_grant), parameters (CMN-101, "
             "invalid_request) or grant type (CMN-101, unsupported_grant_type)",
        401: "No client credentials in Basic auth (OAU-123)",
        429: "Too many failed attempts, or requests in the Auth group (CMN-301)"}),
        **FORM_ERRORS})
def token(form_data: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    client = request.authorization
    if client is None or client.type != "basic" or not client.username:
        raise ClientRequired("client credentials are required in HTTP Basic auth")
    try:
        pair = grant(form_data, _company_id(client.username))
    except Unauthorized as exc:
        raise InvalidGrant(exc.message) from exc
    return _token_answer(pair), 200, NO_STORE


def _token_answer(pair: TokenPair) -> dict[str, Any]:
    return {"access_token": pair.access_token, "token_type": "bearer",
            "expires_in": pair.expires_in, "refresh_token": pair.refresh_token,
            "refresh_token_expires_in": int(REFRESH_LIFETIME.total_seconds()),
            "scope": SCOPE, "owner_id": _owner_id(pair.user_id),
            "endpoint_id": encode_id(pair.family_id)}


def _owner_id(user_id: int | None) -> str | None:
    """The id of the user's own extension, as the API shows it (None: it owns none)."""
    if user_id is None:
        return None
    database: Database = current_app.config["DATABASE"]
    with database.session() as session:
        extension = own_extension(session, user_id)
        return encode_id(extension.id) if extension is not None else None


@ringcentral_oauth_blueprint.post("/revoke")
@rate_group("Auth")
@ringcentral_oauth_blueprint.input(RevokeIn, location="form")
@ringcentral_oauth_blueprint.doc(summary="Revoke an access or refresh token",
                                 description=REVOKE_RULES,
                                 responses=REVOKED)
def revoke(form_data: dict[str, Any]) -> tuple[str, int]:
    revoke_token(form_data["token"], form_data.get("token_type_hint"))
    return "", 200


def _company_id(client_id: str) -> str | None:
    database: Database = current_app.config["DATABASE"]
    with database.session() as session:
        found = session.scalar(select(Tenant.company_id).where(Tenant.company_id == client_id))
    return found
