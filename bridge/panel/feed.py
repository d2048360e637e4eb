"""This API process's ear on the engine: one thread waits on the gateway for the
engine's next change (bridge/engine/changes.py) and wakes every open panel stream.

The wait is a gateway call the engine answers the moment a call event, a parking lot
event or a registration change happens, so a change reaches the streams within a
round trip (about 0.1 ms), not at a polling interval. While the engine is away the
streams are woken once a second, to say so.
"""

from __future__ import annotations

import logging
import threading
import time

from bridge.gateway import EngineGateway, GatewayError

log = logging.getLogger(__name__)
WAIT = 25.0  # seconds one gateway call waits for a change
RETRY = 1.0  # seconds between tries while the engine is away


class LiveFeed:
    def __init__(self, gateway: EngineGateway) -> None:
        self.gateway = gateway
        self._version = 0
        self.office_version = 0  # moves when this process changed what the database holds
        self._woken = threading.Condition()
        self._started = False

    def version(self) -> int:
        """Started on the first panel's first look."""
        with self._woken:
            if not self._started:
                self._started = True
                threading.Thread(target=self._follow, name="panel-feed", daemon=True).start()
            return self._version

    def wait(self, version: int, timeout: float) -> int:
        """The version once it is not `version` (something changed), or after `timeout`."""
        with self._woken:
            self._woken.wait_for(lambda: self._version != version, timeout=timeout)
            return self._version

    def touch(self) -> None:
        """A panel action changed the database (a pause): streams read it again now."""
        with self._woken:
            self.office_version += 1
        self._wake()

    def _follow(self) -> None:
        seen = -1
        while True:
            try:
                count = self.gateway.changes(seen, WAIT)
            except GatewayError as exc:
                log.debug("panel feed: %s; trying again", exc.message)
                self._wake()
                time.sleep(RETRY)
                continue
            except Exception:  # a bug: the panels must not fall back to slow reads
                log.exception("panel feed: waiting on the engine failed; trying again")
                time.sleep(RETRY)
                continue
            if count != seen:
                seen = count
                self._wake()

    def _wake(self) -> None:
        with self._woken:
            self._version += 1
            self._woken.notify_all()
