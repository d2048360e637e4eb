"""Steady load with one kill -9 of ringbridge in the middle: failed calls, stranded
channels, bridges left and unclosed call records.

sipp places 2-second calls (as extension 4001) into a one-member ring group whose member
is a sipp UAS that answers everything (as in bench/call_load.py). Halfway through,
ringbridge is killed (kill -9) and started again after `--down` seconds. Calls placed
while no engine runs get Asterisk's fallback (an announcement: the group is not an
endpoint), which sipp counts as failed: they are counted apart, from Asterisk's log.
Calls that were talking lose their caller's BYE to the outage or not; either way no
channel may stay up (a stranded phone), no bridge of a call may be left, and every
record must be closed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.call_load import CALL_SECONDS, UAC_PORTS, UAS_PORT, point_member_at_uas
from bench.rig import DOMAIN, BenchRig, bench_rig, fallbacks
from bridge.store.models import CallRecord
from bridge.store.session import Database
from tests.support import sipp

WRITTEN_FROM_JOURNAL = re.compile(r"by a process that ended: the database lacked (\d+) of them")


def sipp_uac(rig: BenchRig, users: Path, stats: Path, rate: int, calls: int,
             seconds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*sipp.caller(rig.asterisk.registrar, users, "4001", rig.passwords["4001"], "6400",
                      port=next(UAC_PORTS), rate=rate, calls=calls, call_seconds=CALL_SECONDS),
         "-l", str(rate * 4), "-timeout", str(seconds + 120), "-timeout_error",
         # A caller waits through the outage, as a phone would: sipp drops a call whose
         # answer is late without a CANCEL, which would strand it in Asterisk.
         "-recv_timeout", "60000", "-trace_stat", "-stf", str(stats), "-fd", "1",
         "-trace_err", "-error_file", str(stats.with_name("errors.log"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def records(database_url: str) -> tuple[int, list[str]]:
    """(all call records, the records not closed: each with its last step)."""
    database = Database(database_url)
    try:
        with database.session() as session:
            total = session.scalar(select(func.count()).select_from(CallRecord)) or 0
            unclosed = session.scalars(select(CallRecord).where(
                CallRecord.ended_at.is_(None))).all()
            return total, [f"{r.call_id} received {r.received_at:%H:%M:%S.%f}: "
                           f"{r.steps[-1].kind if r.steps else '-'} "
                           f"{r.steps[-1].detail if r.steps else ''}" for r in unclosed]
    finally:
        database.dispose()


def steps_written_from_journal(log_path: Path) -> int:
    """The call record steps the killed engines had not written, written by the
    restarted ones from the journal (docs/operations.md#the-step-journal), as their log
    says."""
    return sum(int(found) for found in WRITTEN_FROM_JOURNAL.findall(log_path.read_text()))


def describe(channel: dict[str, Any]) -> str:
    dialplan = channel.get("dialplan") or {}
    return (f"{channel['id']} {channel.get('name')} {channel.get('state')} "
            f"{dialplan.get('app_name')}({dialplan.get('app_data')}) "
            f"created {channel.get('creationtime')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20, help="calls per second")
    parser.add_argument("--seconds", type=int, default=30, help="length of the load")
    parser.add_argument("--down", type=float, default=2.0,
                        help="seconds between the kill and the restart")
    parser.add_argument("--engines", type=int, default=1, help="ringbridge's engines")
    args = parser.parse_args()
    # Its log (INFO) tells what became of each call.
    with bench_rig({"LOG_LEVEL": "INFO", "ENGINES": str(args.engines)}) as rig:
        rig.extension("4001")
        rig.extension("4002")
        rig.group("6400", ["4002"])
        point_member_at_uas(rig, "4002")
        work = Path(tempfile.mkdtemp(prefix="ringbridge-restart-load-"))
        users = sipp.users_file(work, "4001", DOMAIN)
        stats = work / "stats.csv"
        fallbacks_before = fallbacks(rig.asterisk)
        with sipp.answering(UAS_PORT):
            uac = sipp_uac(rig, users, stats, args.rate, args.rate * args.seconds,
                           args.seconds)
            time.sleep(args.seconds / 2)
            rig.bridge.kill()
            time.sleep(args.down)
            started = time.monotonic()
            rig.bridge.start()
            print(f"killed ringbridge for {args.down:.1f} s; healthy again "
                  f"{time.monotonic() - started:.2f} s after its start")
            uac.wait()
            time.sleep(5)  # the last calls' BYEs, and ringbridge's own work
            stranded = rig.asterisk.ari("GET", "/channels").json()
            bridges = [b["id"] for b in rig.asterisk.ari("GET", "/bridges").json()
                       if b["id"].startswith("rb-")]
        successful, failed = sipp.outcome(stats)
        fell_back = fallbacks(rig.asterisk) - fallbacks_before
        total, unclosed = records(rig.bridge.database_url)
        from_journal = steps_written_from_journal(Path(rig.bridge.log_path))
        print(f"ringbridge's log: {rig.bridge.log_path}")
    print(f"{args.rate} calls/s x {args.seconds} s: {successful} succeeded, {failed} failed "
          f"({fell_back} of them placed while no engine ran: Asterisk's fallback)")
    print(f"stranded channels (still up 5 s after the last call): {len(stranded)}",
          *map(describe, stranded), sep="\n  ")
    print(f"bridges of calls left (5 s after the last call): {len(bridges)}", *bridges,
          sep="\n  ")
    print(f"call records: {total}, not closed: {len(unclosed)}", *unclosed, sep="\n  ")
    print(f"call record steps not written at the kill, written from the journal after the "
          f"restart: {from_journal}")
    print(f"sipp's errors: {stats.with_name('errors.log')}")
    print("target: failed == fallback calls, stranded 0, bridges left 0, not closed 0")


if __name__ == "__main__":
    main()
