"""Capped exponential backoff with jitter, shared by the ARI and AMI clients."""

from __future__ import annotations

import random


class Backoff:
    """Delays between reconnection attempts: initial, initial*factor, ... capped at maximum.

    Each delay is spread by +/- ``jitter`` (a fraction of the delay) so that several
    clients that lost Asterisk at the same moment do not reconnect in lock-step, and
    is then clamped so that no delay ever exceeds ``maximum``.
    The object is pure: pass a seeded ``random.Random`` to make the delays reproducible.

    The defaults are ARI's and AMI's: while ringbridge is not connected every call into
    Stasis fails, so after a long outage it still tries every 5 s (a TCP connect), not
    every 30: it is connected again within 5 s of Asterisk being back.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 5.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError(f"need 0 < initial <= maximum, got {initial=}, {maximum=}")
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._base = initial

    def next_delay(self) -> float:
        """Return the delay before the next attempt and grow the following one."""
        base = self._base
        self._base = min(self.maximum, base * self.factor)
        spread = base * self.jitter * self._rng.uniform(-1.0, 1.0)
        return min(self.maximum, base + spread)

    def reset(self) -> None:
        """Start again from ``initial`` (call after a connection that proved stable)."""
        self._base = self.initial
