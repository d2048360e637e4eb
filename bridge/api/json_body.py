"""Request bodies are JSON on every surface (`/api/`, `/restapi/`, `/uapi/`): one sent
as anything else is refused with 415, in the surface's error body (bridge/api/errors.py:
`UNSUPPORTED_MEDIA_TYPE`, `CMN-415`, `unsupported_media_type`); one nested deeper than
MAX_DEPTH levels with 400, before anything parses it.

webargs, which loads every `input(..., location="json")` body, takes a body whose
`Content-Type` is not JSON (none, `text/plain`, a form) as no body at all: an update
answered 200 having changed nothing. Its JSON loader is replaced here, for every route
at once. Only routes that read a JSON body use it, after their token is checked: the
OAuth endpoints' form bodies, destroy routes and other routes without a body are not
affected, and an empty body is still no body. Flask's own `request.get_json()` parses
through the app's JSON provider, which measures the depth the same way.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask, abort
from apiflask.schema_adapters.marshmallow import parser
from flask import Request
from flask.json.provider import DefaultJSONProvider

from bridge.api.json_depth import MAX_DEPTH, too_deep

PREFIXES = ("/api/", "/restapi/", "/uapi/")
MESSAGE = "the request body must be JSON, sent with Content-Type: application/json"
TOO_DEEP = f"the JSON body nests arrays and objects more than {MAX_DEPTH} levels deep"


def refuse_too_deep(data: bytes | str) -> None:
    if too_deep(data):
        abort(400, TOO_DEEP)


def load_json_body(request: Request, schema: Any) -> Any:
    body = request.get_data(cache=True)
    if request.path.startswith(PREFIXES) and not request.is_json and body:
        abort(415, MESSAGE)
    refuse_too_deep(body)
    return parser.load_json(request, schema)


class DepthCheckedJSON(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        refuse_too_deep(s)
        return super().loads(s, **kwargs)


def register(app: APIFlask) -> None:
    parser.location_loader("json")(load_json_body)
    app.json = DepthCheckedJSON(app)
