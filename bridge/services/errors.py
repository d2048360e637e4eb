"""Errors the services raise; each API surface renders them in its vendor's format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ServiceError(Exception):
    status = 400
    code = "VALIDATE_FAILED"

    def __init__(self, message: str, *, field: str | None = None, detail: Any = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail
        self.headers = dict(headers or {})  # of the answer (Retry-After...)


class ValidationFailed(ServiceError):
    """A field breaks a rule (bad number, clash with another object, ...)."""


class NotFound(ServiceError):
    status = 404
    code = "NOT_FOUND"


class Conflict(ServiceError):
    status = 409
    code = "CONFLICT"


class Unauthorized(ServiceError):
    """Credentials (a password, a refresh token) were not accepted."""

    status = 401
    code = "UNAUTHORIZED"


class Forbidden(ServiceError):
    """The request is understood but not allowed (a caller id not the extension's)."""

    status = 403
    code = "FORBIDDEN"


class ServiceUnavailable(ServiceError):
    """Something the answer needs (Asterisk) cannot be reached now."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
