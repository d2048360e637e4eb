"""A fingerprint, kept in Asterisk, of the extensions ringbridge has pushed to it whole.

Asterisk keeps the extensions' objects in memory only (bridge/engine/endpoints.py); a
global variable lives exactly as long, until Asterisk restarts. Once Asterisk has each
extension as the database has it and no change is on its way, the engine writes there
a fingerprint of them all (every object's fields as pushed, so a ringbridge that pushes
other fields does not match); before it changes any endpoint again, it clears it. A
ringbridge starting again that finds the fingerprint of what its database would push
knows with one read that Asterisk has every extension as it is, and pushes none again
(docs/restarts.md). The fields include the passwords; whoever can read the variable
can read them through ARI already.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable

import orjson

from bridge.asterisk.ari import AriClient, AriError
from bridge.engine.endpoints import objects
from bridge.gateway import SipEndpoint

log = logging.getLogger(__name__)
VARIABLE = "RB_EXTENSIONS_PUSHED"
GLOBALS = "/asterisk/variable"


def fingerprint(extensions: Iterable[SipEndpoint], edge: str = "") -> str:
    """Of every extension's objects, in endpoint order (each part is a JSON array: the
    parts cannot run into one another)."""
    digest = hashlib.sha256()
    for extension in sorted(extensions, key=lambda e: e.endpoint_id):
        digest.update(orjson.dumps([extension.endpoint_id, objects(extension, edge)]))
    return digest.hexdigest()


class PushedMark:
    """The fingerprint in one Asterisk, as one engine keeps it. `keeps`: the engine
    writes it (it is the only one changing that Asterisk's endpoints); otherwise it only
    clears one an earlier ringbridge left, as the other engines change endpoints
    without clearing it first."""

    def __init__(self, ari: AriClient, edge: str = "", keeps: bool = True) -> None:
        self.ari = ari
        self.edge = edge
        self.keeps = keeps
        self._maybe_set = True  # not known until read
        self._held = ""  # the fingerprint Asterisk has, when known

    async def matches(self, wanted: list[SipEndpoint]) -> bool:
        """Whether Asterisk has the fingerprint of `wanted`; one of anything else is
        cleared. A read that fails matches nothing."""
        try:
            held = str((await self.ari.get(GLOBALS, {"variable": VARIABLE}))["value"])
        except AriError as exc:
            log.info("extensions pushed before not known (%s): pushing them again", exc)
            await self.before_change()  # none may be kept while endpoints change
            return False
        if held and self.keeps and held == await asyncio.to_thread(
                fingerprint, wanted, self.edge):
            self._maybe_set, self._held = True, held
            return True
        self._maybe_set = bool(held)
        await self.before_change()
        return False

    async def before_change(self) -> None:
        """Clear the fingerprint, if Asterisk may have one, before an endpoint changes."""
        if self._maybe_set:
            await self.ari.post(GLOBALS, {"variable": VARIABLE, "value": ""})
            self._maybe_set, self._held = False, ""

    async def write(self, extensions: list[SipEndpoint]) -> None:
        """Note that Asterisk has `extensions`, exactly, as pushed (unless noted)."""
        if not self.keeps:
            return
        value = await asyncio.to_thread(fingerprint, extensions, self.edge)
        if value != self._held:
            self._maybe_set = True  # before the write: one that fails may still be made
            await self.ari.post(GLOBALS, {"variable": VARIABLE, "value": value})
            self._held = value
