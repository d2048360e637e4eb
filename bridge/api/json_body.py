"""Request bodies are JSON on every surface (`/api/`, `/restapi/`, `/uapi/`): one sent
as anything else is refused with 415, in the surface's error body (bridge/api/errors.py:
`UNSUPPORTED_MEDIA_TYPE`, `CMN-415`, `unsupported_media_type`).

webargs, which loads every `input(..., location="json")` body, takes a body whose
`Content-Type` is not JSON (none, `text/plain`, a form) as no body at all: an update
answered 200 having changed nothing. Its JSON loader is replaced here, for every route
at once. Only routes that read a JSON body use it, after their token is checked: the
OAuth endpoints' form bodies, destroy routes and other routes without a body are not
affected, and an empty body is still no body.
"""

from __future__ import annotations

from typing import Any

from apiflask import abort
from apiflask.schema_adapters.marshmallow import parser
from flask import Request

PREFIXES = ("/api/", "/restapi/", "/uapi/")
MESSAGE = "the request body must be JSON, sent with Content-Type: application/json"


def load_json_body(request: Request, schema: Any) -> Any:
    if request.path.startswith(PREFIXES) and not request.is_json and request.get_data(
            cache=True):
        abort(415, MESSAGE)
    return parser.load_json(request, schema)


def register() -> None:
    parser.location_loader("json")(load_json_body)
