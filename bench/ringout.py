"""RingOut: POST → INVITE at the caller's phone (p50/p99), and a burst of RingOuts at once.

Real Asterisk (its own container and ports), ringbridge as a process with rate limits
off. Latency: N RingOuts one at a time from a pjsua2 phone that refuses each call (486)
at once; both instants come from this process's monotonic clock. Burst: M RingOuts
POSTed together from M threads between two extensions whose contacts point at a sipp
UAS that answers everything; each must reach callStatus Success.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from bench.call_load import point_member_at_uas
from bench.call_setup import report
from bench.rig import DOMAIN, BenchRig, bench_rig
from bridge.store.models import CallStep, RingOut
from bridge.store.session import Database
from tests.support import sipp
from tests.support.asterisk import SLOT
from tests.support.softphone import IncomingPolicy, Phone, SipStack

UAS_PORT = 5292 + 10 * SLOT  # bench.call_load points contacts at this port's sipp
SETTINGS = {"RESTAPI_HEAVY_PER_MINUTE": "0", "RESTAPI_LIGHT_PER_MINUTE": "0"}


def path(rig: BenchRig, extension_id: str, ringout_id: str = "") -> str:
    base = f"/restapi/v1.0/account/~/extension/{extension_id}/ring-out"
    return f"{base}/{ringout_id}" if ringout_id else base


def start(rig: BenchRig, extension_id: str, source: str, to: str) -> str:
    response = rig.bridge.api("POST", path(rig, extension_id), rig.token, json={
        "from": {"phoneNumber": source}, "to": {"phoneNumber": to}})
    response.raise_for_status()
    return str(response.json()["id"])


def status(rig: BenchRig, extension_id: str, ringout_id: str) -> Any:
    return rig.bridge.api("GET", path(rig, extension_id, ringout_id), rig.token).json()


def latencies(rig: BenchRig, extension_id: str, caller: Phone, count: int) -> list[float]:
    times = []
    for _ in range(count):
        posted = time.monotonic()
        start(rig, extension_id, caller.username, "+14155550100")
        incoming = caller.wait_incoming()
        times.append((incoming.arrived_at - posted) * 1000)
        incoming.wait_disconnected()
    return times


def burst(rig: BenchRig, extension_id: str, count: int, timeout: float) -> tuple[int, float]:
    """RingOuts 4101 → 4102 POSTed together; (how many reached Success through the API,
    seconds from the first POST to the last connect, from the stored call steps)."""
    began = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        ids = list(pool.map(lambda _: start(rig, extension_id, "4101", "4102"), range(count)))
    print(f"  {count} POSTs answered in {time.monotonic() - began:.2f} s")
    pending = set(ids)
    while pending and time.monotonic() - began < timeout:  # one client, polling
        time.sleep(0.5)
        pending = {i for i in pending
                   if status(rig, extension_id, i)["status"]["callStatus"] != "Success"}
    for ringout_id in ids:  # connected calls are not cancelled by DELETE: hang up leg 1
        rig.asterisk.ari("DELETE", f"/channels/rb-{ringout_id}-1")
    return count - len(pending), connect_span(rig, ids)


def connect_span(rig: BenchRig, ids: list[str]) -> float:
    """Seconds from the first RingOut's creation to the last one's connect."""
    database = Database(rig.bridge.environment()["RINGBRIDGE_DATABASE_URL"])
    try:
        with database.session() as session:
            first = session.scalar(select(func.min(RingOut.created_at)).where(
                RingOut.id.in_([int(i) for i in ids])))
            last = session.scalar(select(func.max(CallStep.at)).where(
                CallStep.call_id.in_(ids), CallStep.detail.endswith("answered; connecting")))
    finally:
        database.dispose()
    return (last - first).total_seconds() if first and last else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ringouts", type=int, default=100, help="for the latency")
    parser.add_argument("--burst", type=int, default=50, help="RingOuts started at once")
    args = parser.parse_args()
    stack = SipStack()
    stack.start()
    try:
        with sipp.answering(UAS_PORT), bench_rig(SETTINGS) as rig:
            owner = rig.extension("4001")
            for number in ("4101", "4102"):
                rig.extension(number)
                point_member_at_uas(rig, number, UAS_PORT)
            caller = stack.phone("4001", rig.passwords["4001"], domain=DOMAIN,
                                 registrar=rig.asterisk.registrar,
                                 policy=IncomingPolicy.BUSY)
            latencies(rig, owner, caller, 5)  # warm-up
            report("RingOut POST -> caller INVITE", latencies(rig, owner, caller,
                                                             args.ringouts))
            caller.close()
            reached, took = burst(rig, owner, args.burst, timeout=60)
            print(f"{args.burst} RingOuts at once: {reached} reached Success; the last "
                  f"connected {took:.2f} s after the first was created")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
