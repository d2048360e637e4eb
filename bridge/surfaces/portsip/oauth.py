"""`/api/login/oauth/*`: the vendor's token endpoint, for API users with a password.

The tenant is named by `domain` (its SIP domain), as PortSIP's clients send it, or
else by `client_id` = its company id. PortSIP's clients send one fixed `client_id` of
the vendor's own, which names no tenant. A username that exists in one tenant only
needs neither; when several tenants have it, one of them is required.
"""

from __future__ import annotations

from typing import Any, ClassVar

from apiflask import APIBlueprint, APIFlask, Schema
from apiflask.fields import Integer, String
from apiflask.validators import Length, OneOf
from flask import current_app, request
from marshmallow import EXCLUDE, ValidationError, validates_schema
from sqlalchemy.orm import Session

from bridge.api.login_limits import LoginThrottle, account
from bridge.api.schemas import (
    InputSchema,
    Responses,
    body_errors,
    error_body,
    no_body,
)
from bridge.config import Settings
from bridge.services.errors import Unauthorized, ValidationFailed
from bridge.services.tenants import (
    AmbiguousUsername,
    TokenPair,
    check_password,
    login_users,
    named_tenant_id,
    password_grant,
    refresh_grant,
    revoke_oauth_token,
)
from bridge.store.models import User
from bridge.store.session import Database
from bridge.surfaces.portsip.errors import PORTSIP_ERROR_SCHEMA

oauth_blueprint = APIBlueprint("oauth", __name__, url_prefix="/api/login/oauth", tag="OAuth")

_GRANT_FIELDS = {"password": ("username", "password"), "refresh_token": ("refresh_token",)}
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


class TokenIn(InputSchema):
    class Meta:
        unknown = EXCLUDE  # OAuth clients add fields of their own (client_secret, ...)

    json_schema: ClassVar[dict[str, Any]] = {"oneOf": [
        {"properties": {"grant_type": {"const": grant}}, "required": list(fields)}
        for grant, fields in _GRANT_FIELDS.items()]}

    grant_type = String(required=True, validate=OneOf(list(_GRANT_FIELDS)))
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
                                 "A wrong password or refresh token is 401 UNAUTHORIZED. "
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
    """A token pair for a password or refresh_token grant (every surface's endpoint);
    password grants are throttled (bridge/api/login_limits.py)."""
    database: Database = current_app.config["DATABASE"]
    if form_data["grant_type"] == "password":
        return _password_grant(database, form_data, company_id, sip_domain)
    with database.session() as session:
        return refresh_grant(session, form_data["refresh_token"])


def _password_grant(database: Database, form_data: dict[str, Any], company_id: str | None,
                    sip_domain: str | None) -> TokenPair:
    """No database connection is held while waiting for a check slot or checking."""
    throttle: LoginThrottle = current_app.config["LOGIN_THROTTLE"]
    username, address = form_data["username"], request.remote_addr or ""
    with database.session() as session:
        users = login_users(session, username, company_id, sip_domain)
        accounts: dict[str, User | None] = {account(user.tenant_id, username): user
                                            for user in users}
        if not users:
            accounts[account(_unknown_account_tenant(session, company_id, sip_domain),
                             username)] = None
    checked = throttle.open_accounts(address, list(accounts))
    with throttle.attempt(address, checked):
        user = check_password([user for key in checked if (user := accounts[key])],
                              form_data["password"], candidates=len(users))
    with database.session() as session:
        return password_grant(session, user)


def _unknown_account_tenant(session: Session, company_id: str | None,
                            sip_domain: str | None) -> int | str | None:
    """What the failures of a username no tenant named has count against: the tenant
    named (by its id), what the request named when no tenant has it, or None."""
    if company_id is None and sip_domain is None:
        return None
    return named_tenant_id(session, company_id, sip_domain) or f"{company_id}|{sip_domain}"


def configure(app: APIFlask, settings: Settings) -> None:
    app.config["LOGIN_THROTTLE"] = LoginThrottle(
        per_account=settings.login_username_failures_per_minute,
        per_address=settings.login_address_failures_per_minute,
        concurrent=settings.login_concurrent_checks)


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
