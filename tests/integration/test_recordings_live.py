"""Recordings on real calls: a recorded ring group call and a voicemail reach the
dispatcher as `recordingUrl`, and the WAV is fetched through the API, by its tenant only,
once Asterisk has written it whole (409 while the call goes on), also when ringbridge
restarted during the call."""

from __future__ import annotations

import io
import secrets
import time
import wave
from datetime import timedelta

import httpx
import pytest

from bridge.store.ids import decode_id
from tests.integration.conftest import PhoneFactory
from tests.integration.dispatching import instant, seconds, verify
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess
from tests.support.dispatch_receiver import DispatchReceiver, RecordedRequest
from tests.support.polling import wait_until
from tests.support.softphone import IncomingPolicy, Phone

TALK = 3.0  # seconds the recorded call lasts


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    return Office(bridge, phone, company=f"rec{secrets.token_hex(3)}").create()


def cleared_of(receiver: DispatchReceiver, call_id: str) -> RecordedRequest:
    found = [r for r in receiver.wait_for("/telephony/cleared")
             if r.json["callId"] == call_id]
    assert len(found) == 1
    return found[0]


def fetch_wav(bridge: BridgeProcess, url: str, token: str) -> wave.Wave_read:
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert len(response.content) > 44, "a WAV header and no audio"
    return wave.open(io.BytesIO(response.content))


