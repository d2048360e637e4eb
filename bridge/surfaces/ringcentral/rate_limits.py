"""Request rate limits in RingCentral's usage plan groups (Light, Medium, Heavy, Auth),
with its response headers.

Each route names its group where it is defined, with `@rate_group("Medium")` among its
decorators; hooks installed on the app (`install`) do the rest, for every blueprint.
A request is counted before its route runs: after its token is known, before its body
or ids are read, so every answer the route gives (success, 400, 404...) carries the
group's `X-Rate-Limit-*` headers. A request without a valid token is left to the
route's own 401, neither counted nor given headers; the Auth group's routes take no
token, so each of their requests counts, by client address.

Counts are per user: the token's user, so a user's tokens and extensions share them; a
token without a user (a tenant-wide CLI token) counts by itself. `limits` keeps a
moving one-minute window per (group, key) in this process's memory: each API process
counts its own requests (docs/processes.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bridge.api.auth import bearer_principal
from bridge.api.login_limits import retry_after
from bridge.config import Settings
from bridge.services.errors import ServiceError

GROUPS = ("Light", "Medium", "Heavy", "Auth")
AUTH = "Auth"  # keyed by client address: its requests come before any token
WINDOW_SECONDS = 60
RATE_EXCEEDED = "Request rate exceeded (CMN-301)"  # for a route's documented responses
_CONFIG = "RESTAPI_RATE_LIMITS"
_MARK = "rate_group"

View = TypeVar("View", bound=Callable[..., Any])


class RateLimited(ServiceError):
    status = 429
    code = "CMN-301"


def rate_group(group: str) -> Callable[[View], View]:
    """Puts a route in a usage plan group: `@rate_group("Heavy")` anywhere among its
    decorators (it only marks the view; `count_request` reads the mark)."""
    if group not in GROUPS:
        raise ValueError(f"rate group {group!r} is not one of {', '.join(GROUPS)}")

    def mark(view: View) -> View:
        setattr(view, _MARK, group)
        return view

    return mark


def group_of(view: Callable[..., Any] | None) -> str | None:
    """The group a view was put in, None when it has none."""
    return getattr(view, _MARK, None)


def per_minute(settings: Settings) -> dict[str, int]:
    return {"Light": settings.restapi_light_per_minute,
            "Medium": settings.restapi_medium_per_minute,
            "Heavy": settings.restapi_heavy_per_minute,
            "Auth": settings.restapi_auth_per_minute}


class RateLimits:
    def __init__(self, limits: Mapping[str, int]) -> None:
        """`limits`: requests per minute per key in each group; 0 switches one off."""
        self.items = {group: RateLimitItemPerMinute(limit)
                      for group, limit in limits.items() if limit > 0}
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, group: str, key: str) -> dict[str, str]:
        """Count a request of `key` in `group`: the headers for its answer (none when
        the group has no limit); over the limit, RateLimited with them."""
        item = self.items.get(group)
        if item is None:
            return {}
        allowed = self.limiter.hit(item, group, key)
        stats = self.limiter.get_window_stats(item, group, key)
        headers = {"X-Rate-Limit-Group": group, "X-Rate-Limit-Limit": str(item.amount),
                   "X-Rate-Limit-Remaining": str(stats.remaining),
                   "X-Rate-Limit-Window": str(WINDOW_SECONDS)}
        if not allowed:
            raise RateLimited(f"Request rate exceeded: at most {item.amount} {group} "
                              f"requests per {WINDOW_SECONDS} s",
                              headers={**headers, "Retry-After": retry_after(stats.reset_time)})
        return headers


def install(app: Flask, settings: Settings) -> None:
    app.config[_CONFIG] = RateLimits(per_minute(settings))
    app.before_request(count_request)
    app.after_request(add_headers)


def count_request() -> None:
    """Before each request: count it in its route's group, if it has one."""
    group = group_of(current_app.view_functions.get(request.endpoint or ""))
    if group is None:
        return
    key = _key(group)
    if key is not None:
        limits: RateLimits = current_app.config[_CONFIG]
        g.rate_limit_headers = limits.hit(group, key)


def _key(group: str) -> str | None:
    """Whose count a request adds to; None for a request without a valid token."""
    if group == AUTH:
        return f"address {request.remote_addr or ''}"
    who = bearer_principal()
    if who is None:
        return None
    return f"user {who.user_id}" if who.user_id is not None else f"token {who.token_id}"


def add_headers(response: Response) -> Response:
    """After each request: the headers of its group (a 429 carries its own)."""
    response.headers.update(g.get("rate_limit_headers", {}))
    return response
