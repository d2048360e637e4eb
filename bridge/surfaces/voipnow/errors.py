"""The VoIPNow UnifiedAPI error body of every path under `/uapi/`."""

from __future__ import annotations

from typing import Any

from bridge.api.errors import Body, ErrorFormat

_VOIPNOW_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden",
                  404: "not_found", 405: "method_not_allowed", 409: "conflict",
                  413: "request_too_large", 415: "unsupported_media_type",
                  431: "request_headers_too_large", 500: "internal_error",
                  501: "not_implemented"}


def voipnow_body(status: int, code: str, message: str, detail: Any) -> Body:
    """VoIPNow UnifiedAPI: `{"error": {"code", "message"}}`, codes in lower case; the
    PortSIP-style codes of shared services (NOT_FOUND...) give way to the status's."""
    if not code or code.isupper():
        code = _VOIPNOW_CODES.get(status, "error")
    return {"error": {"code": code, "message": message}}


VOIPNOW_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "example": "pc_phonecall_invalid"},
                       "message": {"type": "string"}},
    }},
}

# Its routes document their errors themselves (the body above).
ERROR_FORMAT = ErrorFormat("/uapi/", voipnow_body)
