"""Password grants, throttled before scrypt runs (every surface's token endpoint), and
JWT bearer grants, whose failures count against the client address as failed passwords
do (so the grant is no faster a way to guess).

Each password check costs about 0.1 s and 32 MiB (bridge/services/tenants.py). Failed
attempts are counted per account (a tenant and a username) and per client address in a
moving one-minute window (`limits`, in this process's memory, as
bridge/surfaces/ringcentral/rate_limits.py does for /restapi/): at the limit, further
attempts are refused with 429 without checking the password, until the oldest failure
is a minute old.

A grant naming no tenant is checked against the username in every tenant that has it:
accounts at their limit are left out (their passwords are not checked), so failures
against one tenant's user never refuse another tenant's; it is refused only when all
are at the limit. Its failures count against each account checked.

At most `concurrent` checks run at once; a request that cannot start one within `wait`
seconds is refused with 429 too. Each check counts its failure only when it ends, so
attempts already running when the limit is reached (at most `concurrent` of them) may
still be counted past it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from bridge.services.errors import ServiceError, Unauthorized

NAMESPACE = "password-grant"
WAIT_SECONDS = 1.0



def retry_after(reset_time: float) -> str:
    """`Retry-After` until a window's `reset_time` (seconds since the epoch): 1 at least."""
    return str(max(1, math.ceil(reset_time - time.time())))

class TooManyAttempts(ServiceError):
    """RingCentral's surface renders it as CMN-301 (bridge/api/errors.py)."""

    status = 429
    code = "TOO_MANY_REQUESTS"


def account(tenant: int | str | None, username: str) -> str:
    """The key failures count against: a tenant (its id; what the request named when no
    tenant has it; None when it named none and no tenant has the username) and a
    username."""
    return f"{'*' if tenant is None else tenant}/{username}"


class LoginThrottle:
    def __init__(self, per_account: int, per_address: int, concurrent: int,
                 wait: float = WAIT_SECONDS, failures: Storage | None = None) -> None:
        """`per_account`, `per_address`: failed attempts per minute, 0 = no limit;
        `failures`: where they are counted (the database's, so that every process
        counts the same: bridge/api/shared_login_limits.py; this process's memory by
        default)."""
        self.items = {scope: RateLimitItemPerMinute(limit)
                      for scope, limit in (("account", per_account),
                                           ("address", per_address)) if limit > 0}
        self.limiter = MovingWindowRateLimiter(failures or MemoryStorage())
        self.checks = threading.BoundedSemaphore(concurrent)
        self.wait = wait

    def open_accounts(self, address: str, accounts: Sequence[str]) -> list[str]:
        """The accounts whose password may be checked now; 429 when the address is at
        its limit, or every account is."""
        self._refuse_when_all_limited("address", [address])
        self._refuse_when_all_limited("account", accounts)
        return [key for key in accounts if not self._limited("account", key)]

    def _limited(self, scope: str, key: str) -> bool:
        item = self.items.get(scope)
        return item is not None and not self.limiter.test(item, NAMESPACE, scope, key)

    def _refuse_when_all_limited(self, scope: str, keys: Sequence[str]) -> None:
        item = self.items.get(scope)
        if item is None or not keys or not all(self._limited(scope, key) for key in keys):
            return
        reset = min(self.limiter.get_window_stats(item, NAMESPACE, scope, key).reset_time
                    for key in keys)
        raise TooManyAttempts(f"too many failed login attempts for this {scope}: at "
                              f"most {item.amount} per 60 s",
                              headers={"Retry-After": retry_after(reset)})

    @contextmanager
    def attempt(self, address: str, accounts: Sequence[str]) -> Iterator[None]:
        """Around one grant's password checks: refused (429) when no check slot frees up
        in time; an Unauthorized raised inside counts a failure against the address and
        each account."""
        if not self.checks.acquire(timeout=self.wait):
            raise TooManyAttempts("too many password checks at once; retry in a second",
                                  headers={"Retry-After": "1"})
        try:
            with self.failures_counted(address, accounts):
                yield
        finally:
            self.checks.release()

    @contextmanager
    def failures_counted(self, address: str, accounts: Sequence[str] = ()) -> Iterator[None]:
        """An Unauthorized raised inside counts a failure against the address and each
        account. `attempt` runs it in a check slot; a check too cheap to need one (a JWT
        assertion's) runs in it alone."""
        try:
            yield
        except Unauthorized:
            self._count(("address", address), *(("account", key) for key in accounts))
            raise

    def _count(self, *keys: tuple[str, str]) -> None:
        for scope, key in keys:
            item = self.items.get(scope)
            if item is not None:
                self.limiter.hit(item, NAMESPACE, scope, key)
