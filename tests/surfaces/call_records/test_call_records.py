"""Call records: the engine's steps land in the database in order, off the call's path."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import OperationalError

from bridge.flows.call_log import CallLog
from bridge.flows.events import (
    CallArrived,
    CallEnded,
    EndedWhileDown,
    MemberAnswered,
    MemberNotAnswered,
    MemberRinging,
    RecordingStarted,
    RingOutCallerAnswered,
    RingOutConnected,
    RingOutEnded,
    RingOutStarted,
)
from bridge.gateway import CallState, LegState
from bridge.services.call_records import MAX_BATCH, DatabaseCallRecorder
from bridge.services.routing import subscribe_hunt_memory
from bridge.services.step_journal import StepJournal
from bridge.store.ids import decode_id
from bridge.store.models import CallRecord, HuntStat, aware
from bridge.store.session import Database
from tests.api.conftest import TenantAuth
from tests.support.polling import wait_until
from tests.surfaces.portsip.ring_group_calls import create as create_group
from tests.surfaces.portsip.ring_group_calls import extension


def arrived(call_id: str, channel_id: str, tenant_id: int) -> CallArrived:
    """A call from 3019 to ring group 6002 arriving."""
    return CallArrived(call_id=call_id, caller="3019", dialled="6002", label="ring group",
                       channel_id=channel_id, tenant_id=tenant_id)


def test_a_calls_path_is_stored_step_by_step(database: Database, acme: TenantAuth) -> None:
    recorder, log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(log)
    log.publish(CallArrived(call_id="C1", caller="3019", dialled="6002",
                            label="ring group 6002", channel_id="ch-1",
                            tenant_id=acme.tenant_id, ring_group_id=None))
    log.publish(MemberRinging(call_id="C1", member="3012"))
    log.publish(MemberNotAnswered(call_id="C1", member="3012", dial_status="NOANSWER",
                                  cause=19))
    log.publish(MemberAnswered(call_id="C1", member="3011"))
    log.publish(RecordingStarted(call_id="C1", name="call-C1"))
    log.publish(CallEnded(call_id="C1", why="caller hung up", cause=16))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        record = session.scalars(select(CallRecord)).one()
        assert (record.caller, record.dialled, record.tenant_id) == ("3019", "6002",
                                                                       acme.tenant_id)
        assert record.answered_by == "3011" and record.end_cause == 16
        assert record.recording == "call-C1"
        assert record.answered_at is not None and record.ended_at is not None
        assert record.received_at <= record.answered_at <= record.ended_at
        assert [(s.kind, s.target) for s in record.steps] == [
            ("arrived", ""), ("ringing", "3012"), ("rang", "3012"), ("answered", "3011"),
            ("recording", "call-C1"), ("ended", "")]


def test_an_end_that_happened_while_ringbridge_was_down_is_stored_at_its_time(
        database: Database, acme: TenantAuth) -> None:
    recorder, log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(log)
    log.publish(arrived("C2", "ch-2", acme.tenant_id))
    left = datetime.now(UTC) - timedelta(seconds=40)
    log.publish(EndedWhileDown(call_id="C2", why="the called party hung up while ringbridge "
                               "was down", cause=17, at=left))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        record = session.get(CallRecord, "C2")
        assert record is not None and record.ended_at is not None
        assert (aware(record.ended_at), record.end_cause) == (left, 17)


def test_the_hunt_memory_hears_ringing_and_answers_of_its_members(
        client: FlaskClient, database: Database, acme: TenantAuth) -> None:
    group = decode_id(create_group(client, acme))
    member = decode_id(extension(client, acme, "2001"))
    assert group is not None and member is not None
    with database.session() as session:
        session.add(HuntStat(ring_group_id=group, extension_id=member))
    recorder, log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(log)
    subscribe_hunt_memory(recorder)
    rang = datetime.now(UTC) - timedelta(seconds=30)
    log.publish(MemberRinging(call_id="C3", member="2001", at=rang, group_id=group,
                              extension_id=member))
    log.publish(MemberRinging(call_id="C3", member="2001"))  # a direct call: no memory
    log.publish(MemberAnswered(call_id="C3", member="2001", group_id=group,
                               extension_id=member))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        stat = session.get(HuntStat, (group, member))
        assert stat is not None and stat.last_rung_at and stat.last_answered_at
        assert aware(stat.last_rung_at) == rang < aware(stat.last_answered_at)


def test_a_new_calls_record_is_opened_without_looking_for_it_first(
        database: Database, acme: TenantAuth, statements: list[str]) -> None:
    """A call id the engine has just made cannot have a record: no SELECT for it. A call
    the recorder has not seen otherwise is looked for (a call of the process before)."""
    recorder, log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(log)
    log.publish(arrived("C6", "ch-6", acme.tenant_id))
    log.publish(CallEnded(call_id="C6", why="caller hung up", cause=16))
    recorder.flush()
    looked_for = [s for s in statements if s.lstrip().startswith("SELECT")]
    assert looked_for == []
    log.publish(CallEnded(call_id="EARLIER", why="caller hung up", cause=16))
    recorder.flush()
    recorder.close()
    assert [s for s in statements if s.lstrip().startswith("SELECT")
            and "call_records" in s] != []
    with database.session() as session:
        record = session.get(CallRecord, "C6")
        assert record is not None and record.end_cause == 16


def test_steps_recorded_from_several_threads_at_once_are_all_written(
        database: Database, acme: TenantAuth) -> None:
    """The writer takes what waits while threads keep handing steps over: none is left
    behind, each call's in its order."""
    recorder = DatabaseCallRecorder(database)

    def calls(first: int) -> None:
        for n in range(first, first + 100):
            recorder.record(arrived(f"T{n}", f"ch-{n}", acme.tenant_id))
            recorder.record(MemberRinging(call_id=f"T{n}", member="3012"))
            recorder.record(CallEnded(call_id=f"T{n}", why="caller hung up", cause=16))

    threads = [threading.Thread(target=calls, args=(first,)) for first in (0, 100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.flush()
    recorder.close()
    with database.session() as session:
        records = session.scalars(select(CallRecord)).all()
        assert len(records) == 300 and all(r.end_cause == 16 for r in records)
        assert {tuple(step.kind for step in r.steps) for r in records} == {
            ("arrived", "ringing", "ended")}


def test_a_record_written_over_several_batches_keeps_its_first_answer(
        database: Database, acme: TenantAuth) -> None:
    recorder, log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(log)
    log.publish(arrived("C4", "ch-4", acme.tenant_id))
    log.publish(MemberAnswered(call_id="C4", member="3011"))
    log.publish(MemberAnswered(call_id="C4", member="3012"))  # same batch: not the answer
    recorder.flush()  # the record exists now: later batches change it
    log.publish(MemberAnswered(call_id="C4", member="3013"))
    log.publish(RecordingStarted(call_id="C4", name="call-C4"))
    recorder.flush()
    log.publish(CallEnded(call_id="C4", why="caller hung up", cause=16))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        record = session.get(CallRecord, "C4")
        assert record is not None
        assert (record.answered_by, record.recording, record.end_cause) == (
            "3011", "call-C4", 16)
        assert [s.target for s in record.steps if s.kind == "answered"] == [
            "3011", "3012", "3013"]


def test_a_connected_ringouts_record_is_answered_by_its_callee(
        database: Database, acme: TenantAuth) -> None:
    """Its caller answering only starts the attempt: leg 2 answering connects it."""
    recorder, log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(log)
    trying, calling = CallState.TRYING, LegState.CALLING
    log.publish(RingOutStarted(call_id="R1", caller_number="4001",
                               callee_number="+14155550150", tenant_id=acme.tenant_id,
                               call=trying, caller=calling, callee=calling))
    log.publish(RingOutCallerAnswered(call_id="R1", leg="4001", call=trying,
                                      caller=LegState.ANSWERED, callee=calling))
    recorder.flush()
    log.publish(RingOutConnected(call_id="R1", leg="+14155550150", call=CallState.CONNECTED,
                                 caller=LegState.ANSWERED, callee=LegState.ANSWERED))
    log.publish(RingOutEnded(call_id="R1", why="caller hung up", cause=16))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        record = session.get_one(CallRecord, "R1")
        assert record.answered_by == "+14155550150"
        assert record.answered_at is not None and record.ended_at is not None
        assert record.received_at <= record.answered_at <= record.ended_at


def test_a_record_with_no_dispatch_answer_has_a_null_snapshot(
        database: Database, acme: TenantAuth) -> None:
    """SQL NULL, not the JSON text null: `IS NULL` must find it."""
    recorder, log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(log)
    log.publish(arrived("C5", "ch-5", acme.tenant_id))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        assert session.scalars(select(CallRecord.call_id).where(
            CallRecord.dispatch_snapshot.is_(None))).all() == ["C5"]


def test_a_step_that_cannot_be_written_loses_only_itself(
        database: Database, acme: TenantAuth, caplog: pytest.LogCaptureFixture) -> None:
    recorder, log = DatabaseCallRecorder(database), CallLog()
    recorder.follow(log)
    log.publish(arrived("C6", "ch-6", acme.tenant_id + 1000))  # no tenant
    log.publish(arrived("C7", "ch-7", acme.tenant_id))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        assert session.scalars(select(CallRecord.call_id)).all() == ["C7"]
    assert "call record step not written: C6 arrived" in caplog.text


class Restarting:
    """The database as while PostgreSQL restarts: every transaction fails to connect
    until `back()`."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.away = True
        self.tries = 0
        self.transactions = 0  # those that worked

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        if self.away:
            self.tries += 1
            raise OperationalError("INSERT INTO call_records ...", {}, ConnectionError(
                "server closed the connection unexpectedly"))
        self.transactions += 1
        with self.database.transaction() as connection:
            yield connection

    def kept(self) -> Restarting:
        """The writer's kept connection: each of its transactions comes here."""
        return self

    def close(self) -> None:
        """Nothing is kept."""


def test_steps_kept_while_the_database_restarts_are_written_once_it_is_back(
        database: Database, acme: TenantAuth, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bridge.services.call_records")
    restarting = Restarting(database)
    recorder, log = DatabaseCallRecorder(restarting, retry_after=0.01), CallLog()  # type: ignore[arg-type]
    recorder.follow(log)
    log.publish(arrived("C8", "ch-8", acme.tenant_id))
    wait_until(lambda: restarting.tries >= 3, 5, "tries while the database is away")
    log.publish(MemberAnswered(call_id="C8", member="3011"))
    log.publish(CallEnded(call_id="C8", why="caller hung up", cause=16))
    restarting.away = False
    recorder.flush()
    recorder.close()
    with database.session() as session:
        record = session.scalars(select(CallRecord)).one()
        assert [step.kind for step in record.steps] == ["arrived", "answered", "ended"]
        assert record.answered_by == "3011" and record.ended_at is not None
    assert "the database is unavailable (" in caplog.text
    assert "the database is back: 1 call record steps written" in caplog.text


@pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True)
def test_the_writer_goes_on_after_postgresql_closed_its_connection(
        database: Database, acme: TenantAuth) -> None:
    """PostgreSQL restarting ends every session: the writer's next transaction fails on
    the dead connection, and the one after, on a new connection, writes the steps."""
    recorder, log = DatabaseCallRecorder(database, retry_after=0.01), CallLog()
    recorder.follow(log)
    log.publish(arrived("K2", "ch-K2", acme.tenant_id))
    recorder.flush()
    with database.engine.begin() as connection:
        ended = connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
            "pg_backend_pid() AND datname = current_database() AND state = 'idle'"
        )).scalars().all()
    assert ended and all(ended)
    log.publish(arrived("K3", "ch-K3", acme.tenant_id))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        assert session.get(CallRecord, "K2") is not None
        assert session.get(CallRecord, "K3") is not None


