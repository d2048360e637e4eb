"""Ring groups' waiting lines: calls that found no member free wait for one.

A group with `max_wait_time` > 0 keeps its callers (still hearing ringback) in a line
ordered by the dispatcher's `priority` for the call (urgent, high, normal, low; normal
when the dispatcher said nothing), then by arrival. Only the first in line tries the
members again, whenever any call ends (a member may be free now) and every
`RETRY_SECONDS` (members busy on calls outside the bridge, or registering again). A
call that finds a phone to ring leaves the line and the next one tries at once.

The lines live in this process: calls to one group handled by two ringbridge nodes
wait in two lines.
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

from bridge.gateway import Waiting

log = logging.getLogger(__name__)

PRIORITIES = ("urgent", "high", "normal", "low")  # the dispatch invite's `priority`
DEFAULT_PRIORITY = "normal"
RETRY_SECONDS = 2.0

Turn = Callable[[], None]  # tells a waiting call to try the members again


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

    def __init__(self, retry_seconds: float = RETRY_SECONDS) -> None:
        self.retry_seconds = retry_seconds
        self._lines: dict[int, list[_Place]] = {}
        self._arrivals = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def occupied(self, group_id: int) -> bool:
        return bool(self._lines.get(group_id))

    def join(self, group_id: int, call_id: str, priority: object, turn: Turn) -> int:
        """Put a call in the group's line; its place (1 = first) is returned."""
        line = self._lines.setdefault(group_id, [])
        place = _Place(rank(priority), next(self._arrivals), call_id, turn)
        line.append(place)
        line.sort()
        self._serve()
        return line.index(place) + 1

    def leave(self, group_id: int, call_id: str) -> None:
        line = self._lines.get(group_id, [])
        was_first = bool(line) and line[0].call_id == call_id
        line[:] = [place for place in line if place.call_id != call_id]
        if not line:
            self._lines.pop(group_id, None)
        if was_first:
            self.wake()

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

    def first(self, group_id: int) -> str | None:
        line = self._lines.get(group_id)
        return line[0].call_id if line else None

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
