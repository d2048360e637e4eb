"""The reconnect loop ARI and AMI share: one connection at a time, backoff between."""

from __future__ import annotations

import asyncio
import logging

from bridge.telephony.backoff import Backoff

log = logging.getLogger(__name__)


class Supervised:
    """Runs `_connection()` again and again, with backoff, until `close()`.

    `_connection()` handles its own errors (it returns when the connection is lost);
    only cancellation escapes it.
    """

    _what = "connection"

    def __init__(self, backoff: Backoff | None) -> None:
        self._backoff = backoff or Backoff()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False

    async def _connection(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Keep connecting until `close()`; see the class docstring."""
        task = asyncio.current_task()
        assert task is not None, "run() must be awaited inside a task"
        self._runner = task
        try:
            while not self._closing:
                await self._connection()
                delay = self._backoff.next_delay()
                log.debug("next %s attempt in %.2f s", self._what, delay)
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
