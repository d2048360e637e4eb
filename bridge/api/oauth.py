"""`/api/login/oauth/*`: the vendor's token endpoint, for API users with a password.

`client_id` is the tenant's company id. It may be left out when the username exists
in one tenant only; when several tenants have that username it is required.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, String
from apiflask.validators import Length, OneOf
from flask import current_app
from marshmallow import EXCLUDE, ValidationError, validates_schema

from bridge.api.schemas import InputSchema
from bridge.services.tenants import (
    TokenPair,
    password_grant,
    refresh_grant,
    revoke_oauth_token,
)
from bridge.store.session import Database

oauth_blueprint = APIBlueprint("oauth", __name__, url_prefix="/api/login/oauth", tag="OAuth")

_GRANT_FIELDS = {"password": ("username", "password"), "refresh_token": ("refresh_token",)}
# RFC 6749 5.1: token responses must not be cached
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenIn(InputSchema):
    class Meta:
        unknown = EXCLUDE  # OAuth clients add fields of their own (client_secret, ...)

    grant_type = String(required=True, validate=OneOf(list(_GRANT_FIELDS)))
    username = String(validate=Length(1, 128), metadata={"description": "password grant"})
    password = String(validate=Length(1, 128), metadata={"description": "password grant"})
    refresh_token = String(validate=Length(1, 128),
                           metadata={"description": "refresh_token grant"})
    scope = String(validate=OneOf(["all"]))
    client_id = String(validate=Length(1, 64), metadata={
        "description": "the tenant's company id; required when the username exists in "
                       "more than one tenant"})

    @validates_schema
    def grant_fields(self, data: dict[str, Any], **_: Any) -> None:
        missing = [name for name in _GRANT_FIELDS.get(data.get("grant_type", ""), ())
                   if name not in data]
        if missing:
            raise ValidationError({name: ["Missing data for required field."]
                                   for name in missing})


class TokenOut(Schema):
    access_token = String(metadata={"description": "a bearer token, for 1 hour"})
    expires_in = Integer(metadata={"description": "seconds the access token lives"})
    refresh_token = String(metadata={"description": "for one refresh_token grant, within "
                                                    "30 days; not a bearer token"})
    token_type = String(metadata={"description": "Bearer"})


class RevokeIn(InputSchema):
    class Meta:
        unknown = EXCLUDE  # e.g. token_type_hint: either kind is found without it

    token = String(required=True, validate=Length(1, 128))


@oauth_blueprint.post("/token")
@oauth_blueprint.input(TokenIn, location="form")
@oauth_blueprint.output(TokenOut)
@oauth_blueprint.doc(summary="Get tokens: password grant, or refresh_token grant",
                     description="A refresh rotates: the refresh token used is revoked and "
                                 "a new pair is answered. A wrong password or refresh token "
                                 "is 401 UNAUTHORIZED.",
                     responses={401: "Wrong username, password or refresh token"})
def token(form_data: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    pair = grant(form_data, form_data.get("client_id"))
    body = {"access_token": pair.access_token, "expires_in": pair.expires_in,
            "refresh_token": pair.refresh_token, "token_type": "Bearer"}
    return body, 200, NO_STORE


def grant(form_data: dict[str, Any], company_id: str | None) -> TokenPair:
    """A token pair for a password or refresh_token grant (every surface's endpoint)."""
    database: Database = current_app.config["DATABASE"]
    with database.session() as session:
        if form_data["grant_type"] == "password":
            return password_grant(session, form_data["username"], form_data["password"],
                                  company_id)
        return refresh_grant(session, form_data["refresh_token"])


def revoke_token(token: str) -> None:
    database: Database = current_app.config["DATABASE"]
    with database.session() as session:
        revoke_oauth_token(session, token)


@oauth_blueprint.post("/revoke")
@oauth_blueprint.input(RevokeIn, location="form")
@oauth_blueprint.doc(summary="Revoke an access or refresh token",
                     description="200 even for an unknown token (RFC 7009).")
def revoke(form_data: dict[str, Any]) -> tuple[str, int]:
    revoke_token(form_data["token"])
    return "", 200
