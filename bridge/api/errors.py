"""Error bodies: each API surface answers in its own vendor's format, for every failure.

The surface is known from the path prefix; validation errors, auth errors, unknown
routes, service errors and unexpected exceptions all come through here, so a client
of one surface never sees another surface's (or Flask's) error shape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.exceptions import HTTPException

from bridge.api.schemas import RINGCENTRAL_ERROR_SCHEMA
from bridge.services.errors import ServiceError

log = logging.getLogger(__name__)

Body = dict[str, Any]
Formatter = Callable[[int, str, str, Any], Body]

_PORTSIP_CODES = {400: "VALIDATE_FAILED", 401: "UNAUTHORIZED", 403: "FORBIDDEN",
                  404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT",
                  413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
                  429: "TOO_MANY_REQUESTS", 431: "REQUEST_HEADERS_TOO_LARGE",
                  501: "NOT_IMPLEMENTED"}


def portsip_body(status: int, code: str, message: str, detail: Any) -> Body:
    return {"errors": [{"code": code or _PORTSIP_CODES.get(status, "UNKNOWN"),
                        "message": message, "detail": detail}]}


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


def plain_body(status: int, code: str, message: str, detail: Any) -> Body:
    return {"code": code or str(status), "message": message, "detail": detail}


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
_OAUTH_ERRORS = {"unsupported_token_type"}


def ringcentral_oauth_body(status: int, code: str, message: str, detail: Any) -> Body:
    """The RingCentral body plus RFC 6749's `error` and `error_description`."""
    body = ringcentral_body(status, code, message, detail)
    error = "invalid_client" if status == 401 else "invalid_request"
    if body["errorCode"] == "OAU-140":
        error = "invalid_grant"
    if code in _OAUTH_ERRORS:
        error = code
    return {"error": error, "error_description": body["message"], **body}


def validation_problems(detail: Any) -> list[tuple[str, str]]:
    """`{"json": {"to": {"phoneNumber": ["Missing..."]}}}` → `[("to.phoneNumber", ...)]`."""
    if not isinstance(detail, dict):
        return []
    return [found for location in ("json", "form", "query", "path")
            for found in _dotted(detail.get(location), "")]


def _dotted(problems: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(problems, dict):
        return [found for key, value in problems.items()
                for found in _dotted(value, path if key == "_schema" else
                                     f"{path}.{key}" if path else str(key))]
    if isinstance(problems, list) and problems and all(isinstance(p, str) for p in problems):
        return [(path or "body", " ".join(problems))]
    if isinstance(problems, list):
        return [found for problem in problems for found in _dotted(problem, path)]
    return [(path or "body", str(problems))] if problems is not None else []


SURFACES: list[tuple[str, Formatter]] = [("/api/", portsip_body),
                                         ("/restapi/oauth/", ringcentral_oauth_body),
                                         ("/restapi/", ringcentral_body),
                                         ("/uapi/", voipnow_body)]


def formatter_for(path: str) -> Formatter:
    return next((fmt for prefix, fmt in SURFACES if path.startswith(prefix)), plain_body)


def describe_validation(detail: Any) -> str:
    """`{"json": {"name": ["Missing data."]}}` → `name: Missing data.`"""
    if not isinstance(detail, dict):
        return "invalid request"
    parts = []
    for fields in detail.values():
        for name, problems in (fields.items() if isinstance(fields, dict) else []):
            parts.append(f"{name}: {_flatten(problems)}")
    return "; ".join(parts) or "invalid request"


def _flatten(problems: Any) -> str:
    if isinstance(problems, list):
        return " ".join(_flatten(p) for p in problems)
    if isinstance(problems, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in problems.items())
    return str(problems)


def render(status: int, code: str, message: str, detail: Any = None,
           headers: Any = None) -> tuple[Body, int, Any]:
    return formatter_for(request.path)(status, code, message, detail), status, headers or {}


# The OpenAPI error schema of surfaces whose body differs from the app-wide one.
DOCUMENTED_SURFACES = {"/restapi/": RINGCENTRAL_ERROR_SCHEMA}


def document_error_bodies(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """Spec processor: error responses under a surface's prefix get its body schema."""
    if isinstance(spec, str):
        return spec
    for path, operations in spec.get("paths", {}).items():
        schema = next((s for prefix, s in DOCUMENTED_SURFACES.items()
                       if path.startswith(prefix)), None)
        if schema is None:
            continue
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[0] in "45" and "content" in response:
                    response["content"] = {"application/json": {"schema": schema}}
    return spec


def register(app: APIFlask) -> None:
    app.spec_processor(document_error_bodies)

    @app.error_processor
    def http_error(error: HTTPError) -> tuple[Body, int, Any]:
        is_validation = error.status_code == 400 and isinstance(error.detail, dict) and any(
            key in error.detail for key in ("json", "query", "form", "path"))
        message = describe_validation(error.detail) if is_validation else str(error.message)
        return render(error.status_code, "", message, error.detail or None, error.headers)

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError) -> tuple[Body, int, Any]:
        detail = error.detail if error.detail is not None else (
            {"field": error.field} if error.field else None)
        return render(error.status, error.code, error.message, detail, error.headers)

    @app.errorhandler(IntegrityError)
    def integrity_error(error: IntegrityError) -> tuple[Body, int, Any]:
        # Two requests raced past the service's checks; the database kept its rules.
        log.info("conflict on %s %s: %s", request.method, request.path, error.orig)
        return render(409, "CONFLICT", "the object clashes with one created at the same "
                      "time; read it back and retry")

    @app.errorhandler(StaleDataError)
    @app.errorhandler(ObjectDeletedError)
    def deleted_meanwhile(error: Exception) -> tuple[Body, int, Any]:
        # A request deleted the row between this one's read and its write.
        log.info("object deleted meanwhile on %s %s: %s", request.method, request.path, error)
        return render(404, "NOT_FOUND", "the object was deleted by another request")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Body, int, Any]:
        if isinstance(error, HTTPException):
            return render(error.code or 500, "", str(error.description or error.name))
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render(500, "UNKNOWN", "internal error; the server log has the details")
