"""kill -9 of ringbridge around real calls: what the phones, the dispatcher and the
call records see once it is back (docs/restarts.md)."""

from __future__ import annotations

import secrets
import sqlite3
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bridge.engine.parking import PARK_CONTEXT, Kept, lot_name
from bridge.engine.pushed_mark import VARIABLE
from bridge.store.models import CallRecord
from tests.integration.conftest import PhoneFactory
from tests.integration.dispatching import instant
from tests.integration.phone_calls import PARK_SECONDS, calls_of, park, talking, view_of
from tests.integration.restarts import connected_call, group_with_dispatch, ringing_call, the_end
from tests.integration.ring_groups import Office
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.polling import wait_until
from tests.support.softphone import Phone


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    suffix = secrets.token_hex(3)
    return Office(bridge, phone, company=f"Restart Taxis {suffix}",
                  sip_domain=f"restart{suffix}.example").create()


def offered_call(asterisk: Asterisk, number: str, timeout: float = 5) -> str:
    """The channel of a call to `number` being offered to the engines (dialplan
    [stasis-wait])."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for channel in asterisk.ari("GET", "/channels").json():
            dialplan = channel.get("dialplan") or {}
            if dialplan.get("app_name") == "StasisBroadcast" \
                    and dialplan.get("exten") == number:
                return str(channel["id"])
        time.sleep(0.05)
    raise TimeoutError(f"no call to {number} offered in {timeout} s")


def claim_as(asterisk: Asterisk, app: str, channel_id: str) -> None:
    """Claim an offered call for `app`, as its engine does: the call enters the app
    (its StasisStart waits there for the engine to read it)."""
    answer = asterisk.ari("POST", f"/events/claim?channelId={channel_id}&application={app}")
    assert answer.status_code == 204, answer.text


def restart(bridge: BridgeProcess) -> int:
    """Start ringbridge again; returns where its log was, for wait_log."""
    seen = len(bridge.log())
    bridge.start()
    return seen


def test_a_party_left_alone_while_ringbridge_was_down_is_hung_up_and_cleared(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    outgoing, incoming, call_id = connected_call(office, receiver, "6301", "3301",
                                                 "3309")
    time.sleep(1)  # they talk a moment (ringbridge finishes bridging them)
    bridge.kill()
    incoming.hangup()  # the agent hangs up while ringbridge is down
    left_at = datetime.now(UTC)
    time.sleep(2)
    assert outgoing.state == "confirmed"  # nobody hangs the caller up yet: silence
    seen = restart(bridge)
    outgoing.wait_disconnected(timeout=5)
    bridge.wait_log(rf"call {call_id}: the called party hung up while ringbridge was "
                    "down; hung up", after=seen)
    assert the_end(receiver, call_id) == ["invite", "ringing", "connected", "cleared"]
    record = bridge.call_record("6301")
    assert record.call_id == call_id and record.answered_by == "3301"
    assert record.ended_at is not None
    assert record.ended_at is not None
    ended = record.ended_at.replace(tzinfo=UTC) if record.ended_at.tzinfo is None \
        else record.ended_at
    assert abs((ended - left_at).total_seconds()) < 1, (ended, left_at)
    assert record.end_cause == 16
    cleared = receiver.wait_for("/telephony/cleared")[0].json
    assert abs((instant(cleared["times"]["cleared"]) - left_at).total_seconds()) < 1


def test_a_caller_claimed_as_ringbridge_dies_is_taken_up(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess,
        asterisk: Asterisk) -> None:
    members = group_with_dispatch(office, receiver, "6302", ["3311"])
    caller = office.phone("3319")
    bridge.freeze()  # connected but deaf: it claims nothing more
    outgoing = caller.call("6302")
    claim_as(asterisk, asterisk.app, offered_call(asterisk, "6302"))  # its claim, as it died
    bridge.kill()
    seen = restart(bridge)
    incoming = members["3311"].wait_incoming(timeout=10)
    bridge.wait_log(r"a caller \(dial 6302, call not named yet\) no flow runs any more; "
                    "taken up again as a new call", after=seen)
    incoming.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    incoming.wait_disconnected()
    call_id = receiver.wait_for("/telephony/invite")[0].query["callId"][0]
    assert the_end(receiver, call_id) == ["invite", "ringing", "connected", "cleared"]
    assert bridge.call_record("6302").answered_by == "3311"


def test_an_adopted_call_is_cleared_when_it_ends(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    outgoing, incoming, call_id = connected_call(office, receiver, "6303", "3321",
                                                 "3329")
    bridge.kill()
    seen = restart(bridge)
    bridge.wait_log(rf"call {call_id}: adopted", after=seen)
    outgoing.hangup()
    incoming.wait_disconnected()
    assert the_end(receiver, call_id) == ["invite", "ringing", "connected", "cleared"]
    cleared = receiver.wait_for("/telephony/cleared")[0].json
    assert cleared["agentId"] == "agent3321@example.com"
    assert set(cleared["times"]) == {"received", "totalWait", "connected", "duration",
                                     "cleared"}


def test_a_restart_adopts_the_calls_before_it_pushes_again_what_asterisk_kept(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess,
        asterisk: Asterisk) -> None:
    """Asterisk kept every extension while ringbridge was down: the engine takes the call
    over without pushing them first (a large directory would hold it up), then pushes
    them again, so a name changed meanwhile reaches Asterisk all the same."""
    outgoing, incoming, call_id = connected_call(office, receiver, "6311", "3381", "3389")
    bridge.kill()
    bridge.rename_extension(office.company, "3381", "Renamed While Down")
    seen = restart(bridge)
    bridge.wait_log(r"extension endpoints Asterisk already had: \d+ of \d+ pushed again",
                    after=seen)
    log = bridge.log()[seen:]
    assert (log.index(f"call {call_id}: adopted") < log.index("ARI connected")
            < log.index("Asterisk already had"))
    assert callerid(asterisk, f"3381@{office.domain}") == '"Renamed While Down" <3381>'
    outgoing.hangup()
    incoming.wait_disconnected()


def test_a_large_directory_comes_back_and_the_api_changes_it_during_the_push_again(
        bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory) -> None:
    """5,000 extensions, ringbridge restarted three times. Asterisk lacks them the first
    time: all pushed before ringbridge is healthy (one extension at a time, that took
    minutes). It has them the second time, as pushed (their fingerprint, noted in
    Asterisk once they were all there): none is pushed again. The third time, one
    changed while ringbridge was down: it lists them over HTTP (on the websocket,
    Asterisk 22.10 crashed sending the list), and while they are pushed again, an
    extension renamed through the API is in Asterisk when the API answers, before the
    pass ends (it used to wait for the end), and the pass does not undo it."""
    office = Office(bridge, phone, company=f"bigdir{secrets.token_hex(3)}").create()
    company, token = office.company, office.token
    # Written to the database directly: through the API, 5,000 would take minutes.
    bridge.write_extensions(company, range(100000, 105000))
    extension_id = bridge.extension_id(company, "101000")
    try:
        bridge.kill()
        bridge.start(timeout=60)  # Asterisk lacks them: pushed before it is healthy
        wait_until(lambda: asterisk.global_value(VARIABLE), 30,
                   "the extensions' fingerprint noted")
        bridge.kill()
        seen = restart(bridge)  # Asterisk has them, as the database does
        bridge.wait_log(r"Asterisk already had: \d+, as pushed before \(its fingerprint is "
                        r"the database's\); none pushed again", after=seen)
        bridge.kill()
        bridge.rename_extension(company, "104999", "Renamed While Down")
        seen = restart(bridge)  # Asterisk has them, one changed: pushed again
        renamed = bridge.api("POST", f"/api/extensions/{extension_id}", token,
                             json={"display_name": "Renamed Meanwhile"})
        assert renamed.status_code == 200, renamed.text
        assert callerid(asterisk, f"101000@{office.domain}") \
            == '"Renamed Meanwhile" <101000>'
        assert "Asterisk already had" not in bridge.log()[seen:]  # the pass goes on
        bridge.wait_log(r"Asterisk already had: \d+ of \d+ pushed again", after=seen,
                        timeout=60)
        assert callerid(asterisk, f"101000@{office.domain}") \
            == '"Renamed Meanwhile" <101000>'
        assert callerid(asterisk, f"104999@{office.domain}") \
            == '"Renamed While Down" <104999>'
    finally:
        bridge.cli("tenants", "delete", "--tenant", company, "--force", "--yes")


def callerid(asterisk: Asterisk, endpoint_id: str) -> str:
    endpoint = asterisk.ari("GET", f"/asterisk/config/dynamic/res_pjsip/endpoint/{endpoint_id}")
    fields = {field["attribute"]: field["value"] for field in endpoint.json()}
    return fields["callerid"]


def test_a_parked_call_ringing_back_its_parker_as_ringbridge_dies_rings_it_again(
        office: Office, bridge: BridgeProcess) -> None:
    """The park timed out and ringbridge rang the parker back; killed while that rang,
    it rings the parker again once it is back: the same call, whose record stays open
    until it ends (the takeover closed it as a caller started again as a new call, and
    the dispatcher got `cleared` while the call went on)."""
    parker, parked = office.phone("3391"), office.phone("3392")
    out, incoming, call = talking(office, parker, parked)
    response = park(office, "3391", call, view_of(call, "3392")["id"], PARK_SECONDS)
    assert response.status_code == 200, response.text
    out.wait_disconnected()
    first = parker.wait_incoming(timeout=PARK_SECONDS + 5)  # ringbridge rings it back
    bridge.kill()
    seen = restart(bridge)
    first.wait_disconnected()  # the leg of the engine that died, hung up
    again = parker.wait_incoming()
    again.answer()
    again.wait_answered()
    again.wait_rtp(10)
    assert incoming.state == "confirmed"  # the parked party, talking to the parker
    again.hangup()
    incoming.wait_disconnected()
    record = bridge.call_record("3392")
    details = [step.detail for step in sorted(record.steps, key=lambda s: s.at)]
    assert record.call_id == call["id"]
    assert not any("taken up again" in detail for detail in details), details
    assert [step.kind for step in record.steps].count("ended") == 1, details
    bridge.wait_log(r"taken up again as the same call", after=seen)


def send_to_lot(asterisk: Asterisk, channel_id: str, domain: str, call_id: str,
                parker: str) -> None:
    """What the engine does to park a party (bridge/engine/call_control.py), done over
    ARI as though it had died right after: the party is on its way into the tenant's lot
    (60 s there), its peer still in the call's bridge."""
    kept = Kept(call_id=call_id, parker=parker, view="01", views="1", app=asterisk.app)
    variables = {"RB_LOT": lot_name(domain), "RB_POSITIONS": "701-720",
                 "RB_PARK_TIMEOUT": "60", "RB_PARKER_DIAL": "", "PARKINGEXTEN": "",
                 **kept.variables()}
    for name, value in variables.items():
        answer = asterisk.ari("POST", f"/channels/{channel_id}/variable?variable={name}"
                              f"&value={value}")
        assert answer.status_code == 204, answer.text
    answer = asterisk.ari("POST", f"/channels/{channel_id}/continue?context={PARK_CONTEXT}"
                          "&extension=park&priority=1")
    assert answer.status_code == 204, answer.text


