"""The cluster of `scripts/cluster` (docs/cluster.md): calls per second through its SIP
edge with one Asterisk node in use and with two, and an Asterisk node's death under load.

sipp places 2-second calls through the edge (digest auth at the edge, as extension 4001)
into a one-member ring group whose member is a sipp UAS (its contact set on both nodes,
as in bench/call_load.py). Each rate runs for a fixed number of calls; the first rate
with a failed call ends the ramp. A step counts at the rate sipp placed its calls at
(its statistics), short of the rate asked when the machine cannot keep up. Each step
prints every node's share of the calls (its ringbridge's own log) and CPU per call (its
Asterisk's process and its ringbridge's).
Then, at `--kill-rate`, Asterisk node 2 is killed with -9 halfway: how long the edge
took to take it out, the calls lost, and how long after its start again it is back;
and ringbridge node 2 is killed with -9 halfway: how long node 1 took to take its
Asterisk node over, and the calls that failed. `--directory N` adds N extensions (in a
tenant of their own, deleted at the end) before that kill, for a takeover of a large
directory.

sipp's calls all come from one address, so the benchmark starts the cluster afresh with
the edge's flood limit (kamailio/edge.cfg's FLOOD_REQUESTS) raised far above its rates.

On one machine all the nodes share its cores: two nodes spread the calls, but add no
CPU; the figures show the spread and each node's cost, not a cluster's capacity.
"""

from __future__ import annotations

import argparse
import re
import secrets
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.call_load import asterisk_pid, climb, cpu_seconds
from bench.rig import BenchRig
from tests.support import sipp
from tests.support.bridge_process import child_pids
from tests.support.cluster import ASTERISK_ADDRESSES, EDGE, STATE, Cluster, ClusterNode
from tests.support.polling import wait_until

UAS_PORT = 5590
CALL_SECONDS = 2.0
FLOOD_REQUESTS = 60_000  # in 2 s from sipp's address: no rate of the ramp comes near
DISPLAYED = re.compile(r"bridge\.calls: call \S+: 4001 -> 6400 ")


def node_pids(cluster: Cluster, number: int) -> list[int]:
    """Asterisk node `number`'s process and its ringbridge's processes."""
    serve = int((STATE / f"node-{number}" / "ringbridge.pid").read_text())
    return [asterisk_pid(cluster.asterisks[number - 1]), serve, *child_pids(serve)]


def calls_run(node: ClusterNode, since: int) -> int:
    """Calls into the bench group the node's ringbridge ran, past `since` characters of
    its log."""
    return len(DISPLAYED.findall(node.log(), since))


def place(users: Path, password: str, rate: int, calls: int, stats: Path) -> list[str]:
    """sipp's command line: `calls` calls at `rate` through the edge; its figures in
    `stats`, its errors beside them."""
    return [*sipp.caller(EDGE, users, "4001", password, "6400", port=sipp.free_udp_port(),
                         rate=rate, calls=calls, call_seconds=CALL_SECONDS,
                         scenario=sipp.PROXY_SCENARIO),
            "-l", str(rate * 4), "-timeout", str(int(calls / rate) + 60), "-timeout_error",
            "-recv_timeout", "30000", "-trace_stat", "-stf", str(stats), "-fd", "1",
            "-trace_err", "-error_file", str(stats.with_suffix(".errors"))]


