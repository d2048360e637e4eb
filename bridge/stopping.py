"""Stopping `ringbridge serve` on SIGTERM or SIGINT: in a fixed order, in a bounded time.

`ringbridge serve` passes the signal to each of its processes (bridge/supervisor.py):
1. Refuse new work (each API process, here): the listening socket closes (new
   connections are refused), and on connections already open `/health` answers 503
   `stopping` and every other request 503 with Retry-After.
2. Hand the calls to the next process (the engine's, bridge/engine/process.py): the
   engine stops acting on Asterisk and closes ARI and AMI, so the Stasis app is
   unregistered; calls stay up in Asterisk for the next ringbridge to adopt or take up,
   and new callers are held in the dialplan (asterisk-conf/extensions.conf [stasis-wait]).
3. Exit: every HTTP connection is closed, keep-alive ones too, and waitress's loop ends.

Whatever hangs, each process exits within STOP_BOUND seconds of the signal.

Everything touching waitress's sockets runs on waitress's own loop (through its
trigger): closing a socket from the signal handler, under a select() in progress,
made that select fail with EBADF, and a loop left with open keep-alive connections
never ended.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from waitress import wasyncore
from waitress.server import BaseWSGIServer

log = logging.getLogger(__name__)

SIGNALS = {signal.SIGTERM, signal.SIGINT}
STOP_BOUND = 10.0
ENGINE_STOP_TIMEOUT = 4.0
HTTP_THREADS_TIMEOUT = 1.0


def accept_signals() -> None:
    """A process of `ringbridge serve` starts with SIGTERM and SIGINT blocked
    (bridge/supervisor.py); once its handlers are in place, one sent meanwhile comes."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


class Stopper:
    """Installs the signal handlers and runs the stop in a thread of its own."""

    def __init__(self, server: BaseWSGIServer, stopping: threading.Event,
                 bound: float = STOP_BOUND) -> None:
        self.server = server
        self.stopping = stopping
        self.bound = bound
        self.exited = threading.Event()  # set by serve() when everything is closed

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._signalled)
        signal.signal(signal.SIGINT, self._signalled)
        accept_signals()

    def _signalled(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        log.info("signal %s: API stopping (refusing new work, exiting within %.0f s)",
                 signal.Signals(signum).name, self.bound)
        threading.Thread(target=self._stop, name="stop", daemon=True).start()

    def _stop(self) -> None:
        deadline = time.monotonic() + self.bound
        self._on_server_loop(self._refuse_connections)
        self.server.task_dispatcher.shutdown(timeout=HTTP_THREADS_TIMEOUT)
        self._on_server_loop(self._close_connections)
        if not self.exited.wait(max(0.0, deadline - time.monotonic())):
            log.error("not stopped within %.0f s of the signal: exiting now", self.bound)
            logging.shutdown()
            os._exit(1)

    def _on_server_loop(self, action: Callable[[], None]) -> None:
        self.server.trigger.pull_trigger(action)

    def _refuse_connections(self) -> None:
        wasyncore.dispatcher.close(self.server)  # the listening socket only

    def _close_connections(self) -> None:
        """Every channel and the trigger: with the map empty, waitress's loop ends."""
        wasyncore.close_all(self.server._map, ignore_all=True)
