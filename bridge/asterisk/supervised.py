"""The reconnect loop ARI and AMI share: one connection at a time, backoff between."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bridge.asterisk.backoff import Backoff


class Supervised:
    """Runs `_connection()` again and again, with backoff, until `close()`.

    `_connection()` handles its own errors (it returns when the connection is lost);
    only cancellation escapes it. It reports `_opened()` once connected and
    `_lost(exc)` when the connection (or the attempt) ends: an outage is logged once,
    its end with its length, and a connection that lasted `stable_after` seconds resets
    the backoff. `ready` turns true only once on_connected has succeeded on the open
    connection, and false again when that connection ends.
    """

    def __init__(self, backoff: Backoff | None, on_connected: Callable[[], Awaitable[None]]
                 | None, stable_after: float) -> None:
        self._backoff = backoff or Backoff()
        self._on_connected = on_connected
        self._stable_after = stable_after
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._opened_at: float | None = None
        self._outage_since: float | None = None
        self._resynced = False  # on_connected succeeded on the current connection
        # Log under the client's own module (bridge.asterisk.ari / .ami).
        self._log = logging.getLogger(type(self).__module__)

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    @property
    def ready(self) -> bool:
        """Connected, and on_connected has finished on this connection (for /health: the
        resync, e.g. pushing every endpoint, is done). Safe to read from other threads."""
        return self._resynced and self.connected

    def _describe_target(self) -> str:
        return type(self).__name__

    def _stopping(self) -> bool:
        """Whether ringbridge is stopping this client (a failure then is no fault)."""
        return self._closing

    async def _opened(self) -> None:
        """Connected: run on_connected (a failure there drops the connection to retry)."""
        self._opened_at = asyncio.get_running_loop().time()
        if self._on_connected is not None:
            try:
                await self._on_connected()
            except Exception as exc:
                if self._stopping():
                    self._log.info("%s: on_connected cut short: ringbridge is stopping (%s)",
                                   self._describe_target(), describe(exc))
                else:
                    self._log.exception("%s: on_connected failed; reconnecting so that it "
                                        "can run again", self._describe_target())
                raise
        self._resynced = True
        if self._outage_since is None:
            self._log.info("%s up", self._describe_target())
        else:
            outage = asyncio.get_running_loop().time() - self._outage_since
            self._log.info("%s up again after %.1f s", self._describe_target(), outage)
            self._outage_since = None

    def _lost(self, exc: BaseException) -> bool:
        """Bookkeeping for an ended connection; True when it had been open."""
        now = asyncio.get_running_loop().time()
        opened_at, self._opened_at = self._opened_at, None
        if opened_at is not None and now - opened_at >= self._stable_after:
            self._backoff.reset()
        if self._stopping():
            self._log.info("%s closed: ringbridge is stopping", self._describe_target())
        elif self._outage_since is None:
            self._outage_since = now
            what = "lost" if opened_at is not None else "unavailable"
            self._log.warning("%s %s (%s); reconnecting with backoff", self._describe_target(),
                        what, describe(exc))
        else:
            self._log.debug("%s: reconnect attempt failed: %s", self._describe_target(),
                      describe(exc))
        return opened_at is not None

    async def _connection(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Keep connecting until `close()`; see the class docstring."""
        task = asyncio.current_task()
        assert task is not None, "run() must be awaited inside a task"
        self._runner = task
        try:
            while not self._closing:
                try:
                    await self._connection()
                finally:
                    self._resynced = False
                delay = self._backoff.next_delay()
                self._log.debug("%s: next attempt in %.2f s", self._describe_target(), delay)
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            task.uncancel()  # the cancellation was close() stopping us: finish normally
        finally:
            self._runner = None

    async def _stop_running(self) -> None:
        """Stop `run()` (interrupting a connect, a callback or a backoff wait).

        Not from inside run()'s own callbacks, which run() would then wait for: use
        `asyncio.create_task(client.close())` there.
        """
        runner = self._runner
        if runner is not None and runner is asyncio.current_task():
            raise RuntimeError(f"close() awaited from a {type(self).__name__} callback; "
                               "use create_task")
        self._closing = True
        if runner is not None:
            runner.cancel()
            await asyncio.wait({runner})


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
