"""The supervisor of `ringbridge serve`'s processes, run as a real process with real
children: restarts, the stop on SIGTERM, and no child left after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.stopping import accept_signals
from bridge.supervisor import Child, Supervisor
from tests.support.bridge_process import wait_gone

ROOT = Path(__file__).resolve().parents[2]


def note_start(directory: str, name: str) -> None:
    with open(Path(directory) / name, "a") as starts:
        starts.write(f"{os.getpid()}\n")


def run_on(on_sigterm: Any) -> None:
    """Run with this SIGTERM handler (a function, or SIG_IGN) until the process ends."""
    signal.signal(signal.SIGTERM, on_sigterm)
    accept_signals()
    while True:
        time.sleep(1)


def steady(directory: str, name: str) -> None:
    """A child that notes each start (pid per line) and runs until SIGTERM."""
    note_start(directory, name)
    run_on(lambda *_: sys.exit(0))


def slow_start(directory: str, name: str) -> None:
    """Its handler comes a moment after it started, as an API process's does."""
    note_start(directory, name)
    time.sleep(0.5)
    steady(directory, f"{name}-ready")


def deaf(directory: str, name: str) -> None:
    note_start(directory, name)
    run_on(signal.SIG_IGN)


def failing(directory: str, name: str) -> None:
    note_start(directory, name)
    sys.exit(3)


KINDS = {"steady": steady, "failing": failing, "slow-start": slow_start, "deaf": deaf}


def run(directory: str, second: str) -> None:
    """The supervised processes (run by the tests below in a process of their own): "one"
    is steady, "two" of the kind named."""
    children = [Child("one", steady, (directory, "one")),
                Child("two", KINDS[second], (directory, "two"))]
    sys.exit(Supervisor(children, on_stop=lambda: None, bound=1.0).run())


class Supervised:
    def __init__(self, directory: Path, second: str = "steady") -> None:
        self.directory = directory
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from tests.unit.test_supervisor import run; "
             "run(sys.argv[1], sys.argv[2])", str(directory), second], cwd=ROOT)

    def starts(self, name: str, count: int = 1, timeout: float = 10) -> list[int]:
        """The pids `name` started with, once it has started `count` times."""
        deadline = time.monotonic() + timeout
        while True:
            path = self.directory / name
            pids = [int(line) for line in path.read_text().split()] if path.exists() else []
            if len(pids) >= count:
                return pids
            assert time.monotonic() < deadline, f"{name} started {len(pids)} times"
            time.sleep(0.02)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervised]:
    made = Supervised(tmp_path)
    yield made
    made.process.kill()
    made.process.wait()


def test_a_child_killed_is_started_again_and_the_others_left_alone(
        supervised: Supervised) -> None:
    [first], [other] = supervised.starts("one"), supervised.starts("two")
    os.kill(first, signal.SIGKILL)
    second = supervised.starts("one", count=2)[1]
    assert second != first
    assert supervised.starts("two") == [other]
    os.kill(other, 0)  # still running


def test_sigterm_stops_every_child_and_exits_cleanly(supervised: Supervised) -> None:
    children = [*supervised.starts("one"), *supervised.starts("two")]
    supervised.process.send_signal(signal.SIGTERM)
    assert supervised.process.wait(10) == 0
    wait_gone(children, timeout=2)


def test_no_child_outlives_a_kill_9_of_the_supervisor(supervised: Supervised) -> None:
    children = [*supervised.starts("one"), *supervised.starts("two")]
    supervised.process.kill()
    supervised.process.wait()
    wait_gone(children, timeout=2)


def test_a_child_failing_at_start_is_restarted_ever_more_slowly(tmp_path: Path) -> None:
    supervised = Supervised(tmp_path, "failing")
    try:
        supervised.starts("one")
        supervised.starts("two", count=2)  # at once after its first failure
        time.sleep(2.5)  # then after 0.5 s, 1 s, 2 s...
        assert 3 <= len(supervised.starts("two")) <= 5
    finally:
        supervised.process.send_signal(signal.SIGTERM)
        supervised.process.wait(10)


def test_a_signal_before_a_childs_handler_waits_for_it(tmp_path: Path) -> None:
    supervised = Supervised(tmp_path, "slow-start")
    [child] = supervised.starts("two")
    supervised.process.send_signal(signal.SIGTERM)  # before its handler is in place
    assert supervised.process.wait(10) == 0  # the child stopped cleanly, not by SIGTERM
    assert supervised.starts("two-ready") == [child]


def test_a_child_that_ignores_sigterm_is_killed_at_the_bound(tmp_path: Path) -> None:
    supervised = Supervised(tmp_path, "deaf")
    children = [*supervised.starts("one"), *supervised.starts("two")]
    started = time.monotonic()
    supervised.process.send_signal(signal.SIGTERM)
    assert supervised.process.wait(10) == 1
    assert 1.0 <= time.monotonic() - started < 3.0
    wait_gone(children, timeout=2)
