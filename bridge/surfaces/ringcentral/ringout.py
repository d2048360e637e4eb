"""RingOut in the RingCentral style: `/restapi/v1.0/account/{a}/extension/{e}/ring-out`.

Both spellings (`ring-out`, and the older `ringout`) answer the same. Errors come in
RingCentral's body (errors.py here), requests are rate limited in its usage plan groups
(rate_limits.py: POST and DELETE Heavy, GET Light).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

from apiflask import APIBlueprint, APIFlask, Schema
from apiflask.fields import Boolean, Nested, String
from apiflask.validators import Length
from flask import current_app, request
from marshmallow import ValidationError, validates_schema

from bridge.api.auth import bearer
from bridge.api.context import RequestContext, tenant_context
from bridge.api.schemas import ID_PATTERN, NOT_JSON, InputSchema, body_errors, error_bodies
from bridge.api.urls import absolute_url
from bridge.config import Settings
from bridge.services.errors import ServiceError
from bridge.services.tenants import token_expired
from bridge.store.models import Extension, RingOut
from bridge.store.session import Database
from bridge.surfaces.ringcentral.errors import RINGCENTRAL_ERROR_SCHEMA
from bridge.surfaces.ringcentral.paths import reached_extension
from bridge.surfaces.ringcentral.rate_limits import RATE_EXCEEDED, rate_group
from bridge.surfaces.ringcentral.ringout_service import (
    RingOutRequest,
    RingOutService,
    RingOutSettings,
)

ringout_blueprint = APIBlueprint("ringout", __name__, tag="RingOut",
                                 url_prefix="/restapi/v1.0/account/<account_id>/extension/"
                                            "<extension_id>")
SPELLINGS = ("ring-out", "ringout")
NOT_PERMITTED = "A user's token on an extension it does not own (CMN-408)"
NUMBER = Length(1, 32)
# A number in digits (bridge/phone_numbers.py), or an extension number of the tenant.
NUMBER_PATTERN = r"^(?:\+?[0-9]{2,20}|[0-9]{21,32})$(?!\n)"


class InvalidJson(ServiceError):
    code = "CMN-103"


class TokenExpired(ServiceError):
    status = 401
    code = "OAU-128"


class PhoneIn(InputSchema):
    phoneNumber = String(required=True, validate=NUMBER, metadata={
        "description": "E.164 (`+14155550100`), national (read with `country.id` or the "
                       "tenant's region), or an extension number of the tenant",
        "pattern": NUMBER_PATTERN})


class FromIn(InputSchema):
    json_schema: ClassVar[dict[str, Any]] = {
        "not": {"required": ["phoneNumber", "forwardingNumberId"]}}

    phoneNumber = String(validate=NUMBER, metadata={"pattern": NUMBER_PATTERN})
    forwardingNumberId = String(validate=Length(1, 32), metadata={
        "description": "one of the extension's forwarding numbers (its id)",
        "pattern": ID_PATTERN})

    @validates_schema
    def one_of(self, data: dict[str, Any], **_: Any) -> None:
        if "phoneNumber" in data and "forwardingNumberId" in data:
            raise ValidationError("give phoneNumber or forwardingNumberId, not both")


class CountryIn(InputSchema):
    id = String(required=True, validate=Length(1, 8), metadata={
        "description": "ISO 3166 code (`GB`) or country calling code (`1`, `44`)",
        "pattern": r"^(?:[A-Za-z]{2}|[0-9]{1,3})$(?!\n)"})


class RingOutIn(InputSchema):
    to = Nested(PhoneIn, required=True)
    from_ = Nested(FromIn, data_key="from", metadata={
        "description": "left out: the extension's default forwarding number"})
    callerId = Nested(PhoneIn, metadata={
        "description": "what the callee sees: one of the extension's caller ids (else 403)"})
    playPrompt = Boolean(load_default=False, truthy={True}, falsy={False})
    country = Nested(CountryIn)


class StatusOut(Schema):
    callStatus = String()
    callerStatus = String()
    calleeStatus = String()


class RingOutOut(Schema):
    id = String()
    uri = String()
    status = Nested(StatusOut)


def configure(app: APIFlask, settings: Settings) -> None:
    app.config["RINGOUT"] = RingOutSettings(
        ring_time=settings.ringout_ring_time, prompt_timeout=settings.ringout_prompt_timeout,
        retention=timedelta(seconds=settings.ringout_retention))


@ringout_blueprint.before_request
def refuse_expired_token() -> None:
    """RingCentral tells an expired access token (refresh it) from an invalid one."""
    credentials = request.authorization
    if credentials is None or credentials.type != "bearer" or not credentials.token:
        return
    database: Database = current_app.config["DATABASE"]
    with database.session() as session:
        if token_expired(session, credentials.token):
            raise TokenExpired("Access token expired")


def parsable_json(view: Callable[..., Any]) -> Callable[..., Any]:
    """CMN-103 for a body sent as JSON that does not parse (between the token check and
    validation); one not sent as JSON is left to the JSON loader's 415 (json_body.py)."""
    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if request.is_json and request.get_data() and request.get_json(silent=True) is None:
            raise InvalidJson("the request body is not valid JSON")
        return view(*args, **kwargs)

    return checked


