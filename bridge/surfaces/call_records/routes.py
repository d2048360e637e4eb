"""`/api/call_records/{call_id}`: one call's path, and the dispatch events sent about it.

The dispatch `cleared` event's `callUrl` points here, and its `recordingUrl` to
`/recording` (docs/recordings.md). Another tenant's call is not found.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, APIFlask, Schema
from apiflask.fields import Dict, Float, Integer, List, Nested, String
from flask import Response, current_app, stream_with_context

from bridge.api.auth import bearer
from bridge.api.context import tenant_context
from bridge.api.formats import rfc3339
from bridge.api.schemas import Responses, error_body
from bridge.config import Settings
from bridge.services.call_records import tenant_call_record
from bridge.services.dispatch import call_deliveries
from bridge.services.recordings import open_recording, recording_name, recording_path
from bridge.store.ids import encode_id
from bridge.store.models import CallRecord, CallStep, DispatchDelivery
from bridge.stored_recordings import StoredRecordings
from bridge.surfaces.portsip.errors import PORTSIP_ERROR_SCHEMA

call_records_blueprint = APIBlueprint("call_records", __name__,
                                      url_prefix="/api/call_records", tag="Call records")


def configure(app: APIFlask, settings: Settings) -> None:
    """Recordings are read from Asterisk's ARI; links to them start with the API's URL."""
    app.config["RECORDINGS"] = StoredRecordings(settings.ari_url, settings.ari_user,
                                                settings.ari_password)
    app.config["API_URL"] = settings.api_url


class StepOut(Schema):
    at = String()
    kind = String()
    target = String()
    detail = String()


class CallRecordOut(Schema):
    call_id = String()
    caller = String()
    dialled = String()
    ring_group_id = String(allow_none=True)
    received_at = String()
    answered_at = String(allow_none=True)
    answered_by = String(allow_none=True, metadata={
        "description": "the member that answered; for a RingOut, its callee (leg 2)"})
    ended_at = String(allow_none=True)
    end_reason = String(allow_none=True)
    end_cause = Integer(allow_none=True)
    dispatch_snapshot = Dict(allow_none=True, metadata={
        "description": "what the dispatcher's invite answered"})
    recording_url = String(allow_none=True, metadata={
        "description": "the call's recording or voicemail (WAV), until the tenant's "
                       "retention deletes it"})
    steps = List(Nested(StepOut))


class DeliveryOut(Schema):
    webhook_id = String()
    event = String()
    method = String()
    url = String()
    body = String(allow_none=True)
    state = String(metadata={"description": "pending (being retried), delivered, failed"})
    attempts = Integer()
    http_status = Integer(allow_none=True)
    latency_ms = Float(allow_none=True)
    answer = String(allow_none=True)
    location = String(allow_none=True)
    error = String(allow_none=True)
    created_at = String()
    next_attempt_at = String(allow_none=True)


class DeliveriesOut(Schema):
    count = Integer()
    items = List(Nested(DeliveryOut))


RECORDING_RESPONSES: Responses = {
    200: {"description": "The recording", "content": {
        "audio/wav": {"schema": {"type": "string", "format": "binary"}}}},
    404: error_body("No such call, or it has no recording (none made, or deleted)",
                    PORTSIP_ERROR_SCHEMA),
    409: error_body("The call goes on: its recording is still being made (Retry-After)",
                    PORTSIP_ERROR_SCHEMA),
    503: error_body("Asterisk, which stores the recording, cannot be reached",
                    PORTSIP_ERROR_SCHEMA),
}


def _when(moment: Any) -> str | None:
    return None if moment is None else rfc3339(moment)


def _record(record: CallRecord) -> dict[str, Any]:
    return {
        "call_id": record.call_id, "caller": record.caller, "dialled": record.dialled,
        "ring_group_id": None if record.ring_group_id is None else encode_id(
            record.ring_group_id),
        "received_at": rfc3339(record.received_at), "answered_at": _when(record.answered_at),
        "answered_by": record.answered_by, "ended_at": _when(record.ended_at),
        "end_reason": record.end_reason, "end_cause": record.end_cause,
        "dispatch_snapshot": record.dispatch_snapshot,
        "recording_url": None if record.recording is None
        else current_app.config["API_URL"] + recording_path(record.call_id),
        "steps": [_step(step) for step in record.steps],
    }


def _step(step: CallStep) -> dict[str, Any]:
    return {"at": rfc3339(step.at), "kind": step.kind, "target": step.target,
            "detail": step.detail}


def _delivery(row: DispatchDelivery) -> dict[str, Any]:
    fields = ("webhook_id", "event", "method", "url", "body", "state", "attempts",
              "http_status", "latency_ms", "answer", "location", "error")
    return {name: getattr(row, name) for name in fields} | {
        "created_at": rfc3339(row.created_at), "next_attempt_at": _when(row.next_attempt_at)}


@call_records_blueprint.get("/<call_id>")
@call_records_blueprint.auth_required(bearer)
@call_records_blueprint.output(CallRecordOut)
@call_records_blueprint.doc(summary="Show a call's path", responses={404: "No such call"})
def show_call_record(call_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        return _record(tenant_call_record(ctx.session, ctx.tenant.id, call_id))


@call_records_blueprint.get("/<call_id>/dispatch_deliveries")
@call_records_blueprint.auth_required(bearer)
@call_records_blueprint.output(DeliveriesOut)
@call_records_blueprint.doc(summary="The dispatch events sent about a call, oldest first",
                            responses={404: "No such call"})
def list_call_deliveries(call_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        rows = call_deliveries(ctx.session, ctx.tenant.id, call_id)
        return {"count": len(rows), "items": [_delivery(row) for row in rows]}


@call_records_blueprint.get("/<call_id>/recording")
@call_records_blueprint.auth_required(bearer)
@call_records_blueprint.doc(summary="The call's recording or voicemail, as WAV",
                            responses=RECORDING_RESPONSES)
def get_recording(call_id: str) -> Response:
    with tenant_context() as ctx:
        name = recording_name(ctx.session, ctx.tenant.id, call_id)
    found = open_recording(current_app.config["RECORDINGS"], call_id, name)
    response = Response(stream_with_context(found.chunks), mimetype="audio/wav")
    if found.size is not None:
        response.content_length = found.size
    return response
