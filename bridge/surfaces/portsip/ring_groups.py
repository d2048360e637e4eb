"""`/api/ring_groups` in the PortSIP style (docs: /work/shared/spec/ring_groups.md).

Our additions to the vendor's fields: `queue_id`, `queue_type` (for the dispatch events),
`did_numbers` (carrier DIDs routed to the group), `max_wait_time` (the waiting line) and
`record_calls` (answered calls recorded; docs/recordings.md).
An unknown or another tenant's id answers 404 NOT_FOUND, on destroy too (the vendor
answers 400 there).
"""

from __future__ import annotations

from typing import Any, ClassVar

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from marshmallow import post_load

from bridge.api.auth import bearer
from bridge.api.context import tenant_context, tenant_list
from bridge.api.formats import rfc3339
from bridge.api.listing import ListField
from bridge.api.schemas import (
    Flag,
    InputSchema,
    ListArgsIn,
    Responses,
    WholeJsonNumber,
    error_body,
    no_body,
)
from bridge.phone_numbers import FORMATTED_MAX_LENGTH, FORMATTED_PATTERN
from bridge.services.ring_groups import (
    NO_ANSWER_ACTIONS,
    QUEUE_TYPES,
    STRATEGIES,
    RingGroupsService,
)
from bridge.store.ids import decode_id, encode_id
from bridge.store.models import RingGroup, RingGroupMember
from bridge.surfaces.portsip.errors import JSON_BODY_ERRORS, PORTSIP_ERROR_SCHEMA
from bridge.surfaces.portsip.extensions import (
    NAME_UNSAFE,
    NUMBER,
    IdOut,
    PauseOut,
    pause_state,
    phone_number,
    safe_caller_name,
)

ring_groups_blueprint = APIBlueprint("ring_groups", __name__, url_prefix="/api/ring_groups",
                                     tag="Ring groups")

MAX_RING_TIME = 3600
MAX_WAIT_TIME = 3600
MAX_MEMBERS = 100
FORWARD = "FORWARD_TO_NUMBER"
NOT_FOUND = {404: "No such ring group in the caller's tenant (NOT_FOUND)"}
NO_BODY: Responses = {200: no_body("Done; no body"),
                      404: error_body(NOT_FOUND[404], PORTSIP_ERROR_SCHEMA)}


def whole(**kwargs: Any) -> Integer:
    return WholeJsonNumber(**kwargs)


