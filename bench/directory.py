"""A large directory: how long after an Asterisk restart ringbridge has pushed every
extension again; a ringbridge restart with the directory as Asterisk has it (nothing to
push again); one with an extension changed while it was down: how long its push again
takes and how long an API change waits meanwhile; and what one more extension costs
through the API then.

The extensions are written to the database directly (the API would take minutes), and
Asterisk is restarted: it lost every extension, and ringbridge pushes them all before it
takes a call (docs/restarts.md). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

from bench.rig import BenchRig, bench_rig
from bridge.engine.pushed_mark import VARIABLE
from tests.support.polling import wait_until

FIRST = 100000  # the directory's first number
PUSHED_AGAIN = r"Asterisk already had: \d+ of \d+ pushed again"
NONE_AGAIN = r"Asterisk already had: \d+, as pushed before .*; none pushed again"


def endpoints_listed(rig: BenchRig) -> int:
    return sum("@" in e["resource"] for e in rig.asterisk.ari("GET", "/endpoints/PJSIP").json())


def asterisk_restarted(rig: BenchRig, extensions: int, timeout: float) -> float:
    """Seconds from Asterisk's ARI ready again to every extension listed in Asterisk."""
    rig.asterisk.restart()
    ready = time.monotonic()
    # Every 0.2 s: each read lists every endpoint, work for the Asterisk being measured.
    wait_until(lambda: endpoints_listed(rig) >= extensions, timeout,
               "every extension pushed after the restart", poll=0.2)
    return time.monotonic() - ready


def bridge_restarted_unchanged(rig: BenchRig, timeout: float) -> float:
    """Seconds from ringbridge's start to its line that it pushes none again."""
    wait_until(lambda: rig.asterisk.global_value(VARIABLE), timeout,
               "the extensions' fingerprint noted", poll=0.2)
    rig.bridge.stop()
    seen = len(rig.bridge.log())
    started = time.monotonic()
    rig.bridge.start(timeout=timeout)
    rig.bridge.wait_log(NONE_AGAIN, timeout=timeout, after=seen)
    return time.monotonic() - started


def bridge_restarted(rig: BenchRig, timeout: float) -> tuple[float, float]:
    """One extension renamed while ringbridge is down: seconds from its start to its push
    again's summary line, and those an extension renamed through the API as soon as
    ringbridge is healthy took."""
    extension = rig.bridge.extension_id("bench", str(FIRST))
    rig.bridge.stop()
    rig.bridge.rename_extension("bench", str(FIRST + 1), "Renamed While Down")
    seen = len(rig.bridge.log())
    started = time.monotonic()
    rig.bridge.start(timeout=timeout)
    renamed = time.monotonic()
    answer = rig.bridge.api("POST", f"/api/extensions/{extension}", rig.token,
                            json={"display_name": "Renamed"})
    renamed = time.monotonic() - renamed
    answer.raise_for_status()
    rig.bridge.wait_log(PUSHED_AGAIN, timeout=timeout, after=seen)
    return time.monotonic() - started, renamed


def one_more(rig: BenchRig, count: int) -> list[float]:
    """Milliseconds for each of `count` extensions made through the API."""
    took = []
    for number in range(FIRST - count, FIRST):
        started = time.monotonic()
        answer = rig.bridge.api("POST", "/api/extensions", rig.token,
                                json={"extension_number": str(number)})
        took.append(1000 * (time.monotonic() - started))
        answer.raise_for_status()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--extensions", type=int, default=5000)
    parser.add_argument("--creates", type=int, default=10,
                        help="extensions made through the API once the directory is in")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds to wait for the pushes")
    args = parser.parse_args()
    with bench_rig({"LOG_LEVEL": "INFO"}) as rig:
        rig.bridge.write_extensions("bench", range(FIRST, FIRST + args.extensions))
        print(f"{args.extensions} extensions in the database")
        pushed = asterisk_restarted(rig, args.extensions, args.timeout)
        print(f"  Asterisk restarted: every extension in it {pushed:.1f} s after its ARI "
              f"was ready ({1000 * pushed / args.extensions:.2f} ms per extension)")
        unchanged = bridge_restarted_unchanged(rig, args.timeout)
        print(f"  ringbridge restarted, the directory as Asterisk has it: none pushed again, "
              f"said {unchanged:.1f} s after its start")
        again, renamed = bridge_restarted(rig, args.timeout)
        print(f"  ringbridge restarted, one extension changed while it was down: its push "
              f"again done {again:.1f} s after its start; "
              f"an extension renamed through the API meanwhile answered in "
              f"{1000 * renamed:.0f} ms")
        took = one_more(rig, args.creates)
        print(f"  one more extension through the API: p50 {statistics.median(took):.0f} ms, "
              f"highest {max(took):.0f} ms ({args.creates} made)")
        summary = re.findall(r"extension endpoints: .*", rig.bridge.log())
        print(f"  ringbridge's log: {summary[-1] if summary else 'no summary line'}")


if __name__ == "__main__":
    main()
