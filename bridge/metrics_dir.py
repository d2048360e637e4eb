"""The directory the processes of `ringbridge serve` keep their metrics in.

prometheus_client chooses, once, when it is first imported, between metrics in memory
(one process) and metrics in files of PROMETHEUS_MULTIPROC_DIR that every process writes
and a scrape adds up (its multiprocess mode). `serve` runs several processes, so it sets
that variable, over an emptied directory, before anything imports prometheus_client;
the processes it forks inherit it. This module must not import prometheus_client.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"


def prepare(directory: Path) -> None:
    """Make `directory` the metrics directory of this process and those it forks, empty
    (a file left by an earlier run would add its counts to this run's)."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its metrics directory "
                           "was set: the processes would not add up their metrics")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True)
    os.environ[ENVIRONMENT] = str(directory)
