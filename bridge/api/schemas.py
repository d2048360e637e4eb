"""Base of every request schema."""

from __future__ import annotations

import re
from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, String
from marshmallow import INCLUDE, ValidationError, pre_load


class InputSchema(Schema):
    """Refuses text no database can store anywhere in the input: NUL (PostgreSQL rejects
    it) and unpaired UTF-16 surrogates (not encodable as UTF-8). No phone, name or
    number contains either."""

    @pre_load
    def _storable_text(self, data: Any, **_kwargs: Any) -> Any:
        problems = dict(_unstorable(data, ""))
        if problems:
            raise ValidationError(problems)
        return data


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any, path: str) -> list[tuple[str, list[str]]]:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            return [(path or "_schema",
                     ["must not contain NUL or unpaired surrogate characters"])]
        return []
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in _unstorable(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value)
                for found in _unstorable(item, f"{path}.{index}" if path else str(index))]
    return []


class Flag(Boolean):
    """A JSON boolean only: marshmallow's Boolean also takes "yes", "on", "1", 1, 0..."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


# `doc(responses=...)` with complete response objects. (Given as plain descriptions,
# apiflask documents a success as a JSON body and an error as the app-wide error body.)
ResponseDoc = dict[str, str | dict[str, dict[str, Any]]]
Responses = dict[int | str, ResponseDoc]


def no_body(description: str) -> ResponseDoc:
    """A success with nothing in it."""
    return {"description": description, "content": {}}


def error_body(description: str, schema: dict[str, Any]) -> ResponseDoc:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class ListArgsIn(InputSchema):
    """The PortSIP list options, for the OpenAPI document; `bridge/api/listing.py` parses
    and checks them (each also as `$filter`, `$search`, `$orderby`, `$skip`, `$top`)."""

    class Meta:
        unknown = INCLUDE

    filter = String(metadata={"description": "OData-like: eq ne gt ge lt le, and, or, not, "
                                             "parentheses, startswith/endswith/contains"})
    search = String(metadata={"description": "free text over the human fields"})
    orderby = String(metadata={"description": "field [asc|desc], field2 [asc|desc]"})
    skip = String(metadata={"description": "0-based offset, default 0"})
    top = String(metadata={"description": "page size 1..100, default 100"})


PORTSIP_ERROR_SCHEMA = {
    "type": "object",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "example": "VALIDATE_FAILED"},
                       "message": {"type": "string"}, "detail": {}},
    }}},
}


RINGCENTRAL_ERROR_SCHEMA = {
    "type": "object",
    "required": ["errorCode", "message", "errors"],
    "properties": {
        "errorCode": {"type": "string", "example": "CMN-101"},
        "message": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["errorCode", "message"],
            "properties": {"errorCode": {"type": "string"}, "message": {"type": "string"},
                           "parameterName": {"type": "string"}},
        }},
        "error": {"type": "string", "description": "OAuth endpoints: RFC 6749 error"},
        "error_description": {"type": "string"},
    },
}

VOIPNOW_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "example": "pc_phonecall_invalid"},
                       "message": {"type": "string"}},
    }},
}
