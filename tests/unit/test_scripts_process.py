"""scripts/lib/process.sh: whether the pid file of scripts/up names a running ringbridge."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.asterisk import ROOT


def alive(pidfile: Path) -> bool:
    check = subprocess.run(["bash", "-c", 'source scripts/lib/process.sh && '
                            'ringbridge_alive "$0"', str(pidfile)], cwd=ROOT)
    return check.returncode == 0


@pytest.fixture
def lookalike() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line reads like `ringbridge serve` (it only sleeps)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                "ringbridge", "serve"])
    yield process
    process.kill()
    process.wait()


def test_a_running_ringbridge_is_alive(tmp_path: Path,
                                       lookalike: subprocess.Popen[bytes]) -> None:
    (tmp_path / "pid").write_text(f"{lookalike.pid}\n")
    assert alive(tmp_path / "pid")


def test_a_killed_ringbridge_not_reaped_yet_is_not(
    tmp_path: Path, lookalike: subprocess.Popen[bytes]
) -> None:
    (tmp_path / "pid").write_text(f"{lookalike.pid}\n")
    lookalike.send_signal(signal.SIGKILL)  # not waited for: a zombie, as after kill -9
    deadline = time.monotonic() + 5
    while Path(f"/proc/{lookalike.pid}/status").read_text().find("State:\tZ") < 0:
        assert time.monotonic() < deadline, "the killed process never became a zombie"
        time.sleep(0.01)
    assert not alive(tmp_path / "pid")


def test_another_program_on_that_pid_or_no_pid_is_not(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    assert not alive(pidfile)  # no file
    with subprocess.Popen(["sleep", "60"]) as other:
        pidfile.write_text(f"{other.pid}\n")
        assert not alive(pidfile)
        other.kill()
    pidfile.write_text("not a pid\n")
    assert not alive(pidfile)
