"""Error bodies: each API surface answers in its own vendor's format, for every failure.

The surface is known from the path prefix (each slice adds its ErrorFormat);
validation errors, auth errors, unknown routes, service errors and unexpected
exceptions all come through here, so a client of one surface never sees another
surface's (or Flask's) error shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import Flask, current_app, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.exceptions import HTTPException

from bridge.gateway import GatewayError
from bridge.services.errors import ServiceError
from bridge.store.db import DATABASE_AWAY, why_away

log = logging.getLogger(__name__)

Body = dict[str, Any]
ENGINE_RETRY_AFTER = "2"
DATABASE_RETRY_AFTER = "5"  # a database restarting (its connections come back by themselves)
Formatter = Callable[[int, str, str, Any], Body]
_FORMATS = "ringbridge.error_formats"

def plain_body(status: int, code: str, message: str, detail: Any) -> Body:
    return {"code": code or str(status), "message": message, "detail": detail}


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


@dataclass(frozen=True)
class ErrorFormat:
    """A surface's errors: every path under `prefix` answers in `body`'s shape. `schema`
    documents its error responses in /openapi.json; None leaves the app-wide error
    schema (or what its routes document themselves)."""

    prefix: str
    body: Formatter
    schema: dict[str, Any] | None = None


def add_format(app: APIFlask, error_format: ErrorFormat) -> None:
    """A slice's; the longest prefix that matches a path wins."""
    formats = [*error_formats(app), error_format]
    app.extensions[_FORMATS] = sorted(formats, key=lambda f: len(f.prefix), reverse=True)


def error_formats(app: Flask) -> list[ErrorFormat]:
    return list(app.extensions.get(_FORMATS, []))


def formatter_for(path: str, formats: Sequence[ErrorFormat]) -> Formatter:
    return next((f.body for f in formats if path.startswith(f.prefix)), plain_body)


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
    formatter = formatter_for(request.path, error_formats(current_app))
    return formatter(status, code, message, detail), status, headers or {}


def document_error_bodies(spec: dict[Any, Any] | str,
                          formats: list[ErrorFormat]) -> dict[Any, Any] | str:
    """Spec processor: error responses under a surface's prefix get its body schema."""
    if isinstance(spec, str):
        return spec
    for path, operations in spec.get("paths", {}).items():
        schema = next((f.schema for f in formats if path.startswith(f.prefix)), None)
        if schema is None:
            continue
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[0] in "45" and "content" in response:
                    response["content"] = {"application/json": {"schema": schema}}
    return spec


def register(app: APIFlask) -> None:
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

    @app.errorhandler(GatewayError)
    def engine_error(error: GatewayError) -> tuple[Body, int, Any]:
        # The engine's process is restarting, or did not answer: the request may be
        # retried (a surface with its own codes for these answers before this).
        log.warning("%s %s: %s", request.method, request.path, error.message)
        return render(503, "ENGINE_UNAVAILABLE", error.message, None,
                      {"Retry-After": ENGINE_RETRY_AFTER})

    def database_away(error: Exception) -> tuple[Body, int, Any]:
        # The database is restarting or unreachable (SQLite: locked past its timeout).
        # Nothing was done; the pool's pre-ping replaces dead connections once it is back.
        log.warning("%s %s: the database is unavailable: %s", request.method, request.path,
                    why_away(error))
        return render(503, "DATABASE_UNAVAILABLE", "the database is unavailable (restarting?); "
                      "retry shortly", None, {"Retry-After": DATABASE_RETRY_AFTER})

    for away in DATABASE_AWAY:
        app.register_error_handler(away, database_away)

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
