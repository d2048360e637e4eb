"""`/uapi/phoneCalls` in the VoIPNow UnifiedAPI style (shared/spec/phone_calls.md).

Errors are `{"error": {"code", "message"}}` (errors.py here); null fields are left
out of every answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from apiflask import APIBlueprint
from flask import Response, request

from bridge.api.auth import bearer
from bridge.api.context import tenant_context
from bridge.api.formats import rfc3339
from bridge.api.schemas import (
    NOT_JSON,
    Responses,
    body_errors,
    error_body,
    no_body,
)
from bridge.api.urls import absolute_url
from bridge.gateway import LiveCall, Party, PartyState
from bridge.store.ids import encode_id
from bridge.surfaces.voipnow.call_list_query import parse_call_list_query
from bridge.surfaces.voipnow.errors import VOIPNOW_ERROR_SCHEMA
from bridge.surfaces.voipnow.phone_call_schemas import (
    ActedOnOut,
    CallActionIn,
    CallListArgs,
    CallPath,
    HangUpArgs,
    PhoneCallListOut,
)
from bridge.surfaces.voipnow.phone_calls_service import (
    Addressed,
    PhoneCallsService,
    check_action,
    check_call_id,
)

phone_calls_blueprint = APIBlueprint("phone_calls", __name__, url_prefix="/uapi/phoneCalls",
                                     tag="Phone calls")

STATUS = {PartyState.TRYING: 2, PartyState.RINGING: 3, PartyState.OTHER_SIDE_RINGING: 4,
          PartyState.UP: 5}
LOCAL, OUTGOING_PUBLIC, INCOMING_PUBLIC = 2, 4, 8
ANSWERED = 0  # disposition; a live party is answered or not decided yet
ERRORS: Responses = {status: error_body(description, VOIPNOW_ERROR_SCHEMA)
                     for status, description in (
    (400, "pc_phonecall_invalid, pc_phonecallview_invalid, pc_parktimeout_invalid, "
          "list option codes (count_invalid...), ..."),
    (401, "unauthorized"), (403, "forbidden: another user's extension"),
    (404, "extension_not_found, user_not_found"), (409, "pc_parkinglot_full"),
    (503, "engine_unavailable"))}
NONE: Responses = {204: no_body("No call to act on; no body")}
ACTION_ERRORS: Responses = {**ERRORS, **NONE, **body_errors(
    VOIPNOW_ERROR_SCHEMA, f"{NOT_JSON} (unsupported_media_type)")}
ADDRESSING = ("userId: @me, @viewer (the token's user), @owner (the extension's owner) or a "
              "user id; extension: a number or @self (all the user's extensions)")


@contextmanager
def service(user: str, extension: str) -> Iterator[tuple[PhoneCallsService, Addressed]]:
    with tenant_context() as ctx:
        calls = PhoneCallsService(ctx.session, ctx.tenant, ctx.principal, ctx.gateway)
        yield calls, calls.address(user, extension)


# Reading.

@phone_calls_blueprint.get("/<user>/<extension>")
@phone_calls_blueprint.auth_required(bearer)
@phone_calls_blueprint.input(CallListArgs, location="query")
@phone_calls_blueprint.output(PhoneCallListOut)
@phone_calls_blueprint.doc(summary="Live calls of an extension", description=ADDRESSING,
                           responses=ERRORS)
def list_calls(user: str, extension: str, query_data: dict[str, str]) -> dict[str, Any]:
    query = parse_call_list_query(request.args)
    with service(user, extension) as (calls, addressed):
        total, page = query.apply(calls.calls(addressed))
        return {"entry": [render_call(calls, c, user, extension) for c in page],
                "startIndex": query.start_index, "totalResults": total,
                "itemsPerPage": query.count, "filtered": query.filtered, "sorted": True}


@phone_calls_blueprint.get("/<user>/<extension>/<call_id>")
@phone_calls_blueprint.auth_required(bearer)
@phone_calls_blueprint.input(CallPath, location="path", validation=False)
@phone_calls_blueprint.output(PhoneCallListOut)
@phone_calls_blueprint.doc(summary="One live call", description=ADDRESSING,
                           responses=ERRORS)
def show_call(user: str, extension: str, call_id: str, path_data: Any) -> dict[str, Any]:
    check_call_id(call_id)
    with service(user, extension) as (calls, addressed):
        call = calls.call(addressed, call_id)
        return {"entry": [render_call(calls, call, user, extension)], "startIndex": 0,
                "totalResults": 1, "itemsPerPage": 1, "filtered": False, "sorted": False}


# Acting.

@phone_calls_blueprint.put("/<user>/<extension>")
@phone_calls_blueprint.auth_required(bearer)
@phone_calls_blueprint.input(CallActionIn)
@phone_calls_blueprint.output(ActedOnOut(many=True), description="The calls acted on")
@phone_calls_blueprint.doc(summary="Park, take back or pick up all calls of the extension",
                           description=ADDRESSING,
                           responses=ACTION_ERRORS)
def act_on_all(user: str, extension: str, json_data: dict[str, Any]) -> Any:
    return _act(user, extension, None, json_data)


@phone_calls_blueprint.put("/<user>/<extension>/<call_id>")
@phone_calls_blueprint.auth_required(bearer)
@phone_calls_blueprint.input(CallPath, location="path", validation=False)
@phone_calls_blueprint.input(CallActionIn)
@phone_calls_blueprint.output(ActedOnOut(many=True), description="The call acted on")
@phone_calls_blueprint.doc(summary="Park (a party), take back or pick up a call",
                           description=ADDRESSING,
                           responses=ACTION_ERRORS)
def act_on_call(user: str, extension: str, call_id: str, path_data: Any,
                json_data: dict[str, Any]) -> Any:
    check_call_id(call_id)
    return _act(user, extension, call_id, json_data)


def _act(user: str, extension: str, call_id: str | None, body: dict[str, Any]) -> Any:
    action = check_action(body)
    with service(user, extension) as (calls, addressed):
        acted = calls.park(addressed, call_id, body) if action == "Park" else calls.take(
            addressed, call_id, body, action)
        if not acted:
            return Response(status=204)
        live = {c.call_id: c for c in calls.engine.live_calls(calls.tenant.sip_domain)}
        return [render_call(calls, live[i], user, extension) if i in live else {"id": i}
                for i in acted], 200


@phone_calls_blueprint.delete("/<user>/<extension>")
@phone_calls_blueprint.auth_required(bearer)
@phone_calls_blueprint.input(HangUpArgs, location="query")
@phone_calls_blueprint.output(ActedOnOut(many=True), description="The calls hung up "
                              "(their ids)")
@phone_calls_blueprint.doc(summary="Hang up all calls of the extension (or one party)",
                           description=ADDRESSING,
                           responses={**ERRORS, **NONE})
def hang_up_all(user: str, extension: str, query_data: dict[str, str]) -> Any:
    return _hang_up(user, extension, None, query_data.get("phoneNumber"))


@phone_calls_blueprint.delete("/<user>/<extension>/<call_id>")
@phone_calls_blueprint.auth_required(bearer)
@phone_calls_blueprint.input(CallPath, location="path", validation=False)
@phone_calls_blueprint.input(HangUpArgs, location="query")
@phone_calls_blueprint.output(ActedOnOut(many=True), description="The call hung up (its "
                              "id)")
@phone_calls_blueprint.doc(summary="Hang up a call (or one party)", description=ADDRESSING,
                           responses={**ERRORS, **NONE})
def hang_up_call(user: str, extension: str, call_id: str, path_data: Any,
                 query_data: dict[str, str]) -> Any:
    check_call_id(call_id)
    return _hang_up(user, extension, call_id, query_data.get("phoneNumber"))


def _hang_up(user: str, extension: str, call_id: str | None, number: str | None) -> Any:
    with service(user, extension) as (calls, addressed):
        done = calls.hang_up(addressed, call_id, number)
    return [{"id": i} for i in done] if done else Response(status=204)


# Rendering.

def render_call(calls: PhoneCallsService, call: LiveCall, user: str,
                extension: str) -> dict[str, Any]:
    """A call as VoIPNow shows it; it keeps its id, owner, times and views when a party
    is parked and taken back (the engine keeps them on the parked channel)."""
    owner = calls.owner(call.charged) if call.charged else None
    flow = _flow(call)
    link = absolute_url("phone_calls.show_call", user=user, extension=extension,
                        call_id=call.call_id)
    return _without_nulls({
        "id": call.call_id, "extension": call.charged or None,
        "ownerId": encode_id(owner.id) if owner else None,
        "ownerName": owner.name if owner else None,
        "published": rfc3339(call.published),
        "answered": rfc3339(call.answered) if call.answered else None,
        "phoneCallView": [_view(call, party, flow) for party in call.parties],
        "link": link, "links": {"self": link},
    })


def _view(call: LiveCall, party: Party, flow: int) -> dict[str, Any]:
    destination = call.dialled if party.caller else party.number
    parked = party.parked
    return {
        "id": party.view, "extension": None if party.external else party.number,
        "source": [call.source] if call.source else [],
        "destination": [destination] if destination else [],
        "callerId": f"{party.name} <{party.number}>" if party.name
        else f"<{party.number}>", "flow": flow, "status": STATUS[party.state],
        "ringing": _time(party.ringing_at), "answered": _time(party.answered_at),
        "onHold": _time(party.on_hold_at), "holder": party.holder or None,
        "parked": _time(parked.parked_at) if parked else None,
        "parkedPos": int(parked.slot) if parked and parked.slot.isdigit() else None,
        "parkedBy": parked.parker if parked else None,
        "disposition": ANSWERED if party.answered_at is not None else None,
    }


def _flow(call: LiveCall) -> int:
    if call.inbound:
        return INCOMING_PUBLIC
    return OUTGOING_PUBLIC if any(p.external and not p.caller for p in call.parties) else LOCAL


def _time(moment: Any) -> str | None:
    return rfc3339(moment) if moment is not None else None


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