def test_steps_still_kept_when_ringbridge_stops_are_counted_in_the_log(
        database: Database, acme: TenantAuth, caplog: pytest.LogCaptureFixture) -> None:
    restarting = Restarting(database)
    recorder, log = DatabaseCallRecorder(restarting, retry_after=0.01), CallLog()  # type: ignore[arg-type]
    recorder.follow(log)
    log.publish(arrived("C9", "ch-9", acme.tenant_id))
    wait_until(lambda: restarting.tries >= 1, 5, "a try while the database is away")
    recorder.close()
    assert not recorder._thread.is_alive()
    assert ("1 call record steps not written: the database was still unavailable when "
            "ringbridge stopped") in caplog.text


def test_steps_queued_during_an_outage_are_written_in_parts(
        database: Database, acme: TenantAuth) -> None:
    """A long outage queues many steps; each transaction takes at most MAX_BATCH, so the
    statements stay within the database's limits."""
    restarting = Restarting(database)
    recorder, log = DatabaseCallRecorder(restarting, retry_after=0.01), CallLog()  # type: ignore[arg-type]
    recorder.follow(log)
    calls = [f"B{n}" for n in range(MAX_BATCH + 100)]
    log.publish(arrived(calls[0], "ch", acme.tenant_id))
    wait_until(lambda: restarting.tries >= 1, 5, "a try while the database is away")
    for call_id in calls[1:]:
        log.publish(arrived(call_id, "ch", acme.tenant_id))
    restarting.away = False
    recorder.flush(timeout=20)
    recorder.close()
    with database.session() as session:
        assert len(session.scalars(select(CallRecord.call_id)).all()) == len(calls)
    assert restarting.transactions >= 3  # the first step alone, then two parts


