"""A cluster node's engine keeps its Asterisk's endpoints in step with the directory.

The nodes of a cluster share the database, not their engines: an extension created
through one node's API is pushed at once to that node's Asterisk only. Every node's
engine 1 reads the directory generation (bridge/store/directory_changes.py) every
second and, when it moved, pushes and removes what changed (Provisioning.refresh).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
EVERY = 1.0  # seconds between two reads of the generation


async def follow_directory(generation: Callable[[], int | None],
                           refresh: Callable[[], Awaitable[None]],
                           ready: Callable[[], bool], due: Callable[[], bool],
                           every: float = EVERY) -> None:
    """Call `refresh` whenever `generation()` (read in a worker thread) changed since
    the last refresh, or while `due()` (the last one left work undone); only while
    `ready()`; runs until cancelled. A failed read or refresh is logged once and tried
    again the next second."""
    seen: int | None = None
    failing = False
    while True:
        await asyncio.sleep(every)
        if not ready():  # ARI is down: its reconnect pushes everything anyway
            continue
        try:
            now = await asyncio.to_thread(generation)
            if now is None or now != seen or due():
                await refresh()
                seen = now
        except Exception as exc:  # the database away, ARI refusing: retried
            if not failing:
                log.warning("directory: following other nodes' changes failed (%s: %s); "
                            "trying again every %g s", type(exc).__name__, exc, every)
            failing = True
            continue
        if failing:
            log.info("directory: following other nodes' changes again")
            failing = False
