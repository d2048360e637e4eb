"""Ring groups' waiting lines: calls that found no member free wait for one.

A group with `max_wait_time` > 0 keeps its callers (still hearing ringback) in a line
ordered by the dispatcher's `priority` for the call (urgent, high, normal, low; normal
when the dispatcher said nothing), then by arrival. Only the first in line tries the
members again, whenever any call ends (a member may be free now) and every
`RETRY_SECONDS` (members busy on calls outside the bridge, or registering again). A
call that finds a phone to ring leaves the line and the next one tries at once.

With several engines on one Asterisk, each keeps its own calls' places and turns, and
the order across all of them comes from `SharedLines` (the database's): a call tries
the members only when it is first in the whole line, and a group with calls waiting on
any engine is joined, never overtaken. A member freed by another engine's call is tried
on the next retry (RETRY_SECONDS), not at once. With one engine the line is its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from bridge.gateway import Waiting

log = logging.getLogger(__name__)

PRIORITIES = ("urgent", "high", "normal", "low")  # the dispatch invite's `priority`
DEFAULT_PRIORITY = "normal"
RETRY_SECONDS = 2.0

Turn = Callable[[], None]  # tells a waiting call to try the members again
T = TypeVar("T")


class SharedLines(Protocol):
    """The lines of every engine's calls (bridge/services/waiting_calls.py); called in
    worker threads."""

    def add(self, group_id: int, call_id: str, rank: int, joined_at: datetime) -> int:
        """The call joins the group's line; returns its place (1 = first)."""

    def remove(self, call_id: str) -> None: ...

    def first(self, group_id: int) -> str | None:
        """The call first in the group's line, whichever engine runs it."""


def known_priority(value: object) -> str | None:
    """The dispatcher's priority as one of PRIORITIES, read without case or surrounding
    spaces (`" URGENT "` is urgent); None when it is none of them."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if value in PRIORITIES else None


def rank(priority: object) -> int:
    """Where a priority sorts: unknown values count as normal."""
    return PRIORITIES.index(known_priority(priority) or DEFAULT_PRIORITY)


@dataclass(order=True)
class _Place:
    rank: int
    arrival: int
    call_id: str = field(compare=False)
    turn: Turn = field(compare=False)
    joined: float = field(compare=False, default_factory=time.monotonic)
    joined_at: datetime = field(compare=False, default_factory=lambda: datetime.now(UTC))


class WaitingLines:
    """Every group's line, and the one task that gives the first in each line its turn."""

    def __init__(self, retry_seconds: float = RETRY_SECONDS,
                 shared: SharedLines | None = None) -> None:
        self.retry_seconds = retry_seconds
        self.shared = shared
        self._lines: dict[int, list[_Place]] = {}
        self._arrivals = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leaving: set[asyncio.Task[None]] = set()  # shared rows being removed
        self._unremoved: set[str] = set()  # calls gone whose shared row is left: retried

    async def occupied(self, group_id: int) -> bool:
        """Calls wait in the group's line, on this engine or (shared) on any."""
        if self._lines.get(group_id) or self.shared is None:
            return bool(self._lines.get(group_id))
        await self._removed()
        return await self._shared(self.shared.first, group_id, default=None) is not None

    async def join(self, group_id: int, call_id: str, priority: object, turn: Turn) -> int:
        """Put a call in the group's line; its place (1 = first) is returned."""
        line = self._lines.setdefault(group_id, [])
        place = _Place(rank(priority), next(self._arrivals), call_id, turn)
        line.append(place)
        line.sort()
        self._serve()
        here = line.index(place) + 1
        if self.shared is None:
            return here
        await self._removed()
        self._unremoved.discard(call_id)  # its row, if any is left, is replaced
        return await self._shared(self.shared.add, group_id, call_id, place.rank,
                                  place.joined_at, default=here)

    def leave(self, group_id: int, call_id: str) -> None:
        line = self._lines.get(group_id, [])
        was_first = bool(line) and line[0].call_id == call_id
        line[:] = [place for place in line if place.call_id != call_id]
        if not line:
            self._lines.pop(group_id, None)
        if self.shared is not None:
            self._unremoved.add(call_id)
            task = asyncio.get_running_loop().create_task(self._remove(call_id))
            self._leaving.add(task)
            task.add_done_callback(self._leaving.discard)
        if was_first:
            self.wake()

    async def _remove(self, call_id: str) -> None:
        """The call's shared row (left for the next try when the database is away: a
        row left first in line would hold the line on every engine)."""
        assert self.shared is not None
        try:
            await asyncio.to_thread(self.shared.remove, call_id)
        except Exception as exc:
            log.warning("waiting lines: call %s left its line, but its shared row was not "
                        "removed (%s); tried again", call_id, exc)
            return
        self._unremoved.discard(call_id)

    async def _removed(self) -> None:
        """The shared rows of the calls that left are gone (a moment after leave())."""
        if self._leaving:
            await asyncio.gather(*self._leaving)
        for call_id in list(self._unremoved):
            await self._remove(call_id)

    async def first(self, group_id: int) -> str | None:
        """The call first in the group's line: of this engine's, or (shared) of all.
        Removals under way are waited for: the call that just left is not first."""
        local = self._lines.get(group_id)
        if self.shared is None:
            return local[0].call_id if local else None
        await self._removed()
        return await self._shared(self.shared.first, group_id,
                                  default=local[0].call_id if local else None)

    async def _shared(self, work: Callable[..., T], *args: Any, default: T) -> T:
        """`work` on the shared lines in a worker thread; with the database away, the
        engine's own line answers (`default`), and the call goes on."""
        try:
            return await asyncio.to_thread(work, *args)
        except Exception:
            log.exception("waiting lines: the shared line was not read or written; "
                          "this engine's own order applies")
            return default

    def lengths(self) -> dict[int, tuple[int, float]]:
        """Each line: how many calls wait in it, and the seconds the longest has waited."""
        now = time.monotonic()
        return {group: (len(line), now - min(place.joined for place in line))
                for group, line in self._lines.items() if line}

    def waiting(self, calls: set[str]) -> dict[int, tuple[Waiting, ...]]:
        """The lines of these calls (one tenant's): each group's, first in line first."""
        lines = {group: tuple(Waiting(place.call_id, PRIORITIES[place.rank], place.joined_at)
                              for place in line if place.call_id in calls)
                 for group, line in self._lines.items()}
        return {group: line for group, line in lines.items() if line}

    def calls(self, group_id: int) -> list[str]:
        """The group's waiting calls, first in line first."""
        return [place.call_id for place in self._lines.get(group_id, [])]

    def wake(self) -> None:
        """A member may have come free: the first in each line tries again now."""
        if self._lines:
            self._wake.set()

    def _serve(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._give_turns())
        self.wake()

    async def _give_turns(self) -> None:
        while self._lines:
            with contextlib.suppress(TimeoutError):  # no wake-up: retry anyway
                async with asyncio.timeout(self.retry_seconds):
                    await self._wake.wait()
            self._wake.clear()
            for line in list(self._lines.values()):
                if line:
                    line[0].turn()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
