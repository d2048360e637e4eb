"""Calls per second: the highest rate with no failed call, through ringbridge and through
a plain dialplan Dial(), in one run, with their ratio.

Between the two, bench/lean_ari.py (the least an ARI app can do for such a call) takes
ringbridge's place: what ARI itself costs Asterisk here, whatever the app.

sipp places calls of 2 seconds (--call-seconds; digest auth, as extension 4001) into a
one-member ring group (through ringbridge), or to the member's number with ringbridge
stopped (Asterisk's fallback Dial()). The member is a sipp UAS that answers everything;
its extension's contact is set statically, so it needs no registration. Each rate runs
for a fixed number of calls; the first rate with a failed call ends the ramp. A rate is
the one sipp placed the calls at (from its statistics), which falls short of the rate
asked when the machine cannot keep up: the ratios compare rates placed. Each step
prints ringbridge's CPU per call (all its processes) and ARI requests per call (its
metrics), the most calls bridged at once and the peak memory (PSS) of the engine's
process and of the others (sampled every second).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.rig import DOMAIN, BenchRig, bench_rig, fallbacks
from tests.support import sipp
from tests.support.asterisk import SLOT, Asterisk
from tests.support.bridge_process import proc_stat, stop

UAS_PORT = 5290 + 10 * SLOT
CALL_SECONDS = 2.0  # how long a call lasts once answered, unless told otherwise
# Each rate step sends from its own port: answers to a failed step's late calls must not
# land in the next step as unexpected messages.
UAC_PORTS = itertools.count(5400 + 20 * SLOT)
LEAN = "lean ARI app"


def point_member_at_uas(rig: BenchRig, number: str, port: int = UAS_PORT) -> None:
    sipp.point_at_uas(rig.asterisk, f"{number}@{DOMAIN}", port)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        fields = proc_stat(pid)  # state first: utime and stime are the 12th and 13th
        if fields is None:
            raise SystemExit(f"process {pid} is gone")
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def asterisk_pid(asterisk: Asterisk) -> int:
    """Asterisk's process (the container's first), as this machine sees it."""
    container = asterisk.container
    assert container is not None, "Asterisk is not running"
    container.reload()
    return int(container.attrs["State"]["Pid"])


def hang_up_everything(rig: BenchRig, timeout: float = 30) -> None:
    """No call left in Asterisk: a failed step's calls stay up (sipp abandoned them), and
    would weigh on the next ramp."""
    deadline = time.monotonic() + timeout
    while channels := rig.asterisk.ari("GET", "/channels").json():
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(channels)} channels still up after {timeout:.0f} s")
        for channel in channels:
            rig.asterisk.ari("DELETE", f"/channels/{channel['id']}")
        time.sleep(0.5)


def memory_mib(pids: list[int]) -> float:
    """The processes' memory now, together: each one's PSS (pages it shares with the
    others, forked from one parent, are counted once among them)."""
    total = 0.0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) / 1024
    return total


class Sampler(threading.Thread):
    """Every second: the calls bridged in Asterisk (two-party bridges), the engine's
    memory and that of the rest of ringbridge (`serve` and its API processes); keeps the
    highest of each."""

    def __init__(self, rig: BenchRig, processes: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.rig = rig
        self.engine = [pid for name, pid in processes.items() if name.startswith("engine")]
        self.others = [pid for name, pid in processes.items()
                       if not name.startswith("engine")]
        self.bridged, self.engine_memory, self.others_memory = 0, 0.0, 0.0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(1):
            bridges = self.rig.asterisk.ari("GET", "/bridges").json()
            self.bridged = max(self.bridged, sum(len(b["channels"]) == 2 for b in bridges))
            self.engine_memory = max(self.engine_memory, memory_mib(self.engine))
            self.others_memory = max(self.others_memory, memory_mib(self.others))


def ari_requests(rig: BenchRig) -> float:
    """The ARI requests ringbridge's engines have made so far (its metrics)."""
    return sum(value for (name, _), value in rig.bridge.metrics().items()
               if name == "ringbridge_ari_request_seconds_count")


def describe(processes: dict[str, int], cpu: float, sampler: Sampler,
             requests: float) -> str:
    if LEAN in processes:
        return (f"; lean ARI app CPU {cpu:.1f} ms per call, memory peak (PSS) "
                f"{sampler.others_memory:.0f} MiB")
    api = sum(name.startswith("api-") for name in processes)
    engines = sum(name.startswith("engine") for name in processes)
    return (f"; ringbridge CPU {cpu:.1f} ms per call (all {len(processes)} processes: "
            f"{engines} engines, {api} API), {requests:.1f} ARI requests per call; memory "
            f"peak (PSS) engines {sampler.engine_memory:.0f} MiB, serve + API "
            f"{sampler.others_memory:.0f} MiB")


