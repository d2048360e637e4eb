"""`/api/login/oauth/*`: the vendor's token endpoint, for API users with a password.

The tenant is named by `domain` (its SIP domain), as PortSIP's clients send it, or
else by `client_id` = its company id. PortSIP's clients send one fixed `client_id` of
the vendor's own, which names no tenant. A username that exists in one tenant only
needs neither; when several tenants have it, one of them is required.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from apiflask import APIBlueprint, APIFlask, Schema
from apiflask.fields import Integer, String
from apiflask.validators import Length, OneOf
from flask import current_app, request
from marshmallow import EXCLUDE, ValidationError, validates_schema

from bridge.api.login_limits import LoginThrottle
from bridge.api.password_logins import checked_user
from bridge.api.schemas import (
    InputSchema,
    Responses,
    body_errors,
    error_body,
    no_body,
)
from bridge.api.shared_login_limits import DatabaseWindows
from bridge.config import Settings
from bridge.services.errors import Unauthorized, ValidationFailed
from bridge.services.jwt_credentials import check_assertion
from bridge.services.tenants import (
    AmbiguousUsername,
    TokenPair,
    login_grant,
    named_tenant_id,
    refresh_grant,
    revoke_oauth_token,
)
from bridge.store.session import Database
from bridge.surfaces.portsip.errors import PORTSIP_ERROR_SCHEMA

oauth_blueprint = APIBlueprint("oauth", __name__, url_prefix="/api/login/oauth", tag="OAuth")

# The grants of both token endpoints, and the fields each needs; RingCentral's also takes
# JWT_BEARER (bridge/surfaces/ringcentral/oauth.py).
GRANTS: Mapping[str, tuple[str, ...]] = {"password": ("username", "password"),
                                         "refresh_token": ("refresh_token",)}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523
# RFC 6749 5.1: token responses must not be cached
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM_ERRORS = body_errors(PORTSIP_ERROR_SCHEMA, json=False)
REVOKED: Responses = {200: no_body("Revoked; no body"), 400: error_body(
    "unsupported_token_type: a token made by `ringbridge tokens create`, or another "
    "token_type_hint", PORTSIP_ERROR_SCHEMA), 401: error_body(
    "No token field and no bearer token", PORTSIP_ERROR_SCHEMA), **FORM_ERRORS}
REVOKE_RULES = ("Revoking the access or the refresh token of a pair revokes both, and "
                "every token refreshed from them (RFC 7009 2.1): it ends the login. "
                "200 even for an unknown token (RFC 7009).")
# The client_id PortSIP's documentation gives every client: it names no tenant.
VENDOR_CLIENT_ID = "9d806019-75b2-4b3d-bb8b-f5a3a412cc0a"


class UnsupportedGrantType(ValidationFailed):
    """RFC 6749 5.2: a grant_type this token endpoint does not take."""

    code = "unsupported_grant_type"


def grants_json_schema(grants: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """The grant types a token endpoint takes, each with the fields it needs."""
    return {"oneOf": [{"properties": {"grant_type": {"const": grant}},
                       "required": list(fields)}
                      for grant, fields in grants.items()]}


class TokenIn(InputSchema):
    """`grants`: the grant types this endpoint takes; another is 400
    unsupported_grant_type (RFC 6749 5.2), a missing field of one 400 naming it."""

    class Meta:
        unknown = EXCLUDE  # OAuth clients add fields of their own (client_secret, ...)

    grants: ClassVar[Mapping[str, tuple[str, ...]]] = GRANTS
    json_schema: ClassVar[dict[str, Any]] = grants_json_schema(GRANTS)

    grant_type = String(required=True, validate=Length(1, 128), metadata={
        "description": "one of the grant types the body's oneOf lists, each with the "
                       "fields it needs; another is 400 unsupported_grant_type"})
    username = String(validate=Length(1, 128), metadata={"description": "password grant"})
    password = String(validate=Length(1, 128), metadata={"description": "password grant"})
    refresh_token = String(validate=Length(1, 128),
                           metadata={"description": "refresh_token grant"})
    scope = String(validate=OneOf(["all"]))
    domain = String(validate=Length(1, 253), metadata={
        "description": "the tenant's SIP domain; names the tenant (client_id is then "
                       "ignored)"})
    client_id = String(validate=Length(1, 64), metadata={
        "description": "the tenant's company id, or the vendor's fixed client id "
                       f"{VENDOR_CLIENT_ID} (names no tenant); a tenant must be named "
                       "(domain or company id) when the username exists in more than one"})

    @validates_schema
    def grant_fields(self, data: dict[str, Any], **_: Any) -> None:
        """A service error, not a ValidationError, for another grant type: RFC 6749 names
        that error unsupported_grant_type, not invalid_request."""
        if data["grant_type"] not in self.grants:
            raise UnsupportedGrantType(
                f"grant_type must be one of: {', '.join(self.grants)}", field="grant_type")
        missing = [name for name in self.grants[data["grant_type"]] if name not in data]
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
        unknown = EXCLUDE  # OAuth clients add fields of their own (client_id, ...)

    token = String(required=True, validate=Length(1, 128))
    token_type_hint = String(validate=Length(1, 64), metadata={
        "description": "access_token or refresh_token (either is found without it); "
                       "any other: unsupported_token_type"})


class CurrentTokenRevokeIn(RevokeIn):
    token = String(validate=Length(1, 128), metadata={
        "description": "the token to revoke; left out: the request's bearer token"})


@oauth_blueprint.post("/token")
@oauth_blueprint.input(TokenIn, location="form")
@oauth_blueprint.output(TokenOut)
@oauth_blueprint.doc(summary="Get tokens: password grant, or refresh_token grant",
                     description="A refresh rotates: the refresh token used and its "
                                 "access token are revoked and a new pair is answered. "
                                 "A wrong password or refresh token is 401 UNAUTHORIZED; "
                                 "another grant_type is 400 unsupported_grant_type. "
                                 "Password grants are throttled: 429 TOO_MANY_REQUESTS "
                                 "(with Retry-After) after too many failures for the "
                                 "username in the tenant, or for the client address, in "
                                 "a minute, or when too many are being checked at once; "
                                 "the password is then not checked.",
                     responses={
                         401: error_body("Wrong username, password or refresh token",
                                         PORTSIP_ERROR_SCHEMA),
                         429: error_body("Too many password attempts (TOO_MANY_REQUESTS)",
                                         PORTSIP_ERROR_SCHEMA),
                         **FORM_ERRORS})
def token(form_data: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    try:
        pair = grant(form_data, _company_id(form_data), form_data.get("domain"))
    except AmbiguousUsername as exc:
        raise ValidationFailed("this username exists in more than one tenant: give domain "
                               "= the tenant's SIP domain", field="domain") from exc
    body = {"access_token": pair.access_token, "expires_in": pair.expires_in,
            "refresh_token": pair.refresh_token, "token_type": "Bearer"}
    return body, 200, NO_STORE


def _company_id(form_data: dict[str, Any]) -> str | None:
    """The company id `client_id` names, unless `domain` names the tenant or the
    client_id is the vendor's own."""
    client_id = form_data.get("client_id")
    if "domain" in form_data or client_id == VENDOR_CLIENT_ID:
        return None
    return client_id


