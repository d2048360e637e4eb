"""Base of every request schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from apiflask import Schema
from apiflask.fields import Boolean, Integer, String
from apiflask.validators import Range, Regexp
from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import EXCLUDE, ValidationError, fields, pre_load

from bridge.api.listing import MAX_INT, MAX_TOP

# Patterns written to mean the same to Python's re.match and to ECMA-262 (the OpenAPI
# document's regex dialect, which has no \A or \Z): Python's "$" also matches before a
# trailing newline ("1001\n" would pass), the lookahead refuses that; in ECMA it is a
# no-op.
NUMBER = Regexp(r"^[0-9]{3,64}$(?!\n)", error="must be 3 to 64 digits")  # an extension's
# Our ids (bridge/store/ids.py): base64 of the decimal digits.
ID_PATTERN = r"^[A-Za-z0-9+/]+={0,2}$(?!\n)"

# A URL ringbridge sends requests to (bridge/http_urls.py): http or https, a host (a
# name, an IPv4 address or an [IPv6] address), an optional port and path; no
# credentials, query, fragment, spaces or control characters. The same to Python's
# re.match and to ECMA-262.
HTTP_URL_PATTERN = (r"^https?://(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])"
                    r"(?::[0-9]{1,5})?(?:/[^\x00-\x20\x7f-\x9f?#]*)?$(?!\n)")
# whsec_ + base64 of 24..64 bytes (bridge/dispatch/signing.py), or "generate".
_B64 = "[A-Za-z0-9+/]"
SECRET_PATTERN = (f"^(?:generate|whsec_(?:(?:{_B64}{{4}}){{8,20}}(?:{_B64}{{4}}|{_B64}{{3}}=|"
                  f"{_B64}{{2}}==)?|(?:{_B64}{{4}}){{21}}{_B64}{{2}}==))$(?!\\n)")


class InputSchema(Schema):
    """Refuses text no database can store anywhere in the input: NUL (PostgreSQL rejects
    it) and unpaired UTF-16 surrogates (not encodable as UTF-8). No phone, name or
    number contains either.

    `json_schema`: JSON Schema keywords added to the schema's OpenAPI definition, for
    rules across fields that its validation (`validates_schema`) applies."""

    json_schema: ClassVar[dict[str, Any]] = {}

    @pre_load
    def _storable_text(self, data: Any, **_kwargs: Any) -> Any:
        problems = dict(_unstorable(data, ""))
        if problems:
            raise ValidationError(problems)
        return data


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The same rule as an OpenAPI (ECMA-262) pattern, for text fields with no pattern of
# their own: JSON carries no unpaired surrogate a client could mean, so NUL is the one
# character a generated value could hold.
STORABLE_TEXT = "^[^\\u0000]*$"


def document_storable_text(self: Any, field: fields.Field, ret: dict[str, Any],
                           **_kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: an input text field without a pattern is documented
    with STORABLE_TEXT, as InputSchema refuses NUL in it. (Parameters' fields come
    unbound, from their schema's class: those are inputs too.)"""
    if not isinstance(field, fields.String) or "pattern" in ret or "enum" in ret:
        return {}
    owner: Any = field
    while owner is not None and not isinstance(owner, Schema):
        owner = owner.parent
    output = owner is not None and not isinstance(owner, InputSchema)
    return {} if output else {"pattern": STORABLE_TEXT}


