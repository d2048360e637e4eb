"""`/restapi/oauth/*`: RingCentral's token endpoint over the same token services.

The client id and secret come in HTTP Basic auth, as RingCentral's clients send them.
ringbridge has no registry of client applications: the secret is not checked, and the
client id is used as the tenant's company id only when a tenant has it (to pick the
tenant of a username that several tenants have); any other client id is accepted.
"""

from __future__ import annotations

from typing import Any

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
from bridge.services.tenants import REFRESH_LIFETIME
from bridge.store.models import Tenant
from bridge.store.session import Database
from bridge.surfaces.portsip.oauth import (
    NO_STORE,
    REVOKE_RULES,
    RevokeIn,
    TokenIn,
    grant,
    revoke_token,
)
from bridge.surfaces.ringcentral.errors import RINGCENTRAL_ERROR_SCHEMA

ringcentral_oauth_blueprint = APIBlueprint("ringcentral_oauth", __name__,
                                           url_prefix="/restapi/oauth", tag="RingCentral OAuth")


FORM_ERRORS = body_errors(RINGCENTRAL_ERROR_SCHEMA, json=False)
REVOKED: Responses = {200: no_body("Revoked; no body"), 400: error_body(
    "unsupported_token_type: a token made by `ringbridge tokens create`, or another "
    "token_type_hint", RINGCENTRAL_ERROR_SCHEMA), **FORM_ERRORS}


class InvalidGrant(ServiceError):
    code = "OAU-140"


class ClientRequired(ServiceError):
    status = 401
    code = "OAU-123"


class RingCentralTokenIn(TokenIn):
    class Meta:
        unknown = EXCLUDE  # RingCentral clients also send `extension`, `access_token_ttl`...
        exclude = ("domain",)  # PortSIP's way of naming the tenant

    scope = String(validate=Length(max=1024), metadata={"description": "ignored"})


class RingCentralTokenOut(Schema):
    access_token = String()
    token_type = String(metadata={"description": "bearer"})
    expires_in = Integer()
    refresh_token = String()
    refresh_token_expires_in = Integer()
    scope = String()


@ringcentral_oauth_blueprint.post("/token")
@ringcentral_oauth_blueprint.input(RingCentralTokenIn, location="form")
@ringcentral_oauth_blueprint.output(RingCentralTokenOut)
@ringcentral_oauth_blueprint.doc(
    summary="Get tokens: password grant, or refresh_token grant (client id in Basic auth)",
    description="A refresh revokes the refresh token used and its access token. "
                "Password grants are throttled: 429 CMN-301 (with Retry-After) after too "
                "many failures for the username in the tenant, or for the client "
                "address, in a minute, or when too many are being checked at once; the "
                "password is then not checked.",
    responses={**error_bodies(RINGCENTRAL_ERROR_SCHEMA, {
        400: "Wrong credentials (OAU-140, invalid_grant) or parameters (CMN-101)",
        401: "No client credentials in Basic auth (OAU-123)",
        429: "Too many password attempts (CMN-301)"}), **FORM_ERRORS})
def token(form_data: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    client = request.authorization
    if client is None or client.type != "basic" or not client.username:
        raise ClientRequired("client credentials are required in HTTP Basic auth")
    try:
        pair = grant(form_data, _company_id(client.username))
    except Unauthorized as exc:
        raise InvalidGrant(exc.message) from exc
    body = {"access_token": pair.access_token, "token_type": "bearer",
            "expires_in": pair.expires_in, "refresh_token": pair.refresh_token,
            "refresh_token_expires_in": int(REFRESH_LIFETIME.total_seconds()),
            "scope": "RingOut"}
    return body, 200, NO_STORE


@ringcentral_oauth_blueprint.post("/revoke")
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
