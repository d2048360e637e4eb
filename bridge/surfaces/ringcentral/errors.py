"""RingCentral's error body under `/restapi/`; its OAuth endpoints add RFC 6749's."""

from __future__ import annotations

import re
from typing import Any

from bridge.api.errors import Body, ErrorFormat, validation_problems

# RingCentral: the codes its documentation names; statuses it names none for get ours.
_RINGCENTRAL_CODES = {400: "CMN-101", 401: "OAU-123", 403: "CMN-101", 404: "CMN-102",
                      429: "CMN-301"}
_RINGCENTRAL_CODE = re.compile(r"[A-Z]{3}-[0-9]{3}")


def ringcentral_body(status: int, code: str, message: str, detail: Any) -> Body:
    """`{errorCode, message, errors: [{errorCode, message, parameterName}]}`."""
    if not _RINGCENTRAL_CODE.fullmatch(code or ""):
        code = _RINGCENTRAL_CODES.get(status, f"CMN-{status}")
    problems = validation_problems(detail)
    if isinstance(detail, dict) and isinstance(detail.get("field"), str):
        problems = [(detail["field"], message)]
    errors = [{"errorCode": code, "message": f"Parameter [{name}] value is invalid: {problem}"
               if status == 400 else problem, "parameterName": name}
              for name, problem in problems] or [{"errorCode": code, "message": message}]
    return {"errorCode": code, "message": errors[0]["message"], "errors": errors}


# Errors of RFC 6749 and 7009 a service raises by name (as its code).
_OAUTH_ERRORS = {"unsupported_token_type", "unsupported_grant_type"}


def ringcentral_oauth_body(status: int, code: str, message: str, detail: Any) -> Body:
    """The RingCentral body plus RFC 6749's `error` and `error_description`."""
    body = ringcentral_body(status, code, message, detail)
    error = "invalid_client" if status == 401 else "invalid_request"
    if body["errorCode"] == "OAU-140":
        error = "invalid_grant"
    if code in _OAUTH_ERRORS:
        error = code
    return {"error": error, "error_description": body["message"], **body}


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

ERROR_FORMATS = (ErrorFormat("/restapi/oauth/", ringcentral_oauth_body, RINGCENTRAL_ERROR_SCHEMA),
                 ErrorFormat("/restapi/", ringcentral_body, RINGCENTRAL_ERROR_SCHEMA))
