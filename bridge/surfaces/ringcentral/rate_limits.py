"""Request rate limits in RingCentral's groups, per extension, with its response headers.

`limits` keeps a moving one-minute window per (group, extension) in this process's
memory: each ringbridge node counts its own requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, g
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bridge.api.login_limits import retry_after
from bridge.services.errors import ServiceError

WINDOW_SECONDS = 60


class RateLimited(ServiceError):
    status = 429
    code = "CMN-301"


@dataclass(frozen=True)
class Groups:
    """Requests per minute per extension in each group; 0 switches a group's limit off."""

    heavy: int = 10
    light: int = 50


class RateLimits:
    def __init__(self, groups: Groups) -> None:
        self.items = {name: RateLimitItemPerMinute(limit)
                      for name, limit in (("Heavy", groups.heavy), ("Light", groups.light))
                      if limit > 0}
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, group: str, key: str) -> None:
        """Count a request; headers for the answer go to `g`; over the limit → 429."""
        item = self.items.get(group)
        if item is None:
            return
        allowed = self.limiter.hit(item, group, key)
        stats = self.limiter.get_window_stats(item, group, key)
        headers = {"X-Rate-Limit-Group": group, "X-Rate-Limit-Limit": str(item.amount),
                   "X-Rate-Limit-Remaining": str(stats.remaining),
                   "X-Rate-Limit-Window": str(WINDOW_SECONDS)}
        if not allowed:
            headers["Retry-After"] = retry_after(stats.reset_time)
        g.rate_limit_headers = headers
        if not allowed:
            raise RateLimited(f"Request rate exceeded: at most {item.amount} {group} "
                              f"requests per {WINDOW_SECONDS} s per extension")


def add_headers(response: Response) -> Response:
    """after_request of the limited blueprints: the headers of this request's group."""
    response.headers.update(g.get("rate_limit_headers", {}))
    return response