def run_rate(rig: BenchRig, users: Path, number: str, rate: int, seconds: int,
             call_seconds: float = CALL_SECONDS, processes: dict[str, int] | None = None
             ) -> float | None:
    """The calls/s sipp placed when asked for `rate` (less when the machine cannot keep
    up), if every call succeeded; None when one failed. `processes`: those whose CPU
    is counted (ringbridge's, while it runs, or the lean app's); while they run, a call
    left to Asterisk's fallback (no engine took it: ringbridge declines new calls while
    ARI answers late) has failed, though sipp saw an answer."""
    calls = rate * seconds
    errors = users.with_name(f"errors-{number}-{rate}.log")
    stats = users.with_name(f"stats-{number}-{rate}.csv")
    if processes is None:
        processes = rig.bridge.processes() if rig.bridge.process else {}
    fallbacks_before = fallbacks(rig.asterisk) if processes else 0
    ours = bool(processes) and LEAN not in processes
    requests_before = ari_requests(rig) if ours else 0.0
    asterisk = [asterisk_pid(rig.asterisk)]
    cpu_before = cpu_seconds(list(processes.values()))
    asterisk_before = cpu_seconds(asterisk)
    sampler = Sampler(rig, processes)
    sampler.start()
    result = subprocess.run(
        [*sipp.caller(rig.asterisk.registrar, users, "4001", rig.passwords["4001"], number,
                      port=next(UAC_PORTS), rate=rate, calls=calls, call_seconds=call_seconds),
         "-l", str(int(rate * (call_seconds + 2) * 2)),
         "-timeout", str(int(seconds + call_seconds + 30)),
         "-timeout_error", "-recv_timeout", "10000", "-trace_err", "-error_file",
         str(errors), "-trace_stat", "-stf", str(stats), "-fd", "1"],
        capture_output=True, text=True)
    sampler.stopping.set()
    sampler.join()
    fell_back = fallbacks(rig.asterisk) - fallbacks_before if processes else 0
    ok = result.returncode == 0 and fell_back == 0
    cpu = (cpu_seconds(list(processes.values())) - cpu_before) * 1000 / calls
    asterisk_cpu = (cpu_seconds(asterisk) - asterisk_before) * 1000 / calls
    requests = (ari_requests(rig) - requests_before) / calls if ours else 0.0
    placed = sipp.placing_rate(stats, calls)
    print(f"  {rate:4d} calls/s x {seconds} s ({calls} calls, placed at {placed:.0f}/s):"
          f" {'ok' if ok else 'FAILED'}"
          f" (sipp exit {result.returncode}"
          + (f"; {fell_back} calls left to Asterisk's fallback" if fell_back else "")
          + f"); up to {sampler.bridged} calls bridged at once;"
          f" Asterisk CPU {asterisk_cpu:.1f} ms per call"
          + (describe(processes, cpu, sampler, requests) if processes else ""))
    if not ok and errors.exists():
        print("    sipp's first errors:", *errors.read_text().splitlines()[:6], sep="\n    ")
    return placed if ok else None


def ramp(rig: BenchRig, users: Path, number: str, rates: list[int], seconds: int,
         call_seconds: float, processes: dict[str, int] | None = None) -> float:
    """The highest rate sipp placed calls at with none failed, up the ramp's steps."""
    return climb(rates, lambda rate: run_rate(rig, users, number, rate, seconds,
                                              call_seconds, processes))


def climb(rates: list[int], step: Callable[[int], float | None]) -> float:
    """Up `rates` until a step fails: the highest rate placed with no failed call (0 when
    the first failed). `step(rate)`: the rate its calls were placed at, None on a failure."""
    best = 0.0
    for rate in rates:
        placed = step(rate)
        if placed is None:
            break
        best = max(best, placed)
    return best


@contextmanager
def lean_app(rig: BenchRig, member: str) -> Iterator[dict[str, int]]:
    """bench/lean_ari.py in ringbridge's place (stopped), until it has left: its pid."""
    app = rig.asterisk.app
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.lean_ari", rig.asterisk.ari_url,
         rig.asterisk.ari_password, app, f"PJSIP/{member}@{member}@{DOMAIN}"])
    try:
        deadline = time.monotonic() + 10
        while rig.asterisk.ari("GET", f"/applications/{app}").status_code != 200:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the lean ARI app did not register with Asterisk")
            time.sleep(0.1)
        yield {LEAN: process.pid}
    finally:
        stop(process, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each rate step")
    parser.add_argument("--rates", default="25,50,75,100,150,200,300,400",
                        help="comma-separated calls/s to try, in order")
    parser.add_argument("--call-seconds", type=float, default=CALL_SECONDS,
                        help="how long each call lasts once answered (calls up at once "
                        "are about rate x this)")
    parser.add_argument("--engines", type=int, default=1, help="ringbridge's engines")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    with bench_rig({"ENGINES": str(args.engines)}) as rig:
        processes = rig.bridge.processes()
        rig.extension("4001")
        rig.extension("4002")
        rig.group("6400", ["4002"])
        point_member_at_uas(rig, "4002")
        users = sipp.users_file(Path(tempfile.mkdtemp(prefix="ringbridge-sipp-")), "4001",
                                DOMAIN)
        with sipp.answering(UAS_PORT):
            print("through ringbridge (ring group 6400):")
            bridged = ramp(rig, users, "6400", rates, args.seconds, args.call_seconds)
            rig.bridge.stop()
            hang_up_everything(rig)
            print("the lean ARI app (bench/lean_ari.py) in ringbridge's place, 6400:")
            with lean_app(rig, "4002") as lean:
                least = ramp(rig, users, "6400", rates, args.seconds, args.call_seconds,
                             lean)
            hang_up_everything(rig)
            print("plain dialplan Dial() (ringbridge stopped, extension 4002):")
            plain = ramp(rig, users, "4002", rates, args.seconds, args.call_seconds)
    print(f"highest rate placed with no failed call: ringbridge {bridged:.0f} calls/s, the "
          f"lean ARI app {least:.0f}, plain Dial() {plain:.0f} calls/s; ratio "
          f"{ratio(bridged, plain)} "
          f"(the lean app's {ratio(least, plain)}); ringbridge ran as "
          f"{len(processes)} processes: {', '.join(processes)}")
    print("target: ringbridge >= 0.8x plain Dial() calls/s, with no failed call")


def ratio(rate: float, plain: float) -> str:
    return f"{rate / plain if plain else 0:.2f}"


if __name__ == "__main__":
    main()
