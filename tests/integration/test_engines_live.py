"""Two engines on one Asterisk (`engines = 2`, docs/processes.md): each new call is run
by the engine that claims it, the API acts on a call whichever engine runs it, and one
engine killed under steady load loses no call."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bridge.store.models import CallRecord, CallStep
from bridge.store.session import Database
from tests.integration.conftest import LOG_DIR, PhoneFactory
from tests.integration.dispatching import agents, dispatch_to
from tests.integration.phone_calls import calls_of, park, statuses, take, talking, view_of
from tests.integration.ring_groups import Office
from tests.support import sipp
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess, stopped, wait_gone
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.polling import wait_until
from tests.support.softphone import IncomingPolicy

APPS = ("ringbridge", "ringbridge-2")  # engine 1's and engine 2's ARI applications
RATE, SECONDS, CALL_SECONDS = 20, 20, 2.0  # the load the kill meets: 400 calls
FIGURES = LOG_DIR / "engines" / "kill.txt"


@pytest.fixture
def two_engines(bridge: BridgeProcess) -> Iterator[BridgeProcess]:
    with bridge.restarted_with(ENGINES="2", LOG_LEVEL="INFO") as restarted:
        yield restarted


@pytest.fixture
def office(two_engines: BridgeProcess, phone: PhoneFactory) -> Office:
    suffix = secrets.token_hex(3)
    return Office(two_engines, phone, company=f"Engine Taxis {suffix}",
                  sip_domain=f"engines{suffix}.example").create()


def engines_holding(asterisk: Asterisk) -> dict[str, set[str]]:
    """Each engine's channels in Asterisk (its application's)."""
    return {app: set(asterisk.ari("GET", f"/applications/{app}").json()["channel_ids"])
            for app in APPS}


def engine_of(asterisk: Asterisk, caller_channel: str) -> str:
    (app,) = [app for app, held in engines_holding(asterisk).items() if caller_channel in held]
    return app


def caller_channel(asterisk: Asterisk, number: str) -> str:
    """The channel of the call from `number` (its caller's)."""
    return wait_until(lambda: next((c["id"] for c in asterisk.ari("GET", "/channels").json()
                                    if c["caller"]["number"] == number
                                    and not c["id"].startswith("rb-")), None),
                      5, f"the call from {number}")


def test_calls_go_to_both_engines_and_the_api_acts_on_each(
        office: Office, asterisk: Asterisk) -> None:
    """Calls are claimed by one engine or the other; a park and an unpark asked of the
    API reach the engine that runs the call (the other says it has no such call)."""
    caller, callee, third = office.phone("3751"), office.phone("3752"), office.phone("3753")
    ran: dict[str, int] = {app: 0 for app in APPS}
    for _ in range(16):
        out, incoming, call = talking(office, caller, callee)
        app = engine_of(asterisk, caller_channel(asterisk, "3751"))
        ran[app] += 1
        if ran[app] == 1:  # each engine's first call: parked and taken back by the API
            assert park(office, "3751", call, view_of(call, "3752")["id"], 60).status_code \
                == 200
            out.wait_disconnected()
            taken = take(office, "3751", call, "UnPark", "3753")
            assert taken.status_code == 200, taken.text
            ring = third.wait_incoming()
            ring.answer()
            wait_until(lambda: [c for c in calls_of(office, "3753")
                                if statuses(c) == {"3752": 5, "3753": 5}], 5, "3753 talking")
            ring.hangup()
            incoming.wait_disconnected()
        else:
            out.hangup()
            incoming.wait_disconnected()
        if all(ran.values()):
            break
    assert all(ran.values()), f"calls run by each engine: {ran}"


def step_written(bridge: BridgeProcess, caller: str, kind: str) -> bool:
    """Whether a step of `kind` of a call from `caller` is in ringbridge's database."""
    with bridge.database_session() as session:
        return session.scalar(select(CallStep.id).join(
            CallRecord, CallRecord.call_id == CallStep.call_id).where(
            CallRecord.caller == caller, CallStep.kind == kind).limit(1)) is not None


def test_a_groups_callers_on_two_engines_wait_in_one_line(
        office: Office, receiver: DispatchReceiver, asterisk: Asterisk) -> None:
    """One agent, busy on a call engine 1 runs; a low priority caller waits on engine 1,
    then an urgent one on engine 2. The agent's call ends: engine 1 hears it first, yet
    the urgent caller, first in the group's one line, gets the agent."""
    member = agents(office, "3761")["3761"]
    office.phone("3768", IncomingPolicy.ANSWER)  # the member's partner on a call
    early, urgent = office.phone("3765"), office.phone("3766")
    office.group("6761", ["3761"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 skip_busy_member=True, max_wait_time=30)
    dispatch_to(office, receiver)
    # An engine stopped: the other claims the calls placed meanwhile; the stopped one's
    # offers wait unread, and it loses them when it goes on.
    with stopped(office.bridge.child_pid("engine-2")):  # engine 1 claims
        talk = member.call("3768")
        talk.wait_answered()
        assert engine_of(asterisk, caller_channel(asterisk, "3761")) == "ringbridge"
        receiver.respond(200, body={"priority": "low"}, match="/invite")
        waiting_early = early.call("6761")
        receiver.wait_for("/telephony/invite")
        waiting_early.wait_ringing()
        # Stopped in the middle of a transaction (its place in the line, its record's
        # step), engine 1 would hold SQLite's write lock, and engine 2 could not plan its
        # call until it went on: it stops once the early caller's wait is written.
        wait_until(lambda: step_written(office.bridge, "3765", "waiting"), timeout=5,
                   what="the early caller's wait written")
    with stopped(office.bridge.child_pid("engine-1")):  # engine 2 claims
        receiver.respond(200, body={"priority": "urgent"}, match="/invite")
        waiting_urgent = urgent.call("6761")
        receiver.wait_for("/telephony/invite", count=2)
        waiting_urgent.wait_ringing()
    assert engine_of(asterisk, caller_channel(asterisk, "3766")) == "ringbridge-2"
    assert member.incoming == []  # busy: not rung while on the call

    talk.hangup()
    first = member.wait_incoming(timeout=5)
    assert "3766" in first.from_header
    first.answer()
    waiting_urgent.wait_answered()
    assert waiting_early.state == "early"  # still waiting, ringing
    waiting_urgent.hangup()
    second = member.wait_incoming(timeout=5)
    assert "3765" in second.from_header
    second.answer()
    waiting_early.wait_answered()
    waiting_early.hangup()
    second.wait_disconnected()


def open_records(database_url: str) -> int:
    database = Database(database_url)
    try:
        with database.session() as session:
            return session.scalar(select(func.count()).select_from(CallRecord).where(
                CallRecord.ended_at.is_(None))) or 0
    finally:
        database.dispose()


class Holdings(threading.Thread):
    """Every 0.2 s: how many channels each engine holds; the most of each."""

    def __init__(self, asterisk: Asterisk) -> None:
        super().__init__(daemon=True)
        self.asterisk = asterisk
        self.most = {app: 0 for app in APPS}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            for app, held in engines_holding(self.asterisk).items():
                self.most[app] = max(self.most[app], len(held))


def test_one_engine_killed_under_steady_load_loses_no_call(
        office: Office, asterisk: Asterisk, two_engines: BridgeProcess) -> None:
    """20 calls/s of 2-second calls into a ring group (sipp both ends); engine 2 is
    killed with -9 halfway: every call succeeds (new ones go to engine 1 at once, engine
    2's are taken up by it when the supervisor has started it again), no channel is
    left up and every record is closed."""
    office.extension("3781")
    office.extension("3782")
    office.group("6781", ["3782"], ring_strategy="RING_SIMULTANEOUSLY")
    uas_port = sipp.free_udp_port()
    sipp.point_at_uas(asterisk, f"3782@{office.domain}", uas_port)
    work = Path(tempfile.mkdtemp(prefix="ringbridge-engines-"))
    stats, errors = work / "stats.csv", work / "errors.log"
    holdings = Holdings(asterisk)
    with sipp.answering(uas_port):
        load = subprocess.Popen(
            [*sipp.caller(asterisk.registrar, sipp.users_file(work, "3781", office.domain),
                          "3781", office.passwords["3781"], "6781", port=sipp.free_udp_port(),
                          rate=RATE, calls=RATE * SECONDS, call_seconds=CALL_SECONDS),
             "-l", str(RATE * 4), "-timeout", str(SECONDS + 120), "-timeout_error",
             "-recv_timeout", "60000", "-trace_stat", "-stf", str(stats), "-fd", "1",
             "-trace_err", "-error_file", str(errors)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        holdings.start()
        time.sleep(SECONDS / 2)
        held_at_kill = engines_holding(asterisk)["ringbridge-2"]
        seen = len(two_engines.log())
        killed = two_engines.child_pid("engine-2")
        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_gone([killed])
        two_engines.wait_log(r"engine-2 started \(pid \d+\)", after=seen)
        two_engines.wait_log(r"\[engine-2\] bridge.engine.engine: ARI connected", after=seen)
        back_in = time.monotonic() - killed_at
        load.wait()
        holdings.stopping.set()
        time.sleep(5)  # the last calls' BYEs, and the engines' own work
        stranded = asterisk.ari("GET", "/channels").json()
    successful, failed = sipp.outcome(stats)
    finished = two_engines.call_records("6781", successful, timeout=30)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(
        f"{RATE} calls/s x {SECONDS} s of {CALL_SECONDS:.0f}-second calls, engine 2 "
        f"killed at {SECONDS / 2:.0f} s holding {len(held_at_kill)} channels, running "
        f"again (ARI connected) {back_in:.2f} s after the kill\n"
        f"calls: {successful} succeeded, {failed} failed; most channels held at once: "
        f"{holdings.most}\nchannels left up 5 s after the last call: {len(stranded)}; "
        f"records: {len(finished)} closed, {open_records(two_engines.database_url)} open\n")
    assert held_at_kill, "engine 2 ran no call when it was killed"
    assert failed == 0, errors.read_text()[:2000] if errors.exists() else FIGURES.read_text()
    assert successful == RATE * SECONDS
    assert stranded == []
    assert open_records(two_engines.database_url) == 0
