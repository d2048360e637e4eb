"""The panel streams one API process holds open: each holds one of its threads."""

from __future__ import annotations

import threading
from collections.abc import Callable

from bridge.panel.actions import PanelRefusal

PER_SESSION = 2  # streams one session may hold open in one API process


class StreamSlots:
    """The open streams of this API process: at most `total` (each holds a thread),
    and at most PER_SESSION of one session, so that one person cannot take them all."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._by_session: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, token: str) -> Callable[[], None]:
        """A slot, and the call that gives it back (once, however often it is called)."""
        with self._lock:
            if self._by_session.get(token, 0) >= PER_SESSION:
                raise PanelRefusal(f"this session has {PER_SESSION} panels open already: "
                                   "close one", 429, headers={"Retry-After": "5"})
            if sum(self._by_session.values()) >= self.total:
                raise PanelRefusal("too many panels are open on this server; retrying "
                                   "shortly", 503, headers={"Retry-After": "5"})
            self._by_session[token] = self._by_session.get(token, 0) + 1
        given_back = threading.Event()

        def give_back() -> None:
            with self._lock:
                if given_back.is_set():
                    return
                given_back.set()
                self._by_session[token] -= 1
                if not self._by_session[token]:
                    del self._by_session[token]

        return give_back
