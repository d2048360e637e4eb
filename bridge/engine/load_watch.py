"""Whether the engine keeps up with Asterisk: new calls are claimed only while it does.

Past what the machine can carry (the engine's core full, or Asterisk's), every ARI
request of every call waits longer; at the request timeout (5 s) a request fails and its
call ends, often just as an agent answers. Declining new calls first keeps the calls in
progress whole. A declined call is offered again every second (another engine may take
it), and after STASIS_WAIT seconds Asterisk's fallback takes it (extensions.conf
[stasis-wait]); the caller hears ringing meanwhile.

The measure is the share of ARI requests answered in the last WINDOW seconds that took
longer than SLOW: at half or more of at least MIN_ANSWERS, the engine is behind. One slow
request (a dial string whose host name resolves slowly, the check at each connection
that Asterisk takes REST on the websocket) does not make it so, and an engine with
little to do is not. The engine's loop notes answers; API threads ask too (a RingOut
is a new call), so the window is read and changed under a lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 2.0  # seconds of answers looked at
SLOW = 0.5  # seconds: an answer slower than this is late
BEHIND_SHARE = 0.5  # late answers in the window, at or above which the engine is behind
MIN_ANSWERS = 10  # answers in the window below which it is not


class LoadWatch:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answers: deque[tuple[float, bool]] = deque()  # (when, late)
        self._late = 0  # late answers in _answers
        self._lock = threading.Lock()

    def answered(self, seconds: float) -> None:
        """An ARI request was answered (or failed) after `seconds`."""
        now, late = self._clock(), seconds > SLOW
        with self._lock:
            self._answers.append((now, late))
            self._late += late
            self._forget_before(now - WINDOW)

    def late_share(self) -> float:
        """The share of the window's answers that were late (0 with none)."""
        return self._counted()[1]

    def behind(self) -> bool:
        answers, share = self._counted()
        return answers >= MIN_ANSWERS and share >= BEHIND_SHARE

    def _counted(self) -> tuple[int, float]:
        """The window's answers and the share of them that were late."""
        with self._lock:
            self._forget_before(self._clock() - WINDOW)
            answers = len(self._answers)
            return answers, self._late / answers if answers else 0.0

    def _forget_before(self, oldest: float) -> None:
        while self._answers and self._answers[0][0] < oldest:
            _, late = self._answers.popleft()
            self._late -= late
