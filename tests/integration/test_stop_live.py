"""Stopping the real ringbridge process: bounded, in order, with API clients connected."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from bridge.stopping import STOP_BOUND
from tests.support.bridge_process import BridgeProcess

STOPS = 12  # the stop used to hang about one time in four


def _hammer(client: httpx.Client, seen: list[int | str], done: threading.Event) -> None:
    """GET /health on one keep-alive connection until it is closed under us."""
    while not done.is_set():
        try:
            seen.append(client.get("/health").status_code)
        except httpx.TransportError as exc:
            seen.append(type(exc).__name__)
            return


def _stop_once(bridge: BridgeProcess) -> tuple[float, list[int | str]]:
    """SIGTERM with idle keep-alive clients and one asking /health all along: how long
    the process took to exit, and what the asking client got, in order."""
    assert bridge.process is not None
    # Plain HTTP on loopback: verify=False only spares loading the CA bundle.
    idle = [httpx.Client(base_url=bridge.url, timeout=2, verify=False) for _ in range(4)]
    asking = httpx.Client(base_url=bridge.url, timeout=2, verify=False)
    seen: list[int | str] = []
    done = threading.Event()
    try:
        for client in [*idle, asking]:
            assert client.get("/health").status_code == 200  # its connection is open now
        hammer = threading.Thread(target=_hammer, args=(asking, seen, done))
        hammer.start()
        time.sleep(0.2)
        started = time.monotonic()
        bridge.process.send_signal(signal.SIGTERM)
        try:
            returncode = bridge.process.wait(STOP_BOUND + 5)
        finally:
            done.set()
            hammer.join()
        elapsed = time.monotonic() - started
        assert returncode == 0, bridge.log()[-3000:]
        return elapsed, seen
    finally:
        bridge.process = None
        for client in [*idle, asking]:
            client.close()


@pytest.mark.parametrize("attempt", range(STOPS))
def test_sigterm_with_keep_alive_clients_stops_within_the_bound(
    bridge: BridgeProcess, attempt: int
) -> None:
    seen_before = len(bridge.log())
    elapsed, seen = _stop_once(bridge)
    assert elapsed < STOP_BOUND, f"the stop took {elapsed:.1f} s"
    answers = [status for status in seen if isinstance(status, int)]
    # 200 until the signal, then 503 ("stopping"), then the connection is closed.
    assert answers == sorted(answers) and set(answers) <= {200, 503}, seen
    assert 503 in answers, f"no 503 while stopping: {seen}"
    assert isinstance(seen[-1], str), f"the connection stayed open: {seen}"
    assert "Bad file descriptor" not in bridge.log()[seen_before:]