def test_a_party_being_parked_as_ringbridge_dies_stays_in_the_lot_with_its_record_open(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess,
        asterisk: Asterisk) -> None:
    """The takeover took the caller, alone in the call's bridge, for one whose peer had
    hung up: it closed the record and said so while the call waited in the lot."""
    outgoing, incoming, call_id = connected_call(office, receiver, "6310", "3371", "3379")
    bridge.kill()
    send_to_lot(asterisk, f"rb-{call_id}-1", office.domain, call_id, "3379")
    seen = restart(bridge)
    outgoing.wait_disconnected()  # the parker, hung up as the park would have
    bridge.wait_log(rf"call {call_id}: rb-{call_id}-1 was being parked as ringbridge went "
                    "down", after=seen)
    assert the_end(receiver, call_id) == ["invite", "ringing", "connected", "cleared"]
    assert incoming.state == "confirmed"
    incoming.wait_rtp(10)  # music on hold in the lot
    listed = wait_until(lambda: [c for c in calls_of(office, "3379") if c["id"] == call_id],
                        5, "the parked call listed")
    assert view_of(listed[0], "3371")["parkedPos"] == 701
    with bridge.database_session() as session:
        assert session.get(CallRecord, call_id).ended_at is None  # type: ignore[union-attr]
    incoming.hangup()
    steps = wait_until(lambda: steps_once_finished(bridge, call_id), 5, "the record closed")
    assert steps.count("ended") == 1, steps


