"""`ringbridge serve`'s processes: started, restarted when one dies, stopped together.

Children are forked, so they inherit the listening socket and the gateway link's key
without either touching the disk. Each dies with the supervisor (PR_SET_PDEATHSIG), so
`kill -9` of `ringbridge serve` leaves no process behind to act on calls.

A child that dies while no stop was asked for is started again at once; when it dies
again within STEADY seconds, after a delay that doubles from FIRST_DELAY up to MAX_DELAY
(a child failing at start does not spin). On SIGTERM or SIGINT every child gets SIGTERM,
in the order given (bridge/stopping.py tells what each does); one still running BOUND
seconds later gets SIGKILL.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from bridge.stopping import SIGNALS, STOP_BOUND

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15  # <linux/prctl.h>
NAME_PREFIX = "rb-"  # `ps`, `top` and /proc/PID/comm show rb-engine, rb-api-1...
FIRST_DELAY, MAX_DELAY = 0.5, 10.0
STEADY = 10.0  # a child up this long before dying is restarted at once
BOUND = STOP_BOUND + 2.0  # each child bounds its own stop; this is for one that hangs
POLL = 0.5  # the longest the supervisor sleeps: a signal is acted on within this
_FORK = multiprocessing.get_context("fork")


@dataclass
class Child:
    name: str
    target: Callable[..., None]
    args: tuple[Any, ...]
    closes: tuple[socket.socket, ...] = ()  # inherited, not for this child: closed first
    process: BaseProcess | None = None
    started: float = 0.0
    delay: float = 0.0  # before the next restart, if this run ends soon too
    restart_at: float | None = None
    killed: bool = False

    def start(self) -> None:
        """Forked with SIGTERM and SIGINT blocked, so neither meets the child before it
        has its own handlers (it unblocks them: bridge/stopping.py, accept_signals)."""
        self.process = _FORK.Process(target=_child_main, name=self.name, args=(
            os.getpid(), self.name, self.closes, self.target, self.args))
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        self.started, self.restart_at, self.killed = time.monotonic(), None, False
        log.info("%s started (pid %s)", self.name, self.process.pid)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()


class Supervisor:
    def __init__(self, children: list[Child], on_stop: Callable[[], None],
                 bound: float = BOUND,
                 on_exit: Callable[[int], None] = lambda pid: None) -> None:
        self.children = children  # signalled in this order
        self.on_stop = on_stop  # first thing on the signal, in this process
        self.on_exit = on_exit  # with the pid of each child that exited
        self.bound = bound
        self.stop_deadline: float | None = None

    def run(self) -> int:
        """Until every child has exited after a signal; 0 when each stopped cleanly."""
        signal.signal(signal.SIGTERM, self._signalled)
        signal.signal(signal.SIGINT, self._signalled)
        for child in self.children:
            if self.stop_deadline is None:
                child.start()
        clean = True
        while not self._done():
            running = {c.process.sentinel: c for c in self.children
                       if c.process is not None and c.process.exitcode is None}
            for sentinel in wait(list(running), timeout=self._next_wake()):
                assert isinstance(sentinel, int)
                clean = self._exited(running[sentinel]) and clean
            self._restart_due()
            clean = self._kill_past_bound() and clean
        return 0 if clean else 1

    def _done(self) -> bool:
        return self.stop_deadline is not None and not any(c.alive for c in self.children)

    def _next_wake(self) -> float:
        due = [c.restart_at for c in self.children if c.restart_at is not None]
        due += [self.stop_deadline] if self.stop_deadline is not None else []
        return max(0.0, min([*due, time.monotonic() + POLL]) - time.monotonic())

    def _exited(self, child: Child) -> bool:
        assert child.process is not None
        child.process.join()
        code = child.process.exitcode or 0
        if child.process.pid is not None:
            self.on_exit(child.process.pid)
        if self.stop_deadline is not None:
            log.info("%s stopped (exit code %d)", child.name, code)
            return code == 0
        lived = time.monotonic() - child.started
        wait_for = 0.0 if lived >= STEADY else child.delay
        child.delay = 0.0 if lived >= STEADY else min(max(FIRST_DELAY, wait_for * 2),
                                                       MAX_DELAY)
        child.restart_at = time.monotonic() + wait_for
        log.error("%s (pid %s) died after %.1f s (exit code %d); restarting in %.1f s",
                  child.name, child.process.pid, lived, code, wait_for)
        return True

    def _restart_due(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None and child.restart_at <= now:
                if self.stop_deadline is None:
                    child.start()
                child.restart_at = None

    def _kill_past_bound(self) -> bool:
        """SIGKILL, once, to each child still running at the bound; False if any was."""
        if self.stop_deadline is None or time.monotonic() < self.stop_deadline:
            return True
        hung = [c for c in self.children if c.alive]
        for child in hung:
            if not child.killed and child.process is not None:
                log.error("%s did not stop within %.0f s: killing it", child.name,
                          self.bound)
                child.process.kill()
                child.killed = True
        return not hung

    def _signalled(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_deadline is not None:
            return
        self.stop_deadline = time.monotonic() + self.bound
        log.info("signal %s: stopping every process", signal.Signals(signum).name)
        self.on_stop()
        for child in self.children:
            if child.alive and child.process is not None and child.process.pid:
                os.kill(child.process.pid, signal.SIGTERM)


def _child_main(parent: int, name: str, closes: tuple[socket.socket, ...],
                target: Callable[..., None], args: tuple[Any, ...]) -> None:
    """In the child: die with the parent, leave the parent's signal handlers and the
    sockets it does not need behind, and carry a name the system's tools show."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    for inherited in closes:
        inherited.close()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    libc.prctl(PR_SET_NAME, (NAME_PREFIX + name).encode()[:15], 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(1)
    target(*args)
