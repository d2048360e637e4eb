"""Waiting, bounded, for state that no event tells a test about (Asterisk's bridges,
the API's view of live calls): read it until it holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], timeout: float, what: str,
               poll: float = 0.1) -> T:
    """The first true value `condition` returns within `timeout` seconds (never None),
    asked every `poll` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(poll)
    return result