def grant(form_data: dict[str, Any], company_id: str | None,
          sip_domain: str | None = None) -> TokenPair:
    """A token pair for a grant its endpoint's schema took (every surface's endpoint);
    password and JWT bearer grants are throttled (bridge/api/login_limits.py)."""
    database: Database = current_app.config["DATABASE"]
    if form_data["grant_type"] == "password":
        return _password_grant(database, form_data, company_id, sip_domain)
    if form_data["grant_type"] == JWT_BEARER:
        return _jwt_grant(database, form_data["assertion"], company_id)
    with database.session() as session:
        return refresh_grant(session, form_data["refresh_token"])


def _password_grant(database: Database, form_data: dict[str, Any], company_id: str | None,
                    sip_domain: str | None) -> TokenPair:
    user = checked_user(form_data["username"], form_data["password"], company_id, sip_domain)
    with database.session() as session:
        return login_grant(session, user)


def _jwt_grant(database: Database, assertion: str, company_id: str | None) -> TokenPair:
    """A failed assertion counts against the client address as a failed password does,
    and the address at its limit is refused before the assertion is checked."""
    throttle: LoginThrottle = current_app.config["LOGIN_THROTTLE"]
    address = request.remote_addr or ""
    throttle.open_accounts(address, [])
    with throttle.failures_counted(address), database.session() as session:
        user = check_assertion(session, assertion,
                               named_tenant_id(session, company_id, sip_domain=None))
        return login_grant(session, user)


def configure(app: APIFlask, settings: Settings) -> None:
    """Failed logins are counted in the database, alike in every API process; the
    password checks running at once are this process's."""
    app.config["LOGIN_THROTTLE"] = LoginThrottle(
        per_account=settings.login_username_failures_per_minute,
        per_address=settings.login_address_failures_per_minute,
        concurrent=settings.login_concurrent_checks,
        failures=DatabaseWindows(app.config["DATABASE"]))


def revoke_token(token: str, hint: str | None) -> None:
    database: Database = current_app.config["DATABASE"]
    with database.session() as session:
        revoke_oauth_token(session, token, hint)


@oauth_blueprint.post("/revoke")
@oauth_blueprint.input(CurrentTokenRevokeIn, location="form")
@oauth_blueprint.doc(summary="Revoke an access or refresh token, or the current one",
                     description="With `token`, that token; without, the request's own "
                                 "`Authorization: Bearer` token (PortSIP's \"revoke the "
                                 "current access token\"). " + REVOKE_RULES,
                     responses=REVOKED)
def revoke(form_data: dict[str, Any]) -> tuple[str, int]:
    revoke_token(form_data.get("token") or _bearer_token(), form_data.get("token_type_hint"))
    return "", 200


def _bearer_token() -> str:
    credentials = request.authorization
    if credentials is None or credentials.type != "bearer" or not credentials.token:
        raise Unauthorized("give the token to revoke in the form field token, or send it "
                           "as Authorization: Bearer")
    return credentials.token
