"""Which extensions have a registered phone, for live views and for the hunt.

Read from ARI's endpoint list (an endpoint with no contact is `offline`), kept until
AMI says a contact changed (ContactStatus) or MAX_AGE has passed. Readers at one moment
share one read; a read that a contact change overtook is used but not kept. A failed
read keeps the last list (a view shows it rather than every phone gone) and is not
tried again for RETRY seconds.

The hunt asks only whether a phone is surely registered (`surely_online`), without
waiting: yes when the list is at most MAX_AGE old, AMI is connected (so no contact
change went unheard), and no contact of that endpoint changed since the list was read.
Anything else is "not known", and the hunt reads the endpoint itself, as it did for
every member before: a phone that just registered or left is never judged on an old
list.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from bridge import metrics
from bridge.asterisk.ami import AmiEvent
from bridge.asterisk.ari import AriClient, AriError

log = logging.getLogger(__name__)
MAX_AGE = 30.0  # seconds
RETRY = 5.0  # seconds after a failed read


class Registrations:
    def __init__(self, ari: AriClient, hearing: Callable[[], bool] = lambda: True) -> None:
        self.ari = ari
        self._hearing = hearing  # whether AMI is connected: contact changes are heard
        self._online: set[str] = set()  # endpoint ids: "1001@acme.example"
        self._fresh_until = 0.0  # time.monotonic(): read again after it
        self._read_at = float("-inf")  # time.monotonic() of the last read's start
        self._heard_since = float("inf")  # AMI's (re)connect: changes heard after it
        self._changed: set[str] = set()  # endpoints with a contact change since then
        self._changes = 0  # contact changes seen
        self._reading: asyncio.Task[None] | None = None

    def changed(self, event: AmiEvent) -> None:
        """A contact was added, removed, updated or became (un)reachable: views read
        again when asked, and the hunt reads that endpoint itself until the next read."""
        metrics.CONTACT_CHANGES.inc()
        self._changes += 1
        self._fresh_until = 0.0
        self._changed.add(event.get("EndpointName", ""))

    def unheard(self) -> None:
        """AMI connected again: contact changes may have gone unheard meanwhile."""
        self._changes += 1
        self._fresh_until = 0.0
        self._heard_since = time.monotonic()

    async def online(self, domain: str) -> frozenset[str]:
        """The numbers of the domain's extensions whose phone is registered."""
        if time.monotonic() >= self._fresh_until:
            await asyncio.shield(self._read_soon())
        suffix = f"@{domain}"
        return frozenset(endpoint.removesuffix(suffix) for endpoint in self._online
                         if endpoint.endswith(suffix))

    def surely_online(self, endpoint: str) -> bool:
        """Whether the endpoint's phone is registered, by a list that is surely still
        true for it; False when not known. An old list is read again meanwhile."""
        now = time.monotonic()
        if now >= self._read_at + MAX_AGE or self._read_at < self._heard_since:
            if now >= self._fresh_until:
                self._read_soon()
            return False
        return self._hearing() and endpoint in self._online and endpoint not in self._changed

    def _read_soon(self) -> asyncio.Task[None]:
        """The read under way, else a new one."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.get_running_loop().create_task(self._read())
        return self._reading

    async def _read(self) -> None:
        changes, changed, started = self._changes, set(self._changed), time.monotonic()
        try:
            endpoints: list[dict[str, Any]] = await self.ari.get("/endpoints/PJSIP")
        except AriError as exc:
            log.warning("registrations not read (%s): showing the last ones", exc)
            self._fresh_until = time.monotonic() + RETRY
            return
        self._online = {str(e.get("resource", "")) for e in endpoints
                        if e.get("state") == "online"}
        self._changed -= changed  # the read saw those; not a change made while it ran
        self._read_at = started
        if changes == self._changes:  # no contact changed while it was read
            self._fresh_until = time.monotonic() + MAX_AGE
