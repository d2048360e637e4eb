"""Routes kept in memory for as long as the directory generation stays the same."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from bridge.store.directory_changes import current_generation
from bridge.store.session import Database

V = TypeVar("V")
# Numbers nobody has are kept too (as None): callers dialling at random must not fill
# the memory, so a generation keeps at most this many routes, then starts again.
MAX_ROUTES = 50_000


class Routes:
    """The routes of one directory generation."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, Any] = {}

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        """The value kept for `key`, else `load()` (kept, None included)."""
        try:
            return self._entries[key]
        except KeyError:
            if len(self._entries) >= MAX_ROUTES:
                self._entries.clear()
            value = self._entries[key] = load()
            return value


class RouteCache:
    """Thread-safe: the engine routes calls in worker threads. Routes loaded while the
    generation moved on are kept only in the superseded `Routes`, never read again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._routes = Routes()

    def current(self, database: Database) -> Routes:
        """The routes of the database's generation now (empty after any change). Read on
        a bare connection: an ORM session costs more than the read itself."""
        with database.engine.connect() as connection:
            generation = current_generation(connection)
        if generation is None:
            return Routes()
        with self._lock:
            if generation != self._generation:
                self._generation, self._routes = generation, Routes()
            return self._routes