def steps_once_finished(bridge: BridgeProcess, call_id: str) -> list[str] | None:
    """The kinds of the call's steps once its record is finished (its end reason
    written), else None; by call id, as another test's call may have dialled the same
    number."""
    with bridge.database_session() as session:
        record = session.get(CallRecord, call_id)
        if record is None or record.ended_at is None or record.end_reason is None:
            return None
        return [step.kind for step in sorted(record.steps, key=lambda step: step.at)]


def test_a_caller_who_gives_up_while_ringbridge_is_down_is_missed_then_cleared(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    members = group_with_dispatch(office, receiver, "6304", ["3331"])
    caller = office.phone("3339")
    outgoing, incoming, call_id = ringing_call(caller, "6304", members["3331"], receiver)
    bridge.kill()
    outgoing.hangup()
    time.sleep(1)
    seen = restart(bridge)
    incoming.wait_disconnected()  # the agent's phone stops ringing for nobody
    bridge.wait_log(rf"channel \S+: a leg of call {call_id}, which no flow runs", after=seen)
    assert the_end(receiver, call_id) == ["invite", "ringing", "missed", "cleared"]
    record = bridge.call_record("6304")
    assert record.call_id == call_id and record.answered_at is None
    assert record.end_reason is not None and "caller hung up while ringbridge was down" \
        in record.end_reason


def test_a_call_that_ended_entirely_while_ringbridge_was_down_is_closed(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    members = group_with_dispatch(office, receiver, "6305", ["3341"], ring_time=5)
    caller = office.phone("3349")
    outgoing, incoming, call_id = ringing_call(caller, "6305", members["3341"], receiver)
    bridge.kill()
    outgoing.hangup()
    incoming.wait_disconnected(timeout=10)  # Asterisk's own ring timeout ends the leg
    seen = restart(bridge)
    bridge.wait_log(r"1 calls of the earlier ringbridge had ended while it was down",
                    after=seen)
    assert the_end(receiver, call_id) == ["invite", "ringing", "missed", "cleared"]
    record = bridge.call_record("6305")
    assert record.call_id == call_id and record.end_reason is not None
    assert "ended while ringbridge was down" in record.end_reason


def test_an_agent_who_answers_while_ringbridge_is_down_gets_the_caller(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    members = group_with_dispatch(office, receiver, "6306", ["3351"])
    caller = office.phone("3359")
    outgoing, incoming, call_id = ringing_call(caller, "6306", members["3351"], receiver)
    bridge.kill()
    incoming.answer()
    time.sleep(1)
    seen = restart(bridge)
    outgoing.wait_answered()
    bridge.wait_log(rf"call {call_id}: 3351 answered while ringbridge was down; connected",
                    after=seen)
    incoming.wait_rtp(20)  # audio flows from the caller to the agent
    outgoing.wait_rtp(20)
    assert incoming.state == "confirmed"  # never dropped and rung again
    with pytest.raises(TimeoutError):
        members["3351"].wait_incoming(timeout=1)
    outgoing.hangup()
    incoming.wait_disconnected()
    assert the_end(receiver, call_id) == ["invite", "ringing", "connected", "cleared"]
    cleared = receiver.wait_for("/telephony/cleared")[0].json
    assert cleared["agentId"] == "agent3351@example.com"
    record = bridge.call_record("6306")
    assert (record.call_id, record.answered_by) == (call_id, "3351")


def test_a_call_lost_in_an_asterisk_crash_is_recorded_as_such_without_a_cause(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess,
        asterisk: Asterisk) -> None:
    connected = connected_call(office, receiver, "6307", "3361", "3369")  # kept up
    call_id = connected[2]
    seen = len(bridge.log())
    asterisk.crash()
    bridge.wait_log(r"ARI connected:", timeout=30, after=seen)
    assert the_end(receiver, call_id) == ["invite", "ringing", "connected", "cleared"]
    record = bridge.call_record("6307")
    assert record.call_id == call_id and record.end_cause is None
    assert record.end_reason is not None
    assert "Asterisk restarted and lost channels" in record.end_reason


def _stops_ringing_for_a_caller_gone(office: Office, receiver: DispatchReceiver,
                                     bridge: BridgeProcess, asterisk: Asterisk, number: str,
                                     caller: Phone, ringing_phones: list[Phone]) -> None:
    """The caller hangs up while ringbridge is down and `ringing_phones` ring for it:
    the caller's dialplan handler noted when on each of them; once ringbridge is back
    they stop (a CANCEL, as when a caller gives up), the record closes at the moment
    the caller left and the dispatcher gets the one end."""
    outgoing = caller.call(number)
    ringing = [phone.wait_incoming() for phone in ringing_phones]
    for call in ringing:
        call.wait_ringing()
    # Every phone's `ringing` out before the kill: one still on its way would be lost.
    call_id = receiver.wait_for("/telephony/ringing", count=len(ringing))[0].json["callId"]
    bridge.kill()
    outgoing.hangup()
    left_at = datetime.now(UTC)
    time.sleep(2)
    assert [call.state for call in ringing] == ["early"] * len(ringing)  # ringing on
    for leg in range(1, len(ringing) + 1):  # every leg, not just the first
        read = asterisk.ari("GET", f"/channels/rb-{call_id}-{leg}/variable"
                            "?variable=SHARED(RB_PEER_LEFT)")
        assert read.status_code == 200, f"nothing noted on leg {leg}: {read.text}"
        noted = read.json()["value"]
        moment, cause = noted.split()
        assert abs(float(moment) - left_at.timestamp()) < 1 and cause.isdigit(), noted
    seen = restart(bridge)
    back = time.monotonic()
    for call in ringing:
        call.wait_disconnected(timeout=2)  # a missed call on the phone, nobody answered
        assert call.ended_by is not None and call.ended_by[0] == "CANCEL"
        assert call.ended_by[1].get("Reason") == "Q.850;cause=16"
    assert time.monotonic() - back < 2
    bridge.wait_log(rf"call {call_id}: the caller hung up while ringbridge was down "
                    r"\(cause \d+\); hung up", after=seen)
    assert the_end(receiver, call_id) == ["invite", *["ringing"] * len(ringing), "missed",
                                          "cleared"]
    record = bridge.call_record(number)
    assert record.call_id == call_id and record.answered_at is None
    assert record.end_reason is not None and "caller hung up while ringbridge was down" \
        in record.end_reason
    assert record.ended_at is not None
    ended = record.ended_at.replace(tzinfo=UTC) if record.ended_at.tzinfo is None \
        else record.ended_at
    assert abs((ended - left_at).total_seconds()) < 1, (ended, left_at)
    assert record.end_cause == 16  # as when a caller gives up while ringbridge runs
    cleared = receiver.wait_for("/telephony/cleared")[0].json
    assert abs((instant(cleared["times"]["cleared"]) - left_at).total_seconds()) < 1


def test_phones_ringing_for_a_caller_who_left_while_ringbridge_was_down_stop(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess,
        asterisk: Asterisk) -> None:
    members = group_with_dispatch(office, receiver, "6308", ["3371", "3372"])
    _stops_ringing_for_a_caller_gone(office, receiver, bridge, asterisk, "6308",
                                     office.phone("3379"), [members["3371"], members["3372"]])


def test_a_hunt_whose_caller_left_while_ringbridge_was_down_rings_nobody_else(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess,
        asterisk: Asterisk) -> None:
    members = group_with_dispatch(office, receiver, "6309", ["3381", "3382"],
                                  ring_strategy="PRIORITIZED_HUNT")
    _stops_ringing_for_a_caller_gone(office, receiver, bridge, asterisk, "6309",
                                     office.phone("3389"), [members["3381"]])
    with pytest.raises(TimeoutError):
        members["3382"].wait_incoming(timeout=2)  # the hunt does not go on for nobody


def test_a_call_s_steps_not_written_when_ringbridge_died_are_written_once_it_is_back(
        office: Office, bridge: BridgeProcess) -> None:
    """The database is locked (as by a long transaction elsewhere) while a call is
    made, answered and hung up, so the writer holds every step of it; ringbridge is then
    killed. The steps were on disk (the step journal): its next start writes them."""
    assert bridge.database_url == bridge.sqlite_url
    office.extension("3361")
    member = office.phone("3361")
    caller = office.phone("3369")
    office.group("6319", ["3361"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=30)
    locker = sqlite3.connect(bridge.workdir / "ringbridge.db", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # every writer waits (SQLite's busy timeout)
        outgoing = caller.call("6319")
        incoming = member.wait_incoming()
        incoming.answer()
        outgoing.wait_answered()
        outgoing.hangup()
        incoming.wait_disconnected()
        bridge.wait_log(r"call \S+: ending \(caller hung up")
        bridge.kill()
    finally:
        locker.rollback()
        locker.close()
    with bridge.database_session() as session:
        assert session.scalar(select(CallRecord).where(CallRecord.dialled == "6319")) is None
    seen = restart(bridge)
    found = bridge.wait_log(r"(\d+) call record steps left on disk by a process that "
                            r"ended: the database lacked (\d+) of them", after=seen)
    record = bridge.call_record("6319")
    kinds = [step.kind for step in record.steps]
    assert kinds[0] == "arrived" and kinds[-1] == "ended" and "answered" in kinds
    assert int(found.group(2)) >= len(kinds)  # every step of the call came from the journal
    assert record.answered_by == "3361" and record.end_reason is not None
    assert record.end_reason.startswith("ending (caller hung up")
