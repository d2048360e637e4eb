"""Dispatch ringing latency: the agent phone sends 180 → the dispatcher has the POST.

Real Asterisk, ringbridge as a process, pjsua2 phones and a local HTTP receiver, all
timed on this process's monotonic clock. The member phone answers every INVITE with
180 at once, so the INVITE's arrival is the moment its 180 leaves. N calls alone, then
N calls while another process sends filtered ring group lists to the API: at a steady
rate, then as fast as it answers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from typing import Any

import httpx

from bench.call_setup import PAUSE, report
from bench.rig import DOMAIN, BenchRig, bench_rig
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.softphone import IncomingPolicy, Phone, SipStack

LIST = "/api/ring_groups?filter=name eq 'bench' and ring_time ge 5&orderby=name desc&top=50"


def ringing_latencies(caller: Phone, member: Phone, receiver: DispatchReceiver,
                      calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        receiver.clear()
        outgoing = caller.call("6400")
        incoming = member.wait_incoming()
        ringing = receiver.wait_for("/telephony/ringing")[0]
        times.append((ringing.received_at - incoming.arrived_at) * 1000)
        outgoing.hangup()
        incoming.wait_disconnected()
        time.sleep(PAUSE)
    return times


class ApiLoad:
    """API requests from a process of its own, together at `rate` requests/s (0: as fast
    as the API answers, each of `threads` threads keeping one request in flight); counts
    the answers. Not in this process: the receiver's thread, which times each `ringing`
    POST, would wait for the load's threads to let go of the GIL."""

    def __init__(self, rig: BenchRig, threads: int, rate: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.stopping = context.Event()
        self.results: multiprocessing.Queue[tuple[int, int, float]] = context.Queue()
        self.process = context.Process(
            target=send_requests, daemon=True,
            args=(rig.bridge.url, rig.token, threads, rate, self.stopping, self.results))

    def __enter__(self) -> ApiLoad:
        self.process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.answers, self.failures, self.elapsed = self.results.get(timeout=60)
        self.process.join()


def send_requests(url: str, token: str, threads: int, rate: float, stopping: Any,
                  results: Any) -> None:
    """ApiLoad's process: the threads, then (answers, failures, seconds) to `results`."""
    interval = threads / rate if rate else 0.0
    counts: list[tuple[int, int]] = []

    def work() -> None:
        answers = failures = 0
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
            next_at = time.monotonic()
            while not stopping.is_set():
                ok = http.get(LIST).status_code == 200
                answers, failures = answers + ok, failures + (not ok)
                next_at += interval
                stopping.wait(max(0.0, next_at - time.monotonic()))
        counts.append((answers, failures))

    started = time.monotonic()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((sum(a for a, _ in counts), sum(f for _, f in counts),
                 time.monotonic() - started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--api-threads", type=int, default=4)
    parser.add_argument("--api-rate", type=float, default=50,
                        help="steady API load, requests/s (the run after it saturates)")
    parser.add_argument("--api-workers", type=int, default=1,
                        help="ringbridge's API processes (the engine has its own)")
    args = parser.parse_args()
    stack = SipStack()
    stack.start()
    receiver = DispatchReceiver()
    receiver.start()
    try:
        with bench_rig({"API_WORKERS": str(args.api_workers)}) as rig:
            print(f"ringbridge: 1 engine process, {args.api_workers} API process(es)")
            rig.extension("4001")
            rig.extension("4002", agent_id="agent4002@bench.example")
            rig.group("6400", ["4002"], queue_id="main@bench.example", queue_type="customer",
                      ring_time=20)
            rig.bridge.api("POST", "/api/dispatch/settings", rig.token,
                           json={"base_url": receiver.url, "signing_secret": "generate"})
            registrar = rig.asterisk.registrar
            caller = stack.phone("4001", rig.passwords["4001"], domain=DOMAIN,
                                 registrar=registrar)
            member = stack.phone("4002", rig.passwords["4002"], domain=DOMAIN,
                                 registrar=registrar, policy=IncomingPolicy.RING)
            ringing_latencies(caller, member, receiver, 5)  # warm-up
            report("180 -> ringing POST, alone", ringing_latencies(
                caller, member, receiver, args.calls))
            for rate in (args.api_rate, 0):
                with ApiLoad(rig, args.api_threads, rate) as load:
                    under_load = ringing_latencies(caller, member, receiver, args.calls)
                served = load.answers / load.elapsed
                what = f"{rate:g} req/s asked" if rate else "saturated"
                report(f"180 -> ringing POST, API {what}", under_load)
                print(f"  API load meanwhile: {served:.0f} req/s served "
                      f"({args.api_threads} threads, {load.failures} failed)")
            print("targets: p50 <= 5 ms, p99 <= 15 ms (also with the API saturated)")
            caller.close()
            member.close()
    finally:
        receiver.stop()
        stack.stop()


if __name__ == "__main__":
    main()
