"""The engine's changes that a live view shows, counted, and a wait for the next one.

Every call event, parking lot event and registration change adds one to the count (on
the engine's loop); the API's processes wait for the count to move past the one they
saw (in gateway threads, `changes`), then read the engine again. The count starts at a
random value, so an API process that saw a count of the engine before a restart never
mistakes the new engine's count for it.
"""

from __future__ import annotations

import secrets
import threading

LONGEST_WAIT = 30.0  # seconds a gateway thread waits for a change


class Changes:
    def __init__(self) -> None:
        self._count = secrets.randbits(48)
        self._changed = threading.Condition()

    def note(self, *_: object) -> None:
        """Something a live view shows changed (any arguments are ignored, so this can
        be a call log or AMI handler)."""
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def after(self, seen: int, wait: float) -> int:
        """The count, as soon as it is not `seen`, or after `wait` seconds (at most
        LONGEST_WAIT)."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen,
                                   timeout=min(max(wait, 0.0), LONGEST_WAIT))
            return self._count
