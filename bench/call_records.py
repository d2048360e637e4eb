"""The call-record writer's CPU per call: a ring group call's steps as the engine's writer
stores them (bridge/services/call_records.py), with the hunt memory it keeps.

Under load the writer takes what queued during its last transaction; at tens of calls
per second that is one step, so a transaction per step is the figure that matters. The
writer remembers the last 10,000 calls whose records exist (no look-up for their later
steps): an engine that has run that many calls writes with that memory full. SQLite in a
temporary file; PostgreSQL too when RINGBRIDGE_BENCH_POSTGRES_URL is set (that
database's tables are dropped).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from bench.ring_groups_api import database_urls, fresh_database
from bridge.flows.events import (
    CallArrived,
    CallEnded,
    CallEvent,
    MemberAnswered,
    MemberDialled,
    MemberRinging,
)
from bridge.services.call_records import MAX_BATCH, REMEMBERED_RECORDS, DatabaseCallRecorder
from bridge.services.routing import subscribe_hunt_memory
from bridge.store.migrate import drop_schema


def steps(call: int) -> list[CallEvent]:
    """A call to a ring group answered by its one member, then hung up."""
    call_id = f"bench{call:+09d}"
    return [
        CallArrived(call_id=call_id, caller="+442071234567", dialled="6400",
                    label="ring group 6400", channel_id=f"caller-{call}"),
        MemberDialled(call_id=call_id, member="4002", channel_id=f"leg-{call}"),
        MemberRinging(call_id=call_id, member="4002"),
        MemberAnswered(call_id=call_id, member="4002"),
        CallEnded(call_id=call_id, why="caller hung up", cause=16),
    ]


def cpu_ms_per_call(url: str, calls: int, per_transaction: int, remembered: int) -> float:
    """The writer's CPU per call: its transaction (`_write`, what its thread runs for
    each batch) run in this thread, after `remembered` earlier calls were written."""
    database = fresh_database(url)
    recorder = DatabaseCallRecorder(database)
    subscribe_hunt_memory(recorder)
    try:
        earlier = [steps(-1 - n)[0] for n in range(remembered)]
        for first in range(0, len(earlier), MAX_BATCH):
            recorder._write(earlier[first:first + MAX_BATCH])
        written = [event for call in range(calls) for event in steps(call)]
        started = time.thread_time()
        for first in range(0, len(written), per_transaction):
            recorder._write(written[first:first + per_transaction])
        return (time.thread_time() - started) * 1000 / calls
    finally:
        recorder.close()
        drop_schema(database)
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"call-record writer, {args.calls} calls of {len(steps(0))} steps each:")
        for name, url in database_urls(folder).items():
            for remembered in (0, REMEMBERED_RECORDS):
                for per_transaction in (1, 5):
                    took = cpu_ms_per_call(url, args.calls, per_transaction, remembered)
                    print(f"  {name:<10} {per_transaction} step(s) per transaction, "
                          f"{remembered:>6} calls remembered: {took:.3f} ms of CPU per call")


if __name__ == "__main__":
    main()
