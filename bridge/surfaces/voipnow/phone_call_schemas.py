"""The OpenAPI form of `/uapi/phoneCalls` (shared/spec/phone_calls.md): its inputs, which
the phone calls service checks (each problem gets its VoIPNow code, so the rules here are
documented from the service's own bounds), and its answers."""

from __future__ import annotations

from typing import Any, ClassVar

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, Raw, String
from marshmallow import INCLUDE

from bridge.api.schemas import NUMBER, InputSchema
from bridge.gateway import UNSAFE_IN_CALLER_NAME
from bridge.surfaces.voipnow.call_list_query import (
    DEFAULT_COUNT,
    FILTER_FIELDS,
    FILTER_OPS,
    MAX_COUNT,
    MAX_START_INDEX,
    SORT_ORDERS,
)
from bridge.surfaces.voipnow.caller_ids import NAME_MAX
from bridge.surfaces.voipnow.phone_calls_service import (
    ACTIONS,
    DEFAULT_PARK_SECONDS,
    DEFAULT_PICKUP_WAIT,
    MAX_PARK_SECONDS,
    MAX_PICKUP_WAIT,
    MIN_PARK_SECONDS,
    MIN_PICKUP_WAIT,
)

CALL_ID = r"^[A-Za-z0-9]+$(?!\n)"  # check_call_id


def _whole(low: int, high: int, description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "description": description}


class CallListArgs(InputSchema):
    class Meta:
        unknown = INCLUDE

    count = String(metadata=_whole(1, MAX_COUNT, f"page size, default {DEFAULT_COUNT}"))
    startIndex = String(metadata=_whole(0, MAX_START_INDEX, "0-based offset, default 0"))
    filterBy = String(metadata={"enum": list(FILTER_FIELDS)})
    filterOp = String(metadata={"enum": list(FILTER_OPS), "description": "default equals; "
                                "greaterThan and lessThan for published only, startsWith "
                                "and contains for id only"})
    filterValue = String(metadata={"description": "required but for present; for "
                                                  "published an ISO 8601 time"})
    sortOrder = String(metadata={"enum": list(SORT_ORDERS),
                                 "description": "by published; default ascending"})


class ServiceChecked(Raw):
    """Any value, null too (documented as `schema` says): the service checks it, so that
    each problem gets its VoIPNow code."""

    def _validate_missing(self, value: Any) -> None:
        if value is not None:
            super()._validate_missing(value)


def _field(schema: dict[str, Any]) -> Raw:
    return ServiceChecked(metadata=schema)


# What parse_caller_id (bridge/surfaces/voipnow/caller_ids.py) takes: a number, or a name of at
# most NAME_MAX safe characters (quoted or not) and <number>.
_NAME = f"[^{UNSAFE_IN_CALLER_NAME.pattern[1:-1]}]{{0,{NAME_MAX}}}"
CALLER_ID_PATTERN = (rf'^(?:\+?[0-9]{{1,32}}|(?: *"{_NAME}" *|{_NAME})<\+?[0-9]{{1,32}}>)$(?!\n)')


class CallActionIn(InputSchema):
    class Meta:
        unknown = INCLUDE

    json_schema: ClassVar[dict[str, Any]] = {"required": ["action"], "oneOf": [
        {"properties": {"action": {"const": "Park"}}},
        {"properties": {"action": {"enum": [a for a in ACTIONS if a != "Park"]}},
         "required": ["sendCallTo"]},
    ]}

    action = _field({"enum": list(ACTIONS)})
    phoneCallViewId = _field({"type": "string", "description": "the party to park, or the "
                              "parked party to take back (Park and UnPark of one call: "
                              "required)"})
    maxInParking = _field(_whole(MIN_PARK_SECONDS, MAX_PARK_SECONDS, "seconds (Park; also "
                                 f"taken as a numeric string), default {DEFAULT_PARK_SECONDS}"))
    sendCallTo = _field({"type": "string", "pattern": NUMBER.regex.pattern,
                         "description": "extension to ring (UnPark, PickUp)"})
    waitForPickup = _field(_whole(MIN_PICKUP_WAIT, MAX_PICKUP_WAIT, "seconds (also taken "
                                  f"as a numeric string), default {DEFAULT_PICKUP_WAIT}"))
    callerId = _field({"type": "string", "pattern": CALLER_ID_PATTERN,
                       "description": "shown to sendCallTo: a number, or Name <number> "
                                      "(the name under the rules of an extension's "
                                      "display_name); else pc_callerid_invalid"})


class HangUpArgs(InputSchema):
    class Meta:
        unknown = INCLUDE

    phoneNumber = String(metadata={"description": "hang up only this party"})


class CallPath(Schema):
    """The path of one call's routes, documented (the service checks it)."""

    user = String(required=True)
    extension = String(required=True)
    call_id = String(required=True, metadata={"pattern": CALL_ID})


class LinksOut(Schema):
    self = String(required=True)


class PhoneCallViewOut(Schema):
    id = String(required=True, metadata={"description": "\"00\" the caller, \"01\"..."})
    extension = String()
    source = List(String())
    destination = List(String())
    callerId = String(metadata={"description": "Name <number>"})
    flow = Integer(metadata={"enum": [2, 4, 8], "description": "2 local, 4 outgoing "
                                                               "public, 8 incoming public"})
    status = Integer(metadata={"enum": [2, 3, 4, 5], "description": "2 trying, 3 ringing, "
                                                                    "4 other side ringing, "
                                                                    "5 on call"})
    ringing = String()
    answered = String()
    onHold = String(metadata={"description": "when the party was put on hold"})
    holder = String(metadata={"description": "the number of the party that holds it"})
    parked = String()
    parkedPos = Integer(metadata={"description": "the parking slot"})
    parkedBy = String()
    disposition = Integer(metadata={"enum": [0], "description": "0 answered (a live party "
                                                                "not answered yet has none)"})


class PhoneCallOut(Schema):
    """A call; in the answer of a hang up its id alone, as in that of an action on a
    call that ended meanwhile."""

    id = String(required=True)
    extension = String()
    ownerId = String()
    ownerName = String()
    published = String(metadata={"description": "RFC 3339"})
    answered = String()
    phoneCallView = List(Nested(PhoneCallViewOut))
    link = String()
    links = Nested(LinksOut)


class ActedOnOut(PhoneCallOut):
    """PhoneCallOut in the answer of an action: a class of its own, else apispec would
    add PhoneCallOut twice."""


class PhoneCallListOut(Schema):
    entry = List(Nested(PhoneCallOut), required=True)
    startIndex = Integer(required=True)
    totalResults = Integer(required=True)
    itemsPerPage = Integer(required=True)
    filtered = Boolean(required=True)
    sorted = Boolean(required=True)
