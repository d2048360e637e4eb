"""`/api/extensions` in the PortSIP style (ring_groups.md conventions)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import Length, Regexp

from bridge.api.auth import bearer
from bridge.api.context import tenant_context, tenant_list
from bridge.api.formats import rfc3339
from bridge.api.listing import ListField
from bridge.api.schemas import (
    ID_PATTERN,
    NUMBER,
    Flag,
    InputSchema,
    ListArgsIn,
    Responses,
    error_body,
    no_body,
)
from bridge.gateway import UNSAFE_IN_CALLER_NAME
from bridge.phone_numbers import FORMATTED_MAX_LENGTH, FORMATTED_PATTERN
from bridge.services.errors import ValidationFailed
from bridge.services.extensions import (
    CONTROL_CHARACTERS,
    PAUSE_REASON_MAX,
    ExtensionsService,
    pause,
    resume,
)
from bridge.store.ids import decode_id, encode_id
from bridge.store.models import Extension
from bridge.surfaces.portsip.errors import JSON_BODY_ERRORS, PORTSIP_ERROR_SCHEMA

extensions_blueprint = APIBlueprint("extensions", __name__, url_prefix="/api/extensions",
                                    tag="Extensions")

# Spaces to Python's \s or to ECMA's (which differ on \x1c-\x1f, \x85 and \ufeff); the
# pattern as NUMBER's (bridge/api/schemas.py).
NO_SPACES = Regexp(r"^[^\s\x00\x1c-\x1f\x85\ufeff]+$(?!\n)", error="must not contain spaces")
NOT_FOUND: Responses = {404: error_body("No such extension", PORTSIP_ERROR_SCHEMA)}
UPDATED: Responses = {200: no_body("Done; no body"), **NOT_FOUND}
NAME_UNSAFE = 'control characters (CR, LF, tab, ...) or any of " \\ < > ;'
# A display name becomes the endpoint's callerid and the SIP display name.
safe_caller_name = Regexp(f"^[^{UNSAFE_IN_CALLER_NAME.pattern[1:-1]}]*$(?!\\n)",
                          error=f"must not contain {NAME_UNSAFE}")
no_control_characters = Regexp(f"^[^{CONTROL_CHARACTERS.pattern[1:-1]}]*$(?!\\n)",
                               error="must not contain control characters")


NUMBER_TEXT = ("E.164, or national in the tenant's region; spaces, dashes, dots and one "
               "pair of parentheses may separate the digits")


def phone_number(**kwargs: Any) -> String:
    """A phone number as people write it (bridge/phone_numbers.py checks it)."""
    return String(metadata={"description": NUMBER_TEXT, "pattern": FORMATTED_PATTERN,
                            "maxLength": FORMATTED_MAX_LENGTH}, **kwargs)


class ForwardingNumberIn(InputSchema):
    number = phone_number(required=True)
    default = Flag(load_default=False)


class ExtensionUpdateIn(InputSchema):
    display_name = String(allow_none=True, validate=[Length(max=128), safe_caller_name],
                          metadata={"description": "the phone's caller name (SIP display "
                                                   f"name): at most 128 characters, no "
                                                   f"{NAME_UNSAFE}"})
    agent_id = String(allow_none=True, validate=[Length(1, 254), NO_SPACES],
                      metadata={"description": "dispatch agentId, e.g. john.smith@example.com"})
    password = String(allow_none=True, validate=[Length(8, 128), NO_SPACES],
                      metadata={"description": "SIP password; generated when left out or null"})
    user_id = String(allow_none=True, metadata={"pattern": ID_PATTERN,
                                                "description": "a user of the tenant"})
    forwarding_numbers = List(Nested(ForwardingNumberIn), allow_none=True,
                              validate=Length(max=10),
                              metadata={"description": "at most 10; null is the empty list"})
    caller_ids = List(phone_number(), allow_none=True,
                      validate=Length(max=20),
                      metadata={"description": "at most 20; null is the empty list"})
    extension_number = String(metadata={"description": "not allowed: set at create only"})


class ExtensionCreateIn(ExtensionUpdateIn):
    extension_number = String(required=True, validate=NUMBER)


class PauseIn(InputSchema):
    reason = String(allow_none=True,
                    validate=[Length(max=PAUSE_REASON_MAX), no_control_characters],
                    metadata={"description": f"why: at most {PAUSE_REASON_MAX} characters, "
                                             "no control characters; null or empty: none"})


class PauseOut(Schema):
    """Whether an extension is paused: the extension's forms and its ring group
    memberships show it too."""

    paused = Boolean(metadata={"description": "no ring group rings it, whatever the "
                                              "strategy, until it is resumed"})
    pause_reason = String(allow_none=True)
    paused_at = String(allow_none=True, metadata={"description": "RFC 3339, UTC: when it "
                                                                 "was paused; null if not"})


class ForwardingNumberOut(Schema):
    id = String()
    number = String()
    default = Boolean()


class ExtensionSummaryOut(PauseOut):
    id = String()
    extension_number = String()
    display_name = String(allow_none=True)
    agent_id = String(allow_none=True)
    user_id = String(allow_none=True, metadata={"pattern": ID_PATTERN,
                                                "description": "a user of the tenant"})
    sip_username = String()
    sip_domain = String()
    created_at = String(metadata={"description": "RFC 3339, UTC"})
    updated_at = String(metadata={"description": "RFC 3339, UTC"})


class ExtensionOut(ExtensionSummaryOut):
    password = String(metadata={"description": "SIP password (shown on this form only)"})
    forwarding_numbers = List(Nested(ForwardingNumberOut))
    caller_ids = List(String())


class ExtensionListOut(Schema):
    count = Integer()
    items = List(Nested(ExtensionSummaryOut))


class IdOut(Schema):
    id = String()


LIST_FIELDS = {
    "extension_number": ListField(Extension.extension_number, "string", searchable=True),
    "display_name": ListField(Extension.display_name, "string", searchable=True),
    "agent_id": ListField(Extension.agent_id, "string", searchable=True),
}


def pause_state(extension: Extension) -> dict[str, Any]:
    paused_at = extension.paused_at
    return {"paused": paused_at is not None, "pause_reason": extension.pause_reason,
            "paused_at": rfc3339(paused_at) if paused_at else None}


def summary(extension: Extension) -> dict[str, Any]:
    return {**pause_state(extension),
        "id": encode_id(extension.id), "extension_number": extension.extension_number,
        "display_name": extension.display_name, "agent_id": extension.agent_id,
        "user_id": encode_id(extension.user_id) if extension.user_id else None,
        "sip_username": extension.extension_number, "sip_domain": extension.tenant.sip_domain,
        "created_at": rfc3339(extension.created_at), "updated_at": rfc3339(extension.updated_at),
    }


def full(extension: Extension) -> dict[str, Any]:
    return {
        **summary(extension), "password": extension.sip_password,
        "forwarding_numbers": [
            {"id": encode_id(f.id), "number": f.number, "default": f.is_default}
            for f in extension.forwarding_numbers
        ],
        "caller_ids": list(extension.caller_ids),
    }


def _with_ids(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("user_id") is not None:
        user_id = decode_id(data["user_id"])
        if user_id is None:
            raise ValidationFailed("user_id is not a user id", field="user_id")
        data = {**data, "user_id": user_id}
    return data


@extensions_blueprint.get("")
@extensions_blueprint.auth_required(bearer)
@extensions_blueprint.input(ListArgsIn, location="query")
@extensions_blueprint.output(ExtensionListOut)
@extensions_blueprint.doc(summary="List extensions (filter, search, orderby, skip, top)")
def list_extensions(query_data: dict[str, Any]) -> dict[str, Any]:
    with tenant_context() as ctx:
        return tenant_list(ctx, Extension, LIST_FIELDS, summary, query_data)


@extensions_blueprint.post("")
@extensions_blueprint.auth_required(bearer)
@extensions_blueprint.input(ExtensionCreateIn)
@extensions_blueprint.output(IdOut)
@extensions_blueprint.doc(summary="Create an extension (a SIP endpoint at once)",
                          responses=JSON_BODY_ERRORS)
def create_extension(json_data: dict[str, Any]) -> dict[str, str]:
    with tenant_context() as ctx:
        service = ExtensionsService(ctx.session, ctx.tenant, ctx.gateway)
        extension = service.create(_with_ids(json_data), ctx.parking)
        return {"id": encode_id(extension.id)}


@extensions_blueprint.get("/<extension_id>")
@extensions_blueprint.auth_required(bearer)
@extensions_blueprint.output(ExtensionOut)
@extensions_blueprint.doc(summary="Show an extension")
def show_extension(extension_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        service = ExtensionsService(ctx.session, ctx.tenant, ctx.gateway)
        return full(service.get(decode_id(extension_id)))


@extensions_blueprint.post("/<extension_id>")
@extensions_blueprint.auth_required(bearer)
@extensions_blueprint.input(ExtensionUpdateIn)
@extensions_blueprint.doc(summary="Update an extension (fields given are changed)",
                          responses={**UPDATED, **JSON_BODY_ERRORS})
def update_extension(extension_id: str, json_data: dict[str, Any]) -> tuple[str, int]:
    with tenant_context() as ctx:
        service = ExtensionsService(ctx.session, ctx.tenant, ctx.gateway)
        service.update(service.get(decode_id(extension_id)), _with_ids(json_data))
    return "", 200


@extensions_blueprint.post("/<extension_id>/destroy")
@extensions_blueprint.auth_required(bearer)
@extensions_blueprint.doc(summary="Delete an extension (its phone can no longer register)",
                          responses={204: "Deleted; no body", 404: "No such extension"})
def destroy_extension(extension_id: str) -> tuple[str, int]:
    with tenant_context() as ctx:
        service = ExtensionsService(ctx.session, ctx.tenant, ctx.gateway)
        service.delete(service.get(decode_id(extension_id)))
    return "", 204


@extensions_blueprint.post("/<extension_id>/pause")
@extensions_blueprint.auth_required(bearer)
@extensions_blueprint.input(PauseIn)
@extensions_blueprint.output(PauseOut)
@extensions_blueprint.doc(summary="Pause an extension: no ring group rings it until resumed",
                          description="In every group it is a member of, whatever the "
                                      "strategy; kept across restarts. The body is optional. "
                                      "Pausing a paused extension changes its reason only.",
                          responses={**NOT_FOUND, **JSON_BODY_ERRORS})
def pause_extension(extension_id: str, json_data: dict[str, Any]) -> dict[str, Any]:
    with tenant_context() as ctx:
        extension = ExtensionsService(ctx.session, ctx.tenant, ctx.gateway).get(
            decode_id(extension_id))
        pause(extension, json_data.get("reason"))
        return pause_state(extension)


@extensions_blueprint.post("/<extension_id>/resume")
@extensions_blueprint.auth_required(bearer)
@extensions_blueprint.output(PauseOut)
@extensions_blueprint.doc(summary="Resume a paused extension: its ring groups ring it again",
                          responses=NOT_FOUND)
def resume_extension(extension_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        extension = ExtensionsService(ctx.session, ctx.tenant, ctx.gateway).get(
            decode_id(extension_id))
        resume(extension)
        return pause_state(extension)