def run_rate(cluster: Cluster, rig: BenchRig, users: Path, rate: int, seconds: int,
             work: Path, label: str) -> float | None:
    """The rate the step's calls were placed at, or None when a call failed."""
    calls = rate * seconds
    stats = work / f"{label}-{rate}.csv"
    nodes = cluster.nodes
    logs = [len(node.log()) for node in nodes]
    pids = [node_pids(cluster, number) for number in (1, 2)]
    before = [cpu_seconds(each) for each in pids]
    result = subprocess.run(
        place(users, rig.passwords["4001"], rate, calls, stats), capture_output=True,
        text=True)
    time.sleep(1)  # the last records and log lines
    shares = [calls_run(node, since) for node, since in zip(nodes, logs, strict=True)]
    spent = [(cpu_seconds(each) - start) * 1000 for each, start in zip(pids, before, strict=True)]
    ok = result.returncode == 0
    placed = sipp.placing_rate(stats, calls)
    print(f"  {rate:4d} calls/s x {seconds} s ({calls} calls, placed at {placed:.0f}/s): "
          f"{'ok' if ok else 'FAILED'} (sipp exit {result.returncode}); " + "; ".join(
              share_of(number, share, calls, cpu)
              for number, (share, cpu) in enumerate(zip(shares, spent, strict=True), start=1)))
    return placed if ok else None


def share_of(number: int, share: int, calls: int, cpu_ms: float) -> str:
    """A node's part of a step: its calls and its CPU (Asterisk + ringbridge) per call,
    or in all when it ran none."""
    if not share:
        return f"node {number}: no call ({cpu_ms:.0f} ms CPU in all, idle)"
    return (f"node {number}: {share} calls ({share * 100 / calls:.0f}%), "
            f"{cpu_ms / share:.1f} ms CPU per call (Asterisk + ringbridge)")


def ramp(cluster: Cluster, rig: BenchRig, users: Path, rates: list[int], seconds: int,
         work: Path, label: str) -> float:
    return climb(rates, lambda rate: run_rate(cluster, rig, users, rate, seconds, work, label))


def asterisk_killed(cluster: Cluster, rig: BenchRig, users: Path, rate: int, seconds: int,
                    work: Path) -> str:
    dead = ASTERISK_ADDRESSES[1]
    stats = work / "killed.csv"
    load = subprocess.Popen(place(users, rig.passwords["4001"], rate, rate * seconds, stats),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds / 2)
    held = sum(channel["caller"]["number"] == "4001"
               for channel in cluster.asterisks[1].ari("GET", "/channels").json())
    cluster.kill_asterisk(2)
    killed_at = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        noticed = pool.submit(cluster.taken_out, dead)
        load.wait()
        out_at = noticed.result()
    successful, failed = sipp.outcome(stats)
    started = time.monotonic()
    cluster.start_asterisk(2)
    wait_until(lambda: cluster.in_use().get(dead), 60, f"{dead} back in use")
    taken_out = "never" if out_at is None else f"{out_at - killed_at:.2f} s"
    return (f"{rate} calls/s x {seconds} s, Asterisk node 2 killed (-9) at {seconds / 2:.0f} s"
            f" holding {held} callers: taken out {taken_out} after the "
            f"kill; {successful} calls succeeded, {failed} lost; started again, back in use "
            f"{time.monotonic() - started:.2f} s after its start")


def new_tenant(node: ClusterNode, prefix: str) -> tuple[str, str]:
    """A tenant of its own (SIP domain `<company>.example`): its company id and a token."""
    company = f"{prefix}{secrets.token_hex(3)}"
    node.cli("tenants", "create", "--company-id", company, "--sip-domain",
             f"{company}.example")
    return company, node.cli("tokens", "create", "--tenant", company).strip()


def add_directory(node: ClusterNode, extensions: int) -> str:
    """A tenant of `extensions` extensions, made through node 1's API (node 2 follows);
    its company id."""
    company, token = new_tenant(node, "benchdir")

    def create(number: int) -> None:
        answer = node.api("POST", "/api/extensions", token,
                          json={"extension_number": str(number)})
        answer.raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(100000, 100000 + extensions)))
    print(f"  {extensions} extensions made in {time.monotonic() - started:.1f} s")
    time.sleep(5)  # node 2 follows the directory every second, and pushes what changed
    return company