def document_key_pattern(self: Any, field: fields.Field, ret: dict[str, Any],
                         **_kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: a Dict's key pattern (apispec documents its values
    only)."""
    keys = field.key_field if isinstance(field, fields.Dict) else None
    patterns = [v.regex.pattern for v in getattr(keys, "validators", [])
                if isinstance(v, Regexp)]
    return {"propertyNames": {"pattern": patterns[0]}} if patterns else {}


class DocumentationPlugin(BasePlugin):
    """Adds the attribute functions above to the marshmallow plugin of the app's spec
    (apiflask makes a MarshmallowPlugin per document; this one is initialised after),
    the `json_schema` of input schemas, and `required` to request bodies that cannot be
    left out (their schema requires a field: webargs reads no body as `{}`)."""

    def init_spec(self, spec: APISpec) -> None:
        self.spec = spec
        marshmallow = next(p for p in spec.plugins if isinstance(p, MarshmallowPlugin))
        assert marshmallow.converter is not None
        marshmallow.converter.add_attribute_function(document_storable_text)
        marshmallow.converter.add_attribute_function(document_key_pattern)

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            body = operation.get("requestBody")
            if body and any(self._requires(media["schema"])
                            for media in body["content"].values()):
                body["required"] = True

    def _requires(self, schema: dict[str, Any]) -> bool:
        if "$ref" in schema:
            schema = self.spec.components.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return bool(schema.get("required"))

    def schema_helper(self, name: str, definition: dict[str, Any],
                      **kwargs: Any) -> dict[str, Any] | None:
        return dict(getattr(kwargs.get("schema"), "json_schema", None) or {})


def _unstorable(value: Any, path: str) -> list[tuple[str, list[str]]]:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            return [(path or "_schema",
                     ["must not contain NUL or unpaired surrogate characters"])]
        return []
    if isinstance(value, Mapping):  # a dict, or webargs' view of the query string
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


# Every route that reads a JSON body documents it (bridge/api/json_body.py).
NOT_JSON = "The body is not sent as JSON (Content-Type: application/json)"
MAX_BODY = 1024 * 1024  # bytes; a larger body is answered 413 (Flask's MAX_CONTENT_LENGTH)
TOO_LARGE = f"The body is larger than {MAX_BODY // 1024} KiB"


def no_body(description: str) -> ResponseDoc:
    """A success with nothing in it."""
    return {"description": description, "content": {}}


def error_body(description: str, schema: dict[str, Any]) -> ResponseDoc:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_bodies(schema: dict[str, Any], descriptions: dict[int, str]) -> Responses:
    """{status: description} as complete error answers with the `schema` body."""
    return {status: error_body(text, schema) for status, text in descriptions.items()}


def body_errors(schema: dict[str, Any], not_json: str = NOT_JSON,
                json: bool = True) -> Responses:
    """The answers of a route that reads a body: 413 when it is too large, and (a JSON
    body) 415 when it is not sent as JSON; in the surface's error `schema`."""
    errors: Responses = {413: error_body(TOO_LARGE, schema)}
    return {**errors, 415: error_body(not_json, schema)} if json else errors


class WholeJsonNumber(Integer):
    """A JSON integer: 20, or 20.0 (an integer to JSON Schema too); not "20", true or
    20.5, which marshmallow's Integer would take or round."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid", input=value)
        return int(value)


class WholeNumber(Integer):
    """An integer in ASCII digits with an optional minus: not "+5", " 5", "1.0", "1_000"
    or Arabic-Indic digits, which int() would take."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not re.fullmatch("-?[0-9]+", value):
            raise ValidationError(f"must be a whole number, not '{str(value)[:40]}'")
        if len(value.lstrip("-0")) > 19:  # beyond any 64-bit bound (and int()'s limit)
            return -(10**19) if value.startswith("-") else 10**19
        return int(value)


class ListArgsIn(InputSchema):
    """The PortSIP list options, each also spelled `$filter`, `$search`, `$orderby`,
    `$skip`, `$top`; `bridge/api/listing.py` parses filter, search and orderby. Other
    query arguments are ignored."""

    class Meta:
        unknown = EXCLUDE

    filter = String(metadata={"description": "OData-like: eq ne gt ge lt le, and, or, not, "
                                             "parentheses, startswith/endswith/contains"})
    search = String(metadata={"description": "free text over the human fields"})
    orderby = String(metadata={"description": "field [asc|desc], field2 [asc|desc]"})
    skip = WholeNumber(load_default=0, validate=Range(
        0, MAX_INT, error="must be at least {min}, not {input}"),
        metadata={"description": "0-based offset"})
    top = WholeNumber(load_default=MAX_TOP, validate=Range(
        1, MAX_TOP, error="must be between {min} and {max}, not {input}"),
        metadata={"description": "page size"})

    @pre_load
    def _plain_names(self, data: Mapping[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """`$name` read as `name`; both given must agree; an unknown `$name` is refused."""
        options = {key: data[key] for key in data if not key.startswith("$")}
        problems: dict[str, list[str]] = {}
        for key in (key for key in data if key.startswith("$")):
            name = key[1:]
            if name not in self.fields:
                problems[key[:40]] = ["unknown query option; supported: " + ", ".join(
                    f"${option}" for option in self.fields)]
            elif name in options and options[name] != data[key]:
                problems[key] = [f"'{name}' was given too, with a different value; give "
                                 "only one"]
            else:
                options[name] = data[key]
        if problems:
            raise ValidationError(problems)
        return options
