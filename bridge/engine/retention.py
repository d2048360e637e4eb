"""Deletes recordings (recorded calls, voicemails) once their tenant's retention is over.

A periodic job on the engine's loop: the database says which recordings have expired
(`RecordingIndex`, in services), ARI deletes each stored recording, and the call record
forgets it. A recording Asterisk no longer has (404) is forgotten too; any other failure
leaves it for the next sweep.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol
from urllib.parse import quote

from bridge.asterisk.ari import AriError
from bridge.flows.calls import Ari

log = logging.getLogger(__name__)

FIRST_SWEEP = 60.0  # seconds after start: ARI is connected by then
SWEEP_EVERY = 3600.0


class RecordingIndex(Protocol):
    """Which call holds which recording (the database). Blocking: run in a thread."""

    def expired(self) -> list[tuple[str, str]]:
        """(call id, recording name) of the recordings past their tenant's retention."""

    def forget(self, call_id: str, name: str) -> None:
        """The recording is deleted: the call record no longer links it."""


class RecordingRetention:
    def __init__(self, ari: Ari, index: RecordingIndex, first: float = FIRST_SWEEP,
                 every: float = SWEEP_EVERY) -> None:
        self.ari = ari
        self.index = index
        self.first = first
        self.every = every

    async def run(self) -> None:
        await asyncio.sleep(self.first)
        while True:
            try:
                await self.sweep()
            except Exception:  # the database or Asterisk may be away: the next sweep
                log.exception("recordings: retention sweep failed")
            await asyncio.sleep(self.every)

    async def sweep(self) -> int:
        """Delete every expired recording; how many were deleted."""
        deleted = 0
        for call_id, name in await asyncio.to_thread(self.index.expired):
            try:
                await delete_stored(self.ari, name)
            except AriError as exc:
                log.warning("call %s: recording %s not deleted (kept for the next "
                            "sweep): %s", call_id, name, exc)
                continue
            await asyncio.to_thread(self.index.forget, call_id, name)
            log.info("call %s: recording %s deleted (retention over)", call_id, name)
            deleted += 1
        return deleted


async def delete_stored(ari: Ari, name: str) -> None:
    """Delete a stored recording; one Asterisk no longer has is gone already."""
    try:
        await ari.delete(f"/recordings/stored/{quote(name, safe='')}")
    except AriError as exc:
        if exc.status != 404:
            raise