def test_a_recorded_call_reaches_the_dispatcher_and_is_fetched_as_wav(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess,
        phone: PhoneFactory) -> None:
    office.extension("3201", agent_id="agent3201@example.com")
    member, caller = office.phone("3201"), office.phone("3209")
    office.group("6261", ["3201"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id="rec@exampletaxis.com", queue_type="customer", record_calls=True)
    bridge.cli("tenants", "set", "--tenant", office.company, "--time-zone", "Asia/Kolkata")
    secret = office.api("POST", "/api/dispatch/settings", json={
        "base_url": receiver.url, "signing_secret": "generate"})["signing_secret"]

    outgoing = caller.call("6261")
    member.wait_incoming().answer()
    outgoing.wait_answered()
    outgoing.wait_rtp(20)
    talking = time.monotonic()
    call_id = receiver.wait_for("/telephony/invite")[0].query["callId"][0]
    call_url = f"{bridge.url}/api/call_records/{call_id}"
    wait_until(lambda: office.api("GET", f"/api/call_records/{call_id}")["recording_url"],
               5, "the recording linked to the call")
    during = bridge.api("GET", f"/api/call_records/{call_id}/recording", office.token)
    assert (during.status_code, during.headers["Retry-After"]) == (409, "5"), during.text
    time.sleep(max(0.0, TALK - (time.monotonic() - talking)))
    outgoing.hangup()
    cleared = cleared_of(receiver, call_id)
    verify(cleared, secret)

    assert cleared.json["callUrl"] == call_url
    assert cleared.json["recordingUrl"] == f"{call_url}/recording"
    times = cleared.json["times"]
    for name in ("received", "connected", "cleared"):
        assert instant(times[name]).utcoffset() == timedelta(hours=5, minutes=30), times
    talked = seconds(times["duration"])
    assert TALK < talked < TALK + 3

    recording = fetch_wav(bridge, cleared.json["recordingUrl"], office.token)
    assert (recording.getnchannels(), recording.getsampwidth()) == (1, 2)
    length = recording.getnframes() / recording.getframerate()
    assert talked - 1.0 < length <= talked + 0.5, (length, talked)
    assert office.api("GET", f"/api/call_records/{call_id}")["recording_url"] == \
        cleared.json["recordingUrl"]

    other = Office(bridge, phone, company=f"other{secrets.token_hex(3)}").create()
    assert bridge.api("GET", f"/api/call_records/{call_id}/recording",
                      other.token).status_code == 404


def test_a_voicemail_reaches_the_dispatcher_as_its_recording(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    office.phone("3211", IncomingPolicy.RING)
    caller = office.phone("3219")
    group_id = office.group("6271", ["3211"], ring_strategy="PRIORITIZED_HUNT", ring_time=2,
                            no_answer_forward_rule={"action": "FORWARD_TO_VOICEMAIL",
                                                    "number": None})
    office.api("POST", "/api/dispatch/settings", json={"base_url": receiver.url})

    outgoing = caller.call("6271")
    outgoing.wait_answered(timeout=6)
    # After the prompt and the beep (the log is the session's: this group's box only).
    started = bridge.wait_log(rf"call (\S+): recording as voicemail-{decode_id(group_id)}-",
                              timeout=30)
    time.sleep(1.5)  # the caller's message
    outgoing.hangup()
    call_id = started.group(1)
    cleared = cleared_of(receiver, call_id)
    assert cleared.json["recordingUrl"] == f"{bridge.url}/api/call_records/{call_id}/recording"
    message = fetch_wav(bridge, cleared.json["recordingUrl"], office.token)
    assert message.getnframes() > 0


def recorded_group(office: Office, receiver: DispatchReceiver, number: str, member: str,
                   caller: str) -> tuple[Phone, Phone]:
    """A one-member group that records its calls, with dispatch: its member's phone
    and a caller's."""
    office.extension(member, agent_id=f"agent{member}@example.com")
    phones = office.phone(member), office.phone(caller)
    office.group(number, [member], ring_strategy="RING_SIMULTANEOUSLY", ring_time=30,
                 record_calls=True)
    office.api("POST", "/api/dispatch/settings", json={"base_url": receiver.url})
    return phones


def test_a_recorded_call_adopted_after_a_restart_is_cleared_with_its_recording(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    member, caller = recorded_group(office, receiver, "6281", "3221", "3229")
    outgoing = caller.call("6281")
    member.wait_incoming().answer()
    outgoing.wait_answered()
    call_id = receiver.wait_for("/telephony/connected")[0].json["callId"]
    wait_until(lambda: office.api("GET", f"/api/call_records/{call_id}")["recording_url"],
               5, "the recording linked to the call")
    time.sleep(1)
    bridge.kill()
    time.sleep(1)  # the recording goes on in Asterisk meanwhile
    seen = len(bridge.log())
    bridge.start()
    bridge.wait_log(rf"call {call_id}: adopted", after=seen)
    time.sleep(1)
    outgoing.hangup()

    cleared = cleared_of(receiver, call_id)
    assert cleared.json["recordingUrl"] == \
        f"{bridge.url}/api/call_records/{call_id}/recording"
    talked = seconds(cleared.json["times"]["duration"])
    recording = wait_until(lambda: _whole(bridge, cleared.json["recordingUrl"], office.token),
                           5, "the recording written whole")
    length = recording.getnframes() / recording.getframerate()
    assert talked - 1.0 < length <= talked + 0.5, (length, talked)


def test_a_recorded_groups_call_answered_while_ringbridge_is_down_is_recorded(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    """Connected when ringbridge is back, the call is recorded from then on (it was
    connected unrecorded)."""
    member, caller = recorded_group(office, receiver, "6291", "3231", "3239")
    outgoing = caller.call("6291")
    incoming = member.wait_incoming()
    incoming.wait_ringing()
    call_id = receiver.wait_for("/telephony/ringing")[0].json["callId"]
    bridge.kill()
    incoming.answer()
    seen = len(bridge.log())
    bridge.start()
    bridge.wait_log(rf"call {call_id}: 3231 answered while ringbridge was down; connected",
                    after=seen)
    outgoing.wait_answered()
    outgoing.wait_rtp(20)
    talking = time.monotonic()
    time.sleep(TALK)
    outgoing.hangup()

    cleared = cleared_of(receiver, call_id)
    assert cleared.json["recordingUrl"] == \
        f"{bridge.url}/api/call_records/{call_id}/recording"
    recording = wait_until(lambda: _whole(bridge, cleared.json["recordingUrl"], office.token),
                           5, "the recording written whole")
    length = recording.getnframes() / recording.getframerate()
    assert TALK - 1.0 < length <= time.monotonic() - talking + 1.0, length


def _whole(bridge: BridgeProcess, url: str, token: str) -> wave.Wave_read | None:
    """The recording once Asterisk has finished it (its bridge is gone), else None."""
    if bridge.api("GET", url.removeprefix(bridge.url), token).status_code == 409:
        return None
    return fetch_wav(bridge, url, token)