def bridge_killed(cluster: Cluster, rig: BenchRig, users: Path, rate: int, seconds: int,
                  work: Path) -> str:
    """Ringbridge node 2 killed with -9 halfway: node 1, standing by for Asterisk node 2,
    takes it over; started again, node 2 gets it back."""
    survivor, killed = cluster.nodes
    stats = work / "bridge-killed.csv"
    seen = len(survivor.log())
    load = subprocess.Popen(place(users, rig.passwords["4001"], rate, rate * seconds, stats),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds / 2)
    killed_at = time.time()
    killed.kill_serve()
    takeover = survivor.took_over_asterisk_2(after=seen)
    load.wait()
    successful, failed = sipp.outcome(stats)
    again = len(killed.log())
    started = time.monotonic()
    cluster.up()
    killed.wait_log(rf"engine 1 holds the lease on {re.escape(ASTERISK_ADDRESSES[1])}:8088",
                    after=again)
    return (f"{rate} calls/s x {seconds} s, ringbridge node 2 killed (-9) at "
            f"{seconds / 2:.0f} s: node 1 took the lease on Asterisk node 2 "
            f"{takeover.leased_at - killed_at:.2f} s after the kill and ran it "
            f"{takeover.running_at - killed_at:.2f} s after ({takeover.found}); "
            f"{successful} calls succeeded, {failed} failed; started again, node 2 ran "
            f"Asterisk node 2 again {time.monotonic() - started:.2f} s after its start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each rate step")
    parser.add_argument("--rates", default="25,50,75,100,125,150,175,200,250",
                        help="comma-separated calls/s to try, in order")
    parser.add_argument("--kill-rate", type=int, default=10,
                        help="calls/s while an Asterisk node, then a ringbridge node, is killed")
    parser.add_argument("--directory", type=int, default=0,
                        help="extensions added before ringbridge node 2 is killed")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    cluster = Cluster()
    cluster.down()  # an edge already running would keep its own flood limit
    cluster.up(flood_requests=FLOOD_REQUESTS)
    try:
        run_all(cluster, args, rates)
    finally:
        cluster.down()  # the cluster the benchmark started


def run_all(cluster: Cluster, args: argparse.Namespace, rates: list[int]) -> None:
    node = cluster.nodes[0]
    company, token = new_tenant(node, "bench")
    domain = f"{company}.example"
    rig = BenchRig(node.asterisk, node, token=token)
    rig.extension("4001")
    rig.extension("4002")
    rig.group("6400", ["4002"])
    time.sleep(2)  # node 2 follows the directory every second
    for asterisk in cluster.asterisks:
        sipp.point_at_uas(asterisk, f"4002@{domain}", UAS_PORT)
    work = Path(tempfile.mkdtemp(prefix="ringbridge-bench-cluster-"))
    users = sipp.users_file(work, "4001", domain)
    with sipp.answering(UAS_PORT):
        print("one Asterisk node in use (node 2 disabled at the edge):")
        cluster.set_in_use(ASTERISK_ADDRESSES[1], False)
        one = ramp(cluster, rig, users, rates, args.seconds, work, "one")
        cluster.set_in_use(ASTERISK_ADDRESSES[1], True)
        print("two Asterisk nodes in use:")
        two = ramp(cluster, rig, users, rates, args.seconds, work, "two")
        print("Asterisk node 2 killed under load:")
        print("  " + asterisk_killed(cluster, rig, users, args.kill_rate, 20, work))
        # The member's contact is dynamic configuration: gone with the killed Asterisk.
        sipp.point_at_uas(cluster.asterisks[1], f"4002@{domain}", UAS_PORT)
        print("ringbridge node 2 killed under load:")
        directory = add_directory(node, args.directory) if args.directory else None
        try:
            print("  " + bridge_killed(cluster, rig, users, args.kill_rate, 20, work))
        finally:
            if directory is not None:
                node.cli("tenants", "delete", "--tenant", directory, "--force", "--yes")
    print(f"highest rate placed with no failed call through the edge: one node {one:.0f} "
          f"calls/s, two nodes {two:.0f} calls/s (one 2-core machine: the nodes share its "
          "cores)")


if __name__ == "__main__":
    main()
