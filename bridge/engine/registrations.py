"""Which extensions have a registered phone, for live views.

Read from ARI's endpoint list (an endpoint with no contact is `offline`), kept until
AMI says a contact changed (ContactStatus) or MAX_AGE has passed. Readers at one moment
share one read; a read that a contact change overtook is used but not kept. A failed
read keeps the last list (a view shows it rather than every phone gone) and is not
tried again for RETRY seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bridge.asterisk.ari import AriClient, AriError

log = logging.getLogger(__name__)
MAX_AGE = 30.0  # seconds
RETRY = 5.0  # seconds after a failed read


class Registrations:
    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self._online: set[str] = set()  # endpoint ids: "1001@acme.example"
        self._fresh_until = 0.0  # time.monotonic(): read again after it
        self._changes = 0  # contact changes seen
        self._reading: asyncio.Task[None] | None = None

    def changed(self, *_: object) -> None:
        """A contact was added, removed, or became (un)reachable: read again when asked."""
        self._changes += 1
        self._fresh_until = 0.0

    async def online(self, domain: str) -> frozenset[str]:
        """The numbers of the domain's extensions whose phone is registered."""
        if time.monotonic() >= self._fresh_until:
            if self._reading is None or self._reading.done():
                self._reading = asyncio.create_task(self._read())
            await asyncio.shield(self._reading)
        suffix = f"@{domain}"
        return frozenset(endpoint.removesuffix(suffix) for endpoint in self._online
                         if endpoint.endswith(suffix))

    async def _read(self) -> None:
        changes = self._changes
        try:
            endpoints: list[dict[str, Any]] = await self.ari.get("/endpoints/PJSIP")
        except AriError as exc:
            log.warning("registrations not read (%s): showing the last ones", exc)
            self._fresh_until = time.monotonic() + RETRY
            return
        self._online = {str(e.get("resource", "")) for e in endpoints
                        if e.get("state") == "online"}
        if changes == self._changes:  # no contact changed while it was read
            self._fresh_until = time.monotonic() + MAX_AGE
