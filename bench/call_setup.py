"""Call setup latency: caller's INVITE sent → member phone's INVITE received.

Real Asterisk (its own container and ports), ringbridge as a process, pjsua2 phones:
N calls, one at a time, into a one-member ring group through the bridge. Both
instants come from this process's monotonic clock. (Load, calls per second, and the
ratio to a plain Dial() need sipp: not here yet.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from tests.support.asterisk import Asterisk, ensure_image
from tests.support.bridge_process import BridgeProcess
from tests.support.softphone import IncomingPolicy, Phone, SipStack


def setup_times(caller: Phone, member: Phone, number: str, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        outgoing = caller.call(number)
        incoming = member.wait_incoming()
        times.append((incoming.arrived_at - outgoing.arrived_at) * 1000)
        outgoing.wait_answered()
        outgoing.hangup()
        incoming.wait_disconnected()
    return times


def report(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"{name:<34} n={len(ordered):<4} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    ensure_image()
    asterisk = Asterisk(name="ringbridge-bench-asterisk", sip_port=5260, ari_port=8288,
                        ami_port=5238)
    asterisk.start()
    stack = SipStack()
    stack.start()
    workdir = Path(tempfile.mkdtemp(prefix="ringbridge-bench-"))
    bridge = BridgeProcess(asterisk, workdir, log_path=workdir / "ringbridge.log")
    bridge.log_level = "INFO"
    try:
        bridge.start()
        bridge.cli("tenants", "create", "--company-id", "bench", "--sip-domain",
                   "bench.example")
        token = bridge.cli("tokens", "create", "--tenant", "bench").strip()
        passwords = {}
        for number in ("4001", "4002"):
            created = bridge.api("POST", "/api/extensions", token,
                                 json={"extension_number": number}).json()
            passwords[number] = bridge.api("GET", f"/api/extensions/{created['id']}",
                                           token).json()["password"]
        group = bridge.api("POST", "/api/ring_groups", token, json={
            "name": "bench", "extension_number": "6400",
            "ring_strategy": "RING_SIMULTANEOUSLY"}).json()["id"]
        bridge.api("POST", f"/api/ring_groups/{group}/agents", token,
                   json={"items": [{"extension_number": "4002"}]})
        caller = stack.phone("4001", passwords["4001"], domain="bench.example",
                             registrar=asterisk.registrar)
        member = stack.phone("4002", passwords["4002"], domain="bench.example",
                             registrar=asterisk.registrar, policy=IncomingPolicy.ANSWER)
        setup_times(caller, member, "6400", 5)  # warm-up
        report("ring group via ringbridge", setup_times(caller, member, "6400", args.calls))
        print("target: setup p99 <= 30 ms through ringbridge")
        caller.close()
        member.close()
    finally:
        bridge.stop()
        stack.stop()
        asterisk.stop()


if __name__ == "__main__":
    main()