def test_steps_the_database_refuses_for_too_long_are_dropped_and_later_ones_written(
        database: Database, acme: TenantAuth, caplog: pytest.LogCaptureFixture) -> None:
    restarting = Restarting(database)
    recorder = DatabaseCallRecorder(restarting, retry_after=0.01, retry_for=0.05)  # type: ignore[arg-type]
    log = CallLog()
    recorder.follow(log)
    log.publish(arrived("C11", "ch-11", acme.tenant_id))
    wait_until(lambda: "refused them for 0 s" in caplog.text, 5, "the steps given up")
    restarting.away = False
    log.publish(arrived("C12", "ch-12", acme.tenant_id))
    recorder.flush()
    recorder.close()
    with database.session() as session:
        assert session.scalars(select(CallRecord.call_id)).all() == ["C12"]
    assert "1 call record steps not written: the database refused them for 0 s" in caplog.text


def test_steps_still_kept_when_ringbridge_stops_are_written_at_the_next_start(
        database: Database, acme: TenantAuth, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    url = database.engine.url.render_as_string(hide_password=False)
    restarting = Restarting(database)
    recorder = DatabaseCallRecorder(restarting, retry_after=0.01,  # type: ignore[arg-type]
                                    journal=StepJournal(tmp_path, url))
    log = CallLog()
    recorder.follow(log)
    log.publish(arrived("J1", "ch-J1", acme.tenant_id))
    wait_until(lambda: restarting.tries >= 1, 5, "a try while the database is away")
    log.publish(MemberAnswered(call_id="J1", member="3011"))
    recorder.close()
    assert "2 call record steps not written are kept in" in caplog.text
    assert record_steps(database, "J1") == []

    started = DatabaseCallRecorder(database, journal=StepJournal(tmp_path, url))
    started.flush()
    started.close()
    assert record_steps(database, "J1") == ["arrived", "answered"]
    assert list(tmp_path.glob("*.steps")) == []


def test_steps_of_a_writer_killed_before_its_commits_are_written_once_at_the_next_start(
        database: Database, acme: TenantAuth, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The process committed the call's first step, kept all three, and was killed:
    the next start writes the two the database lacks, and the first not again."""
    url = database.engine.url.render_as_string(hide_password=False)
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from bridge.flows.events import CallEnded, MemberAnswered
        from bridge.services.call_records import DatabaseCallRecorder
        from bridge.services.step_journal import StepJournal
        from bridge.store.session import Database
        from tests.surfaces.call_records.test_call_records import arrived
        steps = [arrived("K1", "ch-K1", {acme.tenant_id}),
                 MemberAnswered(call_id="K1", member="3011"),
                 CallEnded(call_id="K1", why="caller hung up", cause=16)]
        journal = StepJournal(Path({str(tmp_path)!r}), {url!r})
        for step in steps:
            journal.keep(step)
        committed = DatabaseCallRecorder(Database({url!r}))
        committed.record(steps[0])
        committed.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[3],
                            check=False, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert record_steps(database, "K1") == ["arrived"]

    started = DatabaseCallRecorder(database, journal=StepJournal(tmp_path, url))
    started.flush()
    started.close()
    assert record_steps(database, "K1") == ["arrived", "answered", "ended"]
    assert ("3 call record steps left on disk by a process that ended: the database "
            "lacked 2 of them, written now") in caplog.text
    with database.session() as session:
        record = session.get(CallRecord, "K1")
        assert record is not None and record.answered_by == "3011"
        assert record.end_reason == "ending (caller hung up)"


def record_steps(database: Database, call_id: str) -> list[str]:
    with database.session() as session:
        record = session.get(CallRecord, call_id)
        return [] if record is None else [step.kind for step in record.steps]


def test_with_a_journal_a_call_s_burst_of_steps_shares_one_transaction(
        database: Database, acme: TenantAuth, tmp_path: Path) -> None:
    """The writer lingers after a step for those that follow (a long linger here, so
    that the test never depends on the machine's speed); without a journal it never
    does, as a step waiting in memory would be lost to a kill."""
    counted = Restarting(database)
    counted.away = False
    url = database.engine.url.render_as_string(hide_password=False)
    lingering = DatabaseCallRecorder(counted, journal=StepJournal(tmp_path, url),  # type: ignore[arg-type]
                                     linger=2.0)
    log = CallLog()
    lingering.follow(log)
    log.publish(arrived("L1", "ch-L1", acme.tenant_id))
    time.sleep(0.2)  # a writer that did not linger would have taken this step alone
    log.publish(MemberRinging(call_id="L1", member="3012"))
    log.publish(MemberAnswered(call_id="L1", member="3012"))
    lingering.flush()
    lingering.close()
    assert counted.transactions == 1
    assert record_steps(database, "L1") == ["arrived", "ringing", "answered"]

    direct = Restarting(database)
    direct.away = False
    writer = DatabaseCallRecorder(direct, linger=2.0)  # type: ignore[arg-type]
    writer.record(arrived("L2", "ch-L2", acme.tenant_id))
    writer.flush()
    writer.record(MemberRinging(call_id="L2", member="3012"))
    writer.flush(timeout=1.5)
    assert record_steps(database, "L2") == ["arrived", "ringing"]  # no linger
    writer.close()


def test_the_end_of_a_call_dispatch_is_told_of_is_written_without_lingering(
        database: Database, acme: TenantAuth, tmp_path: Path) -> None:
    """Dispatch's `cleared` links to the call's record: the writer does not linger
    after its end (the linger here is a minute), while another call's end waits."""
    url = database.engine.url.render_as_string(hide_password=False)
    writer = DatabaseCallRecorder(database, journal=StepJournal(tmp_path, url), linger=60)
    log = CallLog()
    writer.follow(log)
    told: list[str] = []
    log.subscribe(CallEnded, lambda event: told.append(event.call_id), call_id="D1")
    log.publish(arrived("D2", "ch-D2", acme.tenant_id))
    log.publish(CallEnded(call_id="D2", why="caller hung up"))
    log.publish(arrived("D1", "ch-D1", acme.tenant_id))
    log.publish(CallEnded(call_id="D1", why="caller hung up"))
    wait_until(lambda: record_steps(database, "D1") == ["arrived", "ended"], 5,
               "the followed call's end written")
    assert told == ["D1"]
    log.publish(arrived("D3", "ch-D3", acme.tenant_id))
    log.publish(CallEnded(call_id="D3", why="caller hung up"))
    time.sleep(0.5)
    assert record_steps(database, "D3") == []  # lingering: nobody outside waits for it
    writer.close()
    assert record_steps(database, "D3") == ["arrived", "ended"]


def test_the_hunt_memory_a_groups_next_call_is_routed_by_is_written_without_lingering(
        client: FlaskClient, database: Database, acme: TenantAuth, tmp_path: Path) -> None:
    """A cyclic or least-worked group routes its next call by who rang and answered: the
    writer does not linger after those steps (the linger here is a minute), while the
    same steps of a group whose strategy does not read the memory wait."""
    group = decode_id(create_group(client, acme))
    member = decode_id(extension(client, acme, "2001"))
    assert group is not None and member is not None
    with database.session() as session:
        session.add(HuntStat(ring_group_id=group, extension_id=member))
    url = database.engine.url.render_as_string(hide_password=False)
    writer = DatabaseCallRecorder(database, journal=StepJournal(tmp_path, url), linger=60)
    log = CallLog()
    writer.follow(log)
    subscribe_hunt_memory(writer)

    def remembered() -> HuntStat:
        with database.session() as session:
            stat = session.get(HuntStat, (group, member))
        assert stat is not None
        return stat

    log.publish(arrived("H1", "ch-H1", acme.tenant_id))
    log.publish(MemberAnswered(call_id="H1", member="2001", group_id=group,
                               extension_id=member, routes_by_memory=False))
    time.sleep(0.5)
    assert remembered().last_answered_at is None  # lingering: nothing routes by it
    log.publish(MemberRinging(call_id="H2", member="2001", group_id=group,
                              extension_id=member, routes_by_memory=True))
    wait_until(lambda: remembered().last_rung_at is not None, 5,
               "the ringing the next call is routed by, written")
    assert remembered().last_answered_at is not None  # what waited before it went too
    writer.close()