class ReadOnlyDropped(InputSchema):
    """Takes the read-only fields of the output form too, so what a GET answered can be
    posted back; they are dropped, never applied."""

    read_only: ClassVar[tuple[str, ...]] = ()

    @post_load
    def _drop_read_only(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {name: value for name, value in data.items() if name not in self.read_only}


class NoAnswerRuleIn(InputSchema):
    json_schema: ClassVar[dict[str, Any]] = {"oneOf": [
        {"properties": {"action": {"const": FORWARD}, "number": {"type": "string"}},
         "required": ["number"]},
        {"properties": {"action": {"enum": [a for a in NO_ANSWER_ACTIONS if a != FORWARD]},
                        "number": {"type": "null"}}},
    ]}

    action = String(required=True, validate=OneOf(NO_ANSWER_ACTIONS))
    number = String(allow_none=True, validate=Length(1, 64), metadata={
        "pattern": FORMATTED_PATTERN, "maxLength": FORMATTED_MAX_LENGTH,
        "description": "FORWARD_TO_NUMBER only (and required there): an extension number "
                       "of the tenant, or a phone number with or without + (national "
                       "numbers are read in the tenant's region; stored E.164)"})


class OutboundCallerIdIn(InputSchema):
    provider_id = String(required=True, validate=Length(1, 64),
                         metadata={"description": "the trunk provider"})
    caller_id = phone_number(required=True)
    description = String(allow_none=True, validate=Length(max=255))


class RingGroupUpdateIn(ReadOnlyDropped):
    read_only = ("id", "created_at", "updated_at")

    id = String(metadata={"description": "read-only: ignored"})
    created_at = String(metadata={"description": "read-only: ignored"})
    updated_at = String(metadata={"description": "read-only: ignored"})
    name = String(validate=[Length(1, 64), safe_caller_name], metadata={
        "description": f"1 to 64 characters, no {NAME_UNSAFE} (it is the SIP display name "
                       "of P-Asserted-Identity and Remote-Party-ID)"})
    ring_time = whole(validate=Range(0, MAX_RING_TIME),
                      metadata={"description": "seconds each member rings per attempt; "
                                               "20 when a group is created without it; 0: "
                                               "no member is rung, the no-answer rule "
                                               "applies at once"})
    ring_strategy = String(validate=OneOf(STRATEGIES))
    skip_busy_member = Flag(metadata={"description": "do not ring members already on a "
                                                     "call, nor the calling member"})
    enable_paid = Flag(metadata={"description": "group identity in P-Asserted-Identity"})
    enable_prid = Flag(metadata={"description": "group identity in Remote-Party-ID"})
    extension_number_as_to_header = Flag(metadata={
        "description": "stored for PortSIP clients; members' INVITEs keep their own "
                       "Request-URI and To (see docs/ring-groups.md)"})
    no_answer_forward_rule = Nested(NoAnswerRuleIn, allow_none=True)
    outbound_caller_ids = List(Nested(OutboundCallerIdIn), validate=Length(max=20))
    queue_id = String(allow_none=True, validate=Length(1, 254),
                      metadata={"description": "our addition, for the dispatch events"})
    queue_type = String(allow_none=True, validate=OneOf(QUEUE_TYPES),
                        metadata={"description": "our addition, for the dispatch events"})
    did_numbers = List(phone_number(), validate=Length(max=20), metadata={
        "description": "our addition: carrier DIDs whose calls go to this group (stored "
                       "E.164); a DID can go to one ring group only"})
    max_wait_time = whole(validate=Range(0, MAX_WAIT_TIME), metadata={
        "description": "our addition: seconds a call may wait, ringing, for a member to "
                       "come free when none is (callers wait in order of dispatch "
                       "priority, then arrival); 0 (the default): the no-answer rule "
                       "applies at once"})
    record_calls = Flag(metadata={"description": "our addition: record answered calls (a "
                                                 "WAV per call, fetched through the call "
                                                 "record; default false)"})
    extension_number = String(metadata={"description": "set at create only: accepted when "
                                                       "it is the group's number"})


class RingGroupCreateIn(RingGroupUpdateIn):
    name = String(required=True, validate=[Length(1, 64), safe_caller_name])
    extension_number = String(required=True, validate=NUMBER, metadata={
        "description": "must not be an extension's or another ring group's number"})
    ring_strategy = String(required=True, validate=OneOf(STRATEGIES))


class NoAnswerRuleOut(Schema):
    action = String()
    number = String(allow_none=True)


class OutboundCallerIdOut(Schema):
    provider_id = String()
    caller_id = String()
    description = String(allow_none=True)


class RingGroupSummaryOut(Schema):
    id = String()
    name = String()
    extension_number = String()
    ring_time = Integer()
    ring_strategy = String()
    skip_busy_member = Boolean()
    enable_paid = Boolean()
    enable_prid = Boolean()
    extension_number_as_to_header = Boolean()
    no_answer_forward_rule = Nested(NoAnswerRuleOut, allow_none=True)
    queue_id = String(allow_none=True)
    queue_type = String(allow_none=True)
    did_numbers = List(String())
    max_wait_time = Integer()
    record_calls = Boolean()
    created_at = String(metadata={"description": "RFC 3339, UTC"})
    updated_at = String(metadata={"description": "RFC 3339, UTC"})


class RingGroupOut(RingGroupSummaryOut):
    outbound_caller_ids = List(Nested(OutboundCallerIdOut))


class RingGroupListOut(Schema):
    count = Integer()
    items = List(Nested(RingGroupSummaryOut))


class AgentIn(ReadOnlyDropped):
    read_only = ("display_name", "paused", "pause_reason", "paused_at")

    extension_number = String(required=True, validate=NUMBER)
    display_name = String(allow_none=True, metadata={"description": "read-only: ignored"})
    paused = Flag(metadata={"description": "read-only: ignored (POST /api/extensions/{id}/"
                                           "pause and /resume)"})
    pause_reason = String(allow_none=True, metadata={"description": "read-only: ignored"})
    paused_at = String(allow_none=True, metadata={"description": "read-only: ignored"})
    skill_level = whole(validate=Range(1, 100), load_default=1)


class AgentsIn(InputSchema):
    items = List(Nested(AgentIn), required=True, validate=Length(max=MAX_MEMBERS),
                 metadata={"description": "the members, in hunt order"})


class AgentOut(PauseOut):
    """A member; whether it is paused is its extension's (in all of its groups)."""

    extension_number = String()
    display_name = String(allow_none=True, metadata={"description": "the extension's"})
    skill_level = Integer()


class AgentItemOut(AgentOut):
    """AgentOut in a list: a class of its own, else apispec would add AgentOut twice."""


class AgentsOut(Schema):
    items = List(Nested(AgentItemOut))


LIST_FIELDS = {
    "name": ListField(RingGroup.name, "string", searchable=True),
    "extension_number": ListField(RingGroup.extension_number, "string", searchable=True),
    "ring_strategy": ListField(RingGroup.ring_strategy, "string"),
    "ring_time": ListField(RingGroup.ring_time, "int"),
    "skip_busy_member": ListField(RingGroup.skip_busy_member, "bool"),
    "enable_paid": ListField(RingGroup.enable_paid, "bool"),
    "enable_prid": ListField(RingGroup.enable_prid, "bool"),
    "extension_number_as_to_header": ListField(RingGroup.extension_number_as_to_header,
                                               "bool"),
    "queue_id": ListField(RingGroup.queue_id, "string"),
    "queue_type": ListField(RingGroup.queue_type, "string"),
    "max_wait_time": ListField(RingGroup.max_wait_time, "int"),
    "record_calls": ListField(RingGroup.record_calls, "bool"),
}


def summary(group: RingGroup) -> dict[str, Any]:
    rule = None if group.no_answer_action is None else {
        "action": group.no_answer_action, "number": group.no_answer_number}
    return {
        "id": encode_id(group.id), "name": group.name,
        "extension_number": group.extension_number, "ring_time": group.ring_time,
        "ring_strategy": group.ring_strategy, "skip_busy_member": group.skip_busy_member,
        "enable_paid": group.enable_paid, "enable_prid": group.enable_prid,
        "extension_number_as_to_header": group.extension_number_as_to_header,
        "no_answer_forward_rule": rule, "queue_id": group.queue_id,
        "queue_type": group.queue_type, "did_numbers": list(group.did_numbers),
        "max_wait_time": group.max_wait_time, "record_calls": group.record_calls,
        "created_at": rfc3339(group.created_at), "updated_at": rfc3339(group.updated_at),
    }


def full(group: RingGroup) -> dict[str, Any]:
    return {**summary(group),
            "outbound_caller_ids": [dict(entry) for entry in group.outbound_caller_ids]}


def agent(member: RingGroupMember) -> dict[str, Any]:
    return {**pause_state(member.extension),
            "extension_number": member.extension.extension_number,
            "display_name": member.extension.display_name, "skill_level": member.skill_level}


@ring_groups_blueprint.get("")
@ring_groups_blueprint.auth_required(bearer)
@ring_groups_blueprint.input(ListArgsIn, location="query")
@ring_groups_blueprint.output(RingGroupListOut)
@ring_groups_blueprint.doc(summary="List ring groups (filter, search, orderby, skip, top)",
                           description="Summary form: without outbound_caller_ids. Fields "
                                       "for filter/orderby: " + ", ".join(LIST_FIELDS)
                                       + "; search looks in name and extension_number.")
def list_ring_groups(query_data: dict[str, Any]) -> dict[str, Any]:
    with tenant_context() as ctx:
        return tenant_list(ctx, RingGroup, LIST_FIELDS, summary, query_data)


@ring_groups_blueprint.post("")
@ring_groups_blueprint.auth_required(bearer)
@ring_groups_blueprint.input(RingGroupCreateIn)
@ring_groups_blueprint.output(IdOut)
@ring_groups_blueprint.doc(summary="Create a ring group (members: POST .../agents)",
                           description="Fields left out: ring_time 20, the booleans false, "
                                       "the lists empty, the rest null.",
                           responses=JSON_BODY_ERRORS)
def create_ring_group(json_data: dict[str, Any]) -> dict[str, str]:
    with tenant_context() as ctx:
        group = RingGroupsService(ctx.session, ctx.tenant).create(json_data, ctx.parking)
        return {"id": encode_id(group.id)}


@ring_groups_blueprint.get("/<ring_group_id>")
@ring_groups_blueprint.auth_required(bearer)
@ring_groups_blueprint.output(RingGroupOut)
@ring_groups_blueprint.doc(summary="Show a ring group", responses=NOT_FOUND)
def show_ring_group(ring_group_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        return full(RingGroupsService(ctx.session, ctx.tenant).get(decode_id(ring_group_id)))


@ring_groups_blueprint.post("/<ring_group_id>")
@ring_groups_blueprint.auth_required(bearer)
@ring_groups_blueprint.input(RingGroupUpdateIn)
@ring_groups_blueprint.doc(summary="Update a ring group (fields given are changed; null "
                                   "clears a nullable field)",
                           responses={**NO_BODY, **JSON_BODY_ERRORS})
def update_ring_group(ring_group_id: str, json_data: dict[str, Any]) -> tuple[str, int]:
    with tenant_context() as ctx:
        service = RingGroupsService(ctx.session, ctx.tenant)
        service.update(service.get(decode_id(ring_group_id)), json_data)
    return "", 200


@ring_groups_blueprint.post("/<ring_group_id>/destroy")
@ring_groups_blueprint.auth_required(bearer)
@ring_groups_blueprint.doc(summary="Delete a ring group",
                           responses={204: "Deleted; no body", **NOT_FOUND})
def destroy_ring_group(ring_group_id: str) -> tuple[str, int]:
    with tenant_context() as ctx:
        service = RingGroupsService(ctx.session, ctx.tenant)
        service.delete(service.get(decode_id(ring_group_id)))
    return "", 204


@ring_groups_blueprint.get("/<ring_group_id>/agents")
@ring_groups_blueprint.auth_required(bearer)
@ring_groups_blueprint.output(AgentsOut)
@ring_groups_blueprint.doc(summary="List the members in hunt order", responses=NOT_FOUND)
def list_agents(ring_group_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        group = RingGroupsService(ctx.session, ctx.tenant).get(decode_id(ring_group_id))
        return {"items": [agent(member) for member in group.members]}


@ring_groups_blueprint.post("/<ring_group_id>/agents")
@ring_groups_blueprint.auth_required(bearer)
@ring_groups_blueprint.input(AgentsIn)
@ring_groups_blueprint.doc(summary="Replace the members; their order is the hunt order",
                           description="Body `{\"items\": [{\"extension_number\", "
                                       "\"skill_level\"}]}` as the vendor's; each an "
                                       "extension of the tenant, once.",
                           responses={**NO_BODY, **JSON_BODY_ERRORS})
def replace_agents(ring_group_id: str, json_data: dict[str, Any]) -> tuple[str, int]:
    with tenant_context() as ctx:
        service = RingGroupsService(ctx.session, ctx.tenant)
        service.replace_members(service.get(decode_id(ring_group_id)), json_data["items"])
    return "", 200


@ring_groups_blueprint.get("/<ring_group_id>/agents/<agent_number>")
@ring_groups_blueprint.auth_required(bearer)
@ring_groups_blueprint.output(AgentOut)
@ring_groups_blueprint.doc(summary="Show a member", responses={
    404: "No such ring group in the caller's tenant, or the extension is not a member"})
def show_agent(ring_group_id: str, agent_number: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        service = RingGroupsService(ctx.session, ctx.tenant)
        return agent(service.member(service.get(decode_id(ring_group_id)), agent_number))