def _service(ctx: RequestContext) -> RingOutService:
    return RingOutService(ctx.session, ctx.tenant, current_app.config["RINGOUT"], ctx.gateway)


def _extension(ctx: RequestContext, account_id: str, extension_id: str) -> Extension:
    return reached_extension(ctx.session, ctx.tenant, ctx.principal, account_id,
                             extension_id)


def _render(ringout: RingOut, account_id: str, extension_id: str) -> dict[str, Any]:
    spelling = (request.endpoint or "").rsplit("_", 1)[-1]
    spelling = spelling if spelling in SPELLINGS else SPELLINGS[0]
    uri = absolute_url(f"ringout.get_{spelling}", account_id=account_id,
                       extension_id=extension_id, ringout_id=str(ringout.id))
    return {"id": str(ringout.id), "uri": uri, "status": {
        "callStatus": ringout.call_status, "callerStatus": ringout.caller_status,
        "calleeStatus": ringout.callee_status}}


@rate_group("Heavy")
@ringout_blueprint.auth_required(bearer)
@parsable_json
@ringout_blueprint.input(RingOutIn)
@ringout_blueprint.output(RingOutOut)
@ringout_blueprint.doc(summary="Start a RingOut: ring `from`, then `to`, and connect them",
                       responses={**error_bodies(RINGCENTRAL_ERROR_SCHEMA, {
                           400: "Invalid parameter (CMN-101) or JSON (CMN-103)",
                           403: "callerId is not one of the extension's (CMN-101), or a "
                                "user's token on an extension it does not own (CMN-408)",
                           404: "Account or extension not found (CMN-102)",
                           429: RATE_EXCEEDED}),
                           **body_errors(RINGCENTRAL_ERROR_SCHEMA, f"{NOT_JSON} (CMN-415)")})
def create(account_id: str, extension_id: str, json_data: dict[str, Any]) -> dict[str, Any]:
    source = json_data.get("from_", {})
    wanted = RingOutRequest(
        to=json_data["to"]["phoneNumber"], from_number=source.get("phoneNumber"),
        forwarding_number_id=source.get("forwardingNumberId"),
        caller_id=json_data.get("callerId", {}).get("phoneNumber"),
        play_prompt=json_data["playPrompt"], country=json_data.get("country", {}).get("id"))
    with tenant_context() as ctx:
        extension = _extension(ctx, account_id, extension_id)
        return _render(_service(ctx).create(extension, wanted), account_id, extension_id)


@rate_group("Light")
@ringout_blueprint.auth_required(bearer)
@ringout_blueprint.output(RingOutOut)
@ringout_blueprint.doc(summary="A RingOut's status (404 some time after it ended)",
                       responses={403: NOT_PERMITTED,
                                  404: "Not found, or ended longer ago than the retention "
                                       "(CMN-102)",
                                  429: RATE_EXCEEDED})
def get(account_id: str, extension_id: str, ringout_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        extension = _extension(ctx, account_id, extension_id)
        return _render(_service(ctx).get(extension, ringout_id), account_id, extension_id)


@rate_group("Heavy")
@ringout_blueprint.auth_required(bearer)
@ringout_blueprint.output({}, status_code=204)
@ringout_blueprint.doc(summary="Cancel a RingOut that is not connected yet",
                       description="The legs still up are hung up and show Rejected. Once "
                                   "both legs are connected the call is not torn down: 409 "
                                   "(CMN-409), the call stays up.",
                       responses={403: NOT_PERMITTED,
                                  404: "Not found (CMN-102)",
                                  409: "Connected: the call stays up (CMN-409)",
                                  429: RATE_EXCEEDED})
def delete(account_id: str, extension_id: str, ringout_id: str) -> tuple[str, int]:
    with tenant_context() as ctx:
        extension = _extension(ctx, account_id, extension_id)
        _service(ctx).cancel(extension, ringout_id)
    return "", 204


for _spelling in SPELLINGS:
    ringout_blueprint.add_url_rule(f"/{_spelling}", f"create_{_spelling}", create,
                                   methods=["POST"])
    ringout_blueprint.add_url_rule(f"/{_spelling}/<ringout_id>", f"get_{_spelling}", get,
                                   methods=["GET"])
    ringout_blueprint.add_url_rule(f"/{_spelling}/<ringout_id>", f"delete_{_spelling}",
                                   delete, methods=["DELETE"])
