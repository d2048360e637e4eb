"""Which extensions have a registered phone, for live views.

Read from ARI's endpoint list (an endpoint with no contact is `offline`), kept until
AMI says a contact changed (ContactStatus) or MAX_AGE has passed. A failed read keeps
the last list: a view shows it rather than every phone gone.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bridge.asterisk.ari import AriClient, AriError

log = logging.getLogger(__name__)
MAX_AGE = 30.0  # seconds


class Registrations:
    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self._online: set[str] = set()  # endpoint ids: "1001@acme.example"
        self._read_at: float | None = None

    def changed(self, *_: object) -> None:
        """A contact was added, removed, or became (un)reachable: read again when asked."""
        self._read_at = None

    async def online(self, domain: str) -> frozenset[str]:
        """The numbers of the domain's extensions whose phone is registered."""
        if self._read_at is None or time.monotonic() - self._read_at > MAX_AGE:
            await self._read()
        suffix = f"@{domain}"
        return frozenset(endpoint.removesuffix(suffix) for endpoint in self._online
                         if endpoint.endswith(suffix))

    async def _read(self) -> None:
        read_at = time.monotonic()
        try:
            endpoints: list[dict[str, Any]] = await self.ari.get("/endpoints/PJSIP")
        except (AriError, OSError) as exc:
            log.warning("registrations not read (%s): showing the last ones", exc)
            return
        self._online = {str(e.get("resource", "")) for e in endpoints
                        if e.get("state") == "online"}
        self._read_at = read_at
