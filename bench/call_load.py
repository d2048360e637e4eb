"""Calls per second: the highest rate with no failed call, through ringbridge and through
a plain dialplan Dial(), in one run, with their ratio.

sipp places 2-second calls (digest auth, as extension 4001) into a one-member ring group
(through ringbridge), or to the member's number with ringbridge stopped (Asterisk's
fallback Dial()). The member is a sipp UAS that answers everything; its extension's
contact is set statically, so it needs no registration. Each rate runs for a fixed
number of calls; the first rate with a failed call ends the ramp.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from bench.rig import DOMAIN, BenchRig, bench_rig
from tests.support.asterisk import SLOT

SCENARIO = Path(__file__).with_name("sipp") / "uac_auth.xml"
UAS_PORT = 5290 + 10 * SLOT
# Each rate step sends from its own port: answers to a failed step's late calls must not
# land in the next step as unexpected messages.
UAC_PORTS = itertools.count(5400 + 20 * SLOT)


def point_member_at_uas(rig: BenchRig, number: str, port: int = UAS_PORT) -> None:
    aor = quote(f"{number}@{DOMAIN}", safe="")
    response = rig.asterisk.ari("PUT", f"/asterisk/config/dynamic/res_pjsip/aor/{aor}", json={
        "fields": [{"attribute": "contact", "value": f"sip:{number}@127.0.0.1:{port}"},
                   {"attribute": "max_contacts", "value": "1"}]})
    response.raise_for_status()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (0 when there is none)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_rate(rig: BenchRig, users: Path, number: str, rate: int, seconds: int) -> bool:
    """True when every call at `rate` calls/s succeeded."""
    calls = rate * seconds
    errors = users.with_name(f"errors-{number}-{rate}.log")
    bridge_pid = rig.bridge.process.pid if rig.bridge.process else None
    cpu_before = cpu_seconds(bridge_pid)
    result = subprocess.run(
        ["sipp", rig.asterisk.registrar, "-sf", str(SCENARIO), "-inf", str(users),
         "-au", "4001", "-ap", rig.passwords["4001"],
         "-s", number, "-i", "127.0.0.1", "-p", str(next(UAC_PORTS)), "-r", str(rate),
         "-m", str(calls), "-l", str(rate * 4), "-nostdin", "-timeout", str(seconds + 30),
         "-timeout_error", "-recv_timeout", "10000", "-trace_err", "-error_file",
         str(errors)],
        capture_output=True, text=True)
    ok = result.returncode == 0
    cpu = (cpu_seconds(bridge_pid) - cpu_before) * 1000 / calls
    print(f"  {rate:4d} calls/s x {seconds} s ({calls} calls): {'ok' if ok else 'FAILED'}"
          f" (sipp exit {result.returncode})"
          + (f"; ringbridge CPU {cpu:.1f} ms per call" if bridge_pid else ""))
    if not ok and errors.exists():
        print("    sipp's first errors:", *errors.read_text().splitlines()[:6], sep="\n    ")
    return ok


def ramp(rig: BenchRig, users: Path, number: str, rates: list[int], seconds: int) -> int:
    best = 0
    for rate in rates:
        if not run_rate(rig, users, number, rate, seconds):
            break
        best = rate
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="length of each rate step")
    parser.add_argument("--rates", default="25,50,75,100,150,200,300,400",
                        help="comma-separated calls/s to try, in order")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    with bench_rig() as rig:
        rig.extension("4001")
        rig.extension("4002")
        rig.group("6400", ["4002"])
        point_member_at_uas(rig, "4002")
        users = Path(tempfile.mkdtemp(prefix="ringbridge-sipp-")) / "users.csv"
        users.write_text(f"SEQUENTIAL\n4001;{DOMAIN}\n")
        uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(UAS_PORT),
                                "-nostdin"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            print("through ringbridge (ring group 6400):")
            bridged = ramp(rig, users, "6400", rates, args.seconds)
            rig.bridge.stop()
            print("plain dialplan Dial() (ringbridge stopped, extension 4002):")
            plain = ramp(rig, users, "4002", rates, args.seconds)
        finally:
            uas.terminate()
            uas.wait()
    print(f"highest rate with no failed call: ringbridge {bridged} calls/s, plain Dial() "
          f"{plain} calls/s, ratio {bridged / plain if plain else 0:.2f}")
    print("target: >= 150 calls/s through ringbridge with no failure")


if __name__ == "__main__":
    main()
