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
