"""The load benchmarks' and tests' sipp UAS is gone when its block ends, even when sipp
waits for calls that never end (after a failed load step): it would hold the port."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import sipp


def test_a_uas_that_will_not_stop_is_killed(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    stubborn = tmp_path / "sipp"  # as sipp with calls up: SIGTERM does not stop it
    ready = tmp_path / "ready"
    stubborn.write_text(f"#!/bin/sh\ntrap '' TERM\ntouch {ready}\n"
                        "while :; do sleep 0.1; done\n")
    stubborn.chmod(stubborn.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sipp, "UAS_STOP_WAIT", 0.3)
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        started.append(real_popen(*args, **kwargs))  # type: ignore[call-overload]
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", popen)
    with sipp.answering(5999):
        while not ready.exists():  # its TERM trap is set
            time.sleep(0.01)
    [uas] = started
    assert uas.returncode == -9  # killed, and waited for


def stats_file(directory: Path, rows: list[tuple[float, int]]) -> Path:
    """sipp's statistics (-trace_stat): the Unix time of each row and calls placed."""
    path = directory / "stats.csv"
    lines = ["StartTime;CurrentTime;TotalCallCreated;SuccessfulCall(C)"]
    lines += [f"2026-12-07\t05:00:00.0\t{rows[0][0]};2026-12-07\t05:00:00.0\t{at};"
              f"{placed};0" for at, placed in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_placing_rate_is_what_sipp_placed_not_what_it_was_asked(tmp_path: Path) -> None:
    # 100 calls asked at 20/s: placed at 10/s, the last 5 in the half second after 9 s.
    rows = [(1000.0 + second, min(100, 10 * second + 5)) for second in range(12)]
    rows[0] = (1000.0, 0)
    rate = sipp.placing_rate(stats_file(tmp_path, rows), 100)
    assert rate == pytest.approx(100 / 9.5)


def test_a_step_sipp_never_started_placed_nothing(tmp_path: Path) -> None:
    assert sipp.placing_rate(tmp_path / "stats.csv", 100) == 0.0


def test_a_step_sipp_gave_up_on_is_rated_by_the_calls_it_placed(tmp_path: Path) -> None:
    rows = [(1000.0, 0), (1001.0, 30), (1002.0, 60), (1003.0, 60)]
    assert sipp.placing_rate(stats_file(tmp_path, rows), 100) == pytest.approx(20.0)


def test_calls_placed_within_the_first_second_are_rated_by_that_second(
        tmp_path: Path) -> None:
    rows = [(1000.0, 0), (1001.0, 8), (1002.0, 8)]
    assert sipp.placing_rate(stats_file(tmp_path, rows), 8) == pytest.approx(8.0)
