"""Platform timings: warm Asterisk image build, container start → ARI ready, restart →
ARI ready.

The build is the project's own (scripts/lib/docker.sh through tests.support.asterisk),
run again with everything cached; no image is deleted, so a cold build is measured
apart. The container is the benchmarks' own (bench/rig.py: name and ports moved by
RINGBRIDGE_TEST_SLOT), with freshly generated credentials; "ready" is the first 200
answer to GET /ari/asterisk/info with them, polled every 10 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from bench.rig import bench_asterisk
from tests.support.asterisk import IMAGE, Asterisk, ensure_image

POLL = 0.01  # seconds between ARI polls: the resolution of the ready figures


def seconds_taken(action: Callable[[], None]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def report(name: str, times: list[float]) -> None:
    each = ", ".join(f"{t:.2f}" for t in times)
    print(f"{name:<32} n={len(times):<3} median {statistics.median(times):6.2f} s   "
          f"min {min(times):6.2f} s   max {max(times):6.2f} s   ({each})")


def started_and_ready(asterisk: Asterisk) -> None:
    asterisk.launch()
    asterisk.wait_ready(timeout=60, poll=POLL)


def restarted_and_ready(asterisk: Asterisk) -> None:
    assert asterisk.container is not None
    asterisk.container.restart(timeout=5)
    asterisk.wait_ready(timeout=60, poll=POLL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--restarts", type=int, default=5)
    args = parser.parse_args()
    print(f"image {IMAGE}")
    report("warm image build (all cached)", [seconds_taken(ensure_image)
                                             for _ in range(args.builds)])
    asterisk = bench_asterisk()
    print(f"container {asterisk.name}, ARI on 127.0.0.1:{asterisk.ari_port}")
    try:
        report("container start → ARI ready",
               [seconds_taken(lambda: started_and_ready(asterisk)) for _ in range(args.starts)])
        report("restart → ARI ready",
               [seconds_taken(lambda: restarted_and_ready(asterisk))
                for _ in range(args.restarts)])
    finally:
        asterisk.stop()


if __name__ == "__main__":
    main()
