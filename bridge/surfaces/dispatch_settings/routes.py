"""`/api/dispatch/settings`: where a tenant's dispatch system gets its call events.

Our addition to the PortSIP-style surface (same conventions and error body). The
signing secret is write-only: answers say whether one is set, and show it once when
`"signing_secret": "generate"` made it. Extra header values (a dispatcher's bearer
token...) are never shown either: only their names.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Integer, List, String
from apiflask.validators import Length, OneOf, Range, Regexp

from bridge.api.auth import bearer
from bridge.api.context import tenant_context
from bridge.api.formats import rfc3339
from bridge.api.schemas import (
    HTTP_URL_PATTERN,
    SECRET_PATTERN,
    Flag,
    InputSchema,
    WholeJsonNumber,
)
from bridge.dispatch.config import EVENTS
from bridge.services.dispatch import (
    DEFAULTS,
    LIMITS,
    MAX_HEADERS,
    RESERVED_HEADERS,
    delete_settings,
    get_settings,
    update_settings,
)
from bridge.store.models import DispatchSettings
from bridge.surfaces.portsip.errors import JSON_BODY_ERRORS

dispatch_blueprint = APIBlueprint("dispatch", __name__, url_prefix="/api/dispatch",
                                  tag="Dispatch")


def _limited(name: str, description: str) -> WholeJsonNumber:
    low, high = LIMITS[name]
    return WholeJsonNumber(validate=Range(low, high), metadata={
        "description": f"{description} ({low}..{high}, default {DEFAULTS[name]})"})


# A header name (RFC 9110 token) other than the reserved ones, in any case.
HEADER_NAME = "^(?!(?:{})$)[A-Za-z0-9!#$%&'*+.^_`|~-]{{1,64}}$(?!\n)".format("|".join(
    "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name)
    for name in sorted(RESERVED_HEADERS)))
HEADER_VALUE = r"^[^\r\n\x00]{0,1024}$(?!\n)"


class SettingsIn(InputSchema):
    base_url = String(validate=Length(1, 512), metadata={
        "description": "e.g. https://dispatch.example.com; events go to "
                       "{base_url}[/{companyId}]/telephony/{event}. http or https, a host, "
                       "an optional port and path; no credentials (use headers), query, "
                       "fragment, whitespace or control characters (checked by the service, "
                       "which names the rule broken)",
        "pattern": HTTP_URL_PATTERN})
    company_in_path = Flag(metadata={"description": "put the company id in the path"})
    company_in_query = Flag(metadata={"description": "also send companyId as a query "
                                                     "parameter"})
    events = List(String(validate=OneOf(EVENTS)), validate=Length(max=len(EVENTS)),
                  metadata={"description": "events to send; default all"})
    invite_timeout_ms = _limited("invite_timeout_ms", "how long a new call waits for invite")
    ringing_timeout_ms = _limited("ringing_timeout_ms", "a 307 to ringing later than this is "
                                                        "logged, not acted on")
    delivery_timeout_ms = _limited("delivery_timeout_ms", "per request")
    retry_seconds = _limited("retry_seconds", "connected/cleared/missed are retried this long")
    signing_secret = String(allow_none=True, validate=Length(1, 128), metadata={
        "description": "whsec_<base64 of 24..64 bytes>, \"generate\", or null for unsigned "
                       "requests",
        "pattern": SECRET_PATTERN})
    headers = Dict(keys=String(validate=Regexp(HEADER_NAME, error="not an allowed header "
                                                                   "name")),
                   values=String(validate=Regexp(HEADER_VALUE, error="must be at most 1024 "
                                                 "characters, without CR, LF or NUL")),
                   validate=Length(max=MAX_HEADERS), metadata={
        "description": "extra request headers, e.g. {\"Authorization\": \"Bearer …\"}",
        "maxProperties": MAX_HEADERS})


class SettingsOut(Schema):
    base_url = String()
    company_in_path = Boolean()
    company_in_query = Boolean()
    events = List(String())
    invite_timeout_ms = Integer()
    ringing_timeout_ms = Integer()
    delivery_timeout_ms = Integer()
    retry_seconds = Integer()
    signing_secret_set = Boolean()
    signing_secret = String(metadata={"description": "only in the answer that generated it"})
    header_names = List(String())
    updated_at = String()


def _view(settings: DispatchSettings, new_secret: str | None = None) -> dict[str, Any]:
    view = {name: getattr(settings, name) for name in (
        "base_url", "company_in_path", "company_in_query", "events", "invite_timeout_ms",
        "ringing_timeout_ms", "delivery_timeout_ms", "retry_seconds")}
    view |= {"signing_secret_set": settings.signing_secret is not None,
             "header_names": sorted(settings.headers), "updated_at": rfc3339(settings.updated_at)}
    if new_secret:
        view["signing_secret"] = new_secret
    return view


@dispatch_blueprint.get("/settings")
@dispatch_blueprint.auth_required(bearer)
@dispatch_blueprint.output(SettingsOut)
@dispatch_blueprint.doc(summary="Show the tenant's dispatch settings",
                        responses={404: "Dispatch is not set up"})
def show_settings() -> dict[str, Any]:
    with tenant_context() as ctx:
        return _view(get_settings(ctx.session, ctx.tenant.id))


@dispatch_blueprint.post("/settings")
@dispatch_blueprint.auth_required(bearer)
@dispatch_blueprint.input(SettingsIn)
@dispatch_blueprint.output(SettingsOut)
@dispatch_blueprint.doc(summary="Set up or change dispatch (fields given are changed; "
                                "base_url is needed the first time); applies to the next "
                                "call",
                        responses=JSON_BODY_ERRORS)
def change_settings(json_data: dict[str, Any]) -> dict[str, Any]:
    with tenant_context() as ctx:
        change = update_settings(ctx.session, ctx.tenant.id, json_data)
        return _view(change.settings, change.new_secret)


@dispatch_blueprint.post("/settings/destroy")
@dispatch_blueprint.auth_required(bearer)
@dispatch_blueprint.doc(summary="Stop sending dispatch events",
                        responses={204: "Removed; no body", 404: "Dispatch is not set up"})
def destroy_settings() -> tuple[str, int]:
    with tenant_context() as ctx:
        delete_settings(ctx.session, ctx.tenant.id)
    return "", 204
