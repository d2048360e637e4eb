"""Call setup latency: caller's INVITE sent → member phone's INVITE received.

Real Asterisk (its own container and ports), ringbridge as a process, pjsua2 phones:
N calls, one at a time, into a one-member ring group through the bridge. Both
instants come from this process's monotonic clock. (Load, calls per second, and the
ratio to a plain Dial() need sipp: not here yet.)
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.rig import DOMAIN, bench_rig
from tests.support.softphone import IncomingPolicy, Phone, SipStack

PAUSE = 0.1  # seconds between calls


def setup_times(caller: Phone, member: Phone, number: str, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        outgoing = caller.call(number)
        incoming = member.wait_incoming()
        times.append((incoming.arrived_at - outgoing.arrived_at) * 1000)
        outgoing.wait_answered()
        outgoing.hangup()
        incoming.wait_disconnected()
        # pjsua frees a closed socket's slot only after a delay; back-to-back calls would
        # use up its 64 (an assertion in pj_ioqueue_register_sock2).
        time.sleep(PAUSE)
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
    stack = SipStack()
    stack.start()
    try:
        with bench_rig() as rig:
            rig.extension("4001")
            rig.extension("4002")
            rig.group("6400", ["4002"])
            registrar = rig.asterisk.registrar
            caller = stack.phone("4001", rig.passwords["4001"], domain=DOMAIN,
                                 registrar=registrar)
            member = stack.phone("4002", rig.passwords["4002"], domain=DOMAIN,
                                 registrar=registrar, policy=IncomingPolicy.ANSWER)
            setup_times(caller, member, "6400", 5)  # warm-up
            report("ring group via ringbridge",
                   setup_times(caller, member, "6400", args.calls))
            print("target: setup p99 <= 30 ms through ringbridge")
            caller.close()
            member.close()
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
