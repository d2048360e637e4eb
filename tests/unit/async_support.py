"""Awaiting what callbacks make true, in the ARI and AMI client tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

TIMEOUT = 3.0  # upper bound for anything a test awaits


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


class Waiter:
    """Lets a test await a condition that callbacks make true, instead of sleeping."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def poke(self) -> None:
        self._changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


async def eventually(predicate: Callable[[], bool], timeout: float = 1.0) -> None:
    """Poll, for state that changes without any callback to await (e.g. a socket dying)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
