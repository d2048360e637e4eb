"""Gateway link round trips: an API process's call to the engine in another process.

The engine's end is the real GatewayServer in a forked process, over an engine that
answers at once (what is measured is the crossing: pickling, the unix socket, the
threads on each side). `status` is the smallest call; `live_calls` answers with
`--calls` live calls of two parties each, as a busy tenant's phone calls list does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bridge.engine.gateway_server import GatewayServer
from bridge.gateway import LiveCall, Party, PartyState
from bridge.gateway_client import GatewayClient
from bridge.gateway_link import GatewayLink, GatewayLinks
from tests.api.conftest import RecordingProvisioner


def live_call(number: int) -> LiveCall:
    now = datetime.now(UTC)
    parties = (Party("00", f"caller-{number}", "+442071234567", "Caller", True, True,
                     PartyState.UP, answered_at=now),
               Party("01", f"agent-{number}", "2001", "Agent", False, False, PartyState.UP,
                     ringing_at=now, answered_at=now))
    return LiveCall(f"call{number}", "acme.example", now, now, True, "6000", parties)


def run_engine(link: GatewayLink, calls: int) -> None:
    server = GatewayServer(RecordingProvisioner(calls=[live_call(n) for n in range(calls)]),
                           link)
    server.start()
    while True:
        time.sleep(1)


def measure(label: str, call: Callable[[], object], count: int) -> None:
    for _ in range(100):  # warm: connection made, code paths hot
        call()
    took = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1e6)
    cuts = statistics.quantiles(took, n=100, method="inclusive")
    print(f"{label:<36} n={count}  p50 {statistics.median(took):6.0f} µs  "
          f"p99 {cuts[98]:6.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="round trips per figure")
    parser.add_argument("--calls", type=int, default=20, help="live calls in the answer")
    options = parser.parse_args()
    links = GatewayLinks.create()
    link = links.links[0]
    engine = multiprocessing.get_context("fork").Process(
        target=run_engine, args=(link, options.calls), daemon=True)
    engine.start()
    client = GatewayClient(link)
    try:
        deadline = time.monotonic() + 10
        while not client.status().ari:
            if time.monotonic() > deadline:
                raise SystemExit("the engine's end of the link did not come up")
            time.sleep(0.01)
        measure("status", client.status, options.count)
        measure(f"live_calls ({options.calls} calls)",
                lambda: client.live_calls("acme.example"), options.count)
    finally:
        client.close()
        engine.kill()
        links.remove()


if __name__ == "__main__":
    main()
