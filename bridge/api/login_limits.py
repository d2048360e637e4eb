"""Password grants, throttled before scrypt runs (every surface's token endpoint).

Each password check costs about 0.1 s and 32 MiB (bridge/services/tenants.py). Failed
attempts are counted per username and per client address in a moving one-minute
window (`limits`, in this process's memory, as bridge/api/rate_limits.py does for
RingOut): at the limit, further attempts are refused with 429 without checking the
password, until the oldest failure is a minute old. At most `concurrent` checks run at
once; a request that cannot start one within `wait` seconds is refused with 429 too.
Each check counts its failure only when it ends, so attempts already running when the
limit is reached (at most `concurrent` of them) may still be counted past it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bridge.api.rate_limits import retry_after
from bridge.services.errors import ServiceError, Unauthorized

NAMESPACE = "password-grant"
WAIT_SECONDS = 1.0


class TooManyAttempts(ServiceError):
    """RingCentral's surface renders it as CMN-301 (bridge/api/errors.py)."""

    status = 429
    code = "TOO_MANY_REQUESTS"


class LoginThrottle:
    def __init__(self, per_username: int, per_address: int, concurrent: int,
                 wait: float = WAIT_SECONDS) -> None:
        """`per_username`, `per_address`: failed attempts per minute, 0 = no limit."""
        self.items = {scope: RateLimitItemPerMinute(limit)
                      for scope, limit in (("username", per_username),
                                           ("address", per_address)) if limit > 0}
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.checks = threading.BoundedSemaphore(concurrent)
        self.wait = wait

    @contextmanager
    def attempt(self, username: str, address: str) -> Iterator[None]:
        """Around one password check: refused (429) while a limit is reached or no
        check slot frees up in time; an Unauthorized raised inside counts as a failure."""
        keys = {"username": username, "address": address}
        counted = [(item, scope, keys[scope]) for scope, item in self.items.items()]
        for item, scope, key in counted:
            if not self.limiter.test(item, NAMESPACE, scope, key):
                reset = self.limiter.get_window_stats(item, NAMESPACE, scope, key).reset_time
                raise TooManyAttempts(
                    f"too many failed password attempts for this {scope}: at most "
                    f"{item.amount} per 60 s",
                    headers={"Retry-After": retry_after(reset)})
        if not self.checks.acquire(timeout=self.wait):
            raise TooManyAttempts("too many password checks at once; retry in a second",
                                  headers={"Retry-After": "1"})
        try:
            yield
        except Unauthorized:
            for item, scope, key in counted:
                self.limiter.hit(item, NAMESPACE, scope, key)
            raise
        finally:
            self.checks.release()
