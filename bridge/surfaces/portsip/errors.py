"""The PortSIP error body, `{"errors": [{code, message, detail}]}`, of every path under
`/api/` (this slice's, dispatch settings' and call records')."""

from __future__ import annotations

from typing import Any

from bridge.api.errors import Body, ErrorFormat
from bridge.api.schemas import body_errors

_PORTSIP_CODES = {400: "VALIDATE_FAILED", 401: "UNAUTHORIZED", 403: "FORBIDDEN",
                  404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT",
                  413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
                  429: "TOO_MANY_REQUESTS", 431: "REQUEST_HEADERS_TOO_LARGE",
                  501: "NOT_IMPLEMENTED"}


def portsip_body(status: int, code: str, message: str, detail: Any) -> Body:
    return {"errors": [{"code": code or _PORTSIP_CODES.get(status, "UNKNOWN"),
                        "message": message, "detail": detail}]}


PORTSIP_ERROR_SCHEMA = {
    "type": "object",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "example": "VALIDATE_FAILED"},
                       "message": {"type": "string"}, "detail": {}},
    }}},
}

# The 413 and 415 of a PortSIP-style route that reads a JSON body.
JSON_BODY_ERRORS = body_errors(PORTSIP_ERROR_SCHEMA)

ERROR_FORMAT = ErrorFormat("/api/", portsip_body)
