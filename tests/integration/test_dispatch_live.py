"""Dispatch events on real calls: what the dispatcher's server receives, and 307s."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import update

from bridge.store.models import DispatchSettings
from tests.integration.conftest import PhoneFactory
from tests.integration.dispatching import agents, dispatch_to, instant, seconds, verify
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.polling import wait_until
from tests.support.softphone import IncomingPolicy

QUEUE = "main@exampletaxis.com"


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    suffix = secrets.token_hex(3)
    return Office(bridge, phone, company=f"ABC Taxis {suffix}",
                  sip_domain=f"abc{suffix}.example").create()


def events(receiver: DispatchReceiver) -> list[str]:
    return [request.path.rsplit("/", 1)[1] for request in receiver.requests]


def delivery_when(office: Office, call_id: str, event: str,
                  reached: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """The first `event` delivery of the call once `reached` holds for it (the delivery
    log is written off the call's path: poll the API, bounded)."""
    deadline = time.monotonic() + 10
    while True:
        items = office.api("GET", f"/api/call_records/{call_id}/dispatch_deliveries")["items"]
        found = next((item for item in items if item["event"] == event), None)
        if found is not None and reached(found):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"call {call_id}: {event} delivery never {what}: {found}")
        time.sleep(0.1)


def late_answer_logged(office: Office, call_id: str) -> dict[str, Any]:
    return delivery_when(office, call_id, "ringing", lambda item: item["http_status"] is not None,
                         "got its answer")


def first_attempt_failed(office: Office, call_id: str, event: str) -> dict[str, Any]:
    return delivery_when(office, call_id, event,
                         lambda item: item["attempts"] >= 1 and item["state"] == "pending",
                         "failed a first attempt")


def delivered(office: Office, call_id: str, event: str) -> dict[str, Any]:
    return delivery_when(office, call_id, event, lambda item: item["state"] == "delivered",
                         "was delivered")


def test_an_answered_call_company_in_the_path(office: Office, receiver: DispatchReceiver,
                                              bridge: BridgeProcess) -> None:
    members = agents(office, "3101", "3102")
    caller = office.phone("3109")
    group_id = office.group("6101", list(members), ring_strategy="RING_SIMULTANEOUSLY",
                            ring_time=20, queue_id=QUEUE, queue_type="customer")
    secret = dispatch_to(office, receiver, company_in_path=True,
                         signing_secret="generate")["signing_secret"]
    receiver.respond(200, body={"customerId": "C-77", "priority": "high"}, match="/invite")
    before = bridge.metrics()

    outgoing = caller.call("6101")
    ringing = {number: phone.wait_incoming() for number, phone in members.items()}
    invite = receiver.wait_for("/telephony/invite")[0]
    prefix = f"/{office.company}/telephony/"
    assert invite.method == "GET" and invite.path == prefix + "invite"
    assert invite.raw_path == f"/{office.company.replace(' ', '%20')}/telephony/invite"
    call_id = invite.query["callId"][0]
    assert invite.query == {"companyId": [office.company], "phoneNumber": ["3109"],
                            "queueId": [QUEUE], "queueType": ["customer"],
                            "callId": [call_id]}
    pops = receiver.wait_for("/telephony/ringing", count=2)
    common = {"companyId": office.company, "phoneNumber": "3109", "queueId": QUEUE,
              "queueType": "customer", "callId": call_id}
    assert sorted(r.json["agentId"] for r in pops) == ["agent3101@example.com",
                                                         "agent3102@example.com"]
    assert all(r.json == common | {"agentId": r.json["agentId"]} for r in pops)
    assert all(r.received_at > invite.received_at for r in pops)

    ringing["3102"].answer()
    outgoing.wait_answered()
    connected = receiver.wait_for("/telephony/connected")[0]
    assert connected.json == common | {"agentId": "agent3102@example.com"}
    time.sleep(1.0)  # the call lasts a second: the duration assertion below
    outgoing.hangup()
    cleared = receiver.wait_for("/telephony/cleared")[0]
    times = cleared.json.pop("times")
    assert cleared.json == common | {"agentId": "agent3102@example.com",
                                     "callUrl": f"{bridge.url}/api/call_records/{call_id}"}
    assert events(receiver).count("ringing") == 2 and "missed" not in events(receiver)
    for request in receiver.requests:
        verify(request, secret)

    received, connected_at, ended = (instant(times[k]) for k in ("received", "connected",
                                                                  "cleared"))
    assert received < connected_at < ended
    assert seconds(times["totalWait"]) == pytest.approx(
        (connected_at - received).total_seconds(), abs=0.002)
    assert seconds(times["duration"]) == pytest.approx(
        (ended - connected_at).total_seconds(), abs=0.002)
    assert 0.9 < seconds(times["duration"]) < 5

    record = office.api("GET", f"/api/call_records/{call_id}")
    assert record["dispatch_snapshot"] == {"customerId": "C-77", "priority": "high"}
    assert record["ring_group_id"] == group_id
    delivered(office, call_id, "cleared")  # written once the receiver has answered
    log = office.api("GET", f"/api/call_records/{call_id}/dispatch_deliveries")
    assert [item["event"] for item in log["items"]].count("ringing") == 2
    assert {item["state"] for item in log["items"]} == {"delivered"}
    assert {item["event"] for item in log["items"]} == {"invite", "ringing", "connected",
                                                         "cleared"}
    after = bridge.metrics()  # every attempt, counted by the engine's process

    def attempts_delivered(samples: dict[Any, float], event: str) -> float:
        return samples.get(("ringbridge_dispatch_attempts_total", frozenset({
            ("event", event), ("outcome", "delivered")})), 0.0)

    assert {event: attempts_delivered(after, event) - attempts_delivered(before, event)
            for event in (
        "invite", "ringing", "connected", "cleared")} == {
        "invite": 1, "ringing": 2, "connected": 1, "cleared": 1}
    answered = ("ringbridge_dispatch_answered_seconds_count", frozenset({
        ("event", "ringing")}))
    assert after[answered] - before.get(answered, 0) == 2  # from each phone's 180


def test_a_member_without_agent_id_who_answers_is_connected_not_missed(
        office: Office, receiver: DispatchReceiver) -> None:
    member = office.phone("3221")  # an extension without agent_id
    caller = office.phone("3229")
    office.group("6203", ["3221"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver)

    outgoing = caller.call("6203")
    ringing = member.wait_incoming()
    call_id = receiver.wait_for("/telephony/ringing")[0].json["callId"]
    ringing.answer()
    outgoing.wait_answered()
    connected = receiver.wait_for("/telephony/connected")[0]
    outgoing.hangup()
    cleared = receiver.wait_for("/telephony/cleared")[0]
    common = {"companyId": office.company, "phoneNumber": "3229", "queueId": QUEUE,
              "queueType": "customer", "agentId": None, "callId": call_id}
    assert connected.json == common
    assert {k: v for k, v in cleared.json.items() if k in common} == common
    assert set(cleared.json["times"]) == {"received", "totalWait", "connected", "duration",
                                          "cleared"}
    assert events(receiver) == ["invite", "ringing", "connected", "cleared"]


def test_a_serial_hunt_nobody_answers_host_form(office: Office, receiver: DispatchReceiver,
                                                bridge: BridgeProcess) -> None:
    members = agents(office, "3121", "3122")
    caller = office.phone("3129")
    office.group("6102", list(members), ring_strategy="PRIORITIZED_HUNT", ring_time=2,
                 queue_id=QUEUE, queue_type="driver", no_answer_forward_rule={"action": "HANGUP"})
    dispatch_to(office, receiver, company_in_query=True)

    outgoing = caller.call("6102")
    outgoing.wait_disconnected(timeout=10)
    missed = receiver.wait_for("/telephony/missed")[0]
    cleared = receiver.wait_for("/telephony/cleared")[0]
    assert events(receiver) == ["invite", "ringing", "ringing", "missed", "cleared"]
    invite = receiver.wait_for("/telephony/invite")[0]
    call_id = invite.query["callId"][0]
    assert invite.method == "GET" and invite.raw_path == "/telephony/invite"
    assert invite.query == {"companyId": [office.company], "phoneNumber": ["3129"],
                            "queueId": [QUEUE], "queueType": ["driver"], "callId": [call_id]}
    common = {"companyId": office.company, "phoneNumber": "3129", "queueId": QUEUE,
              "queueType": "driver", "callId": call_id}
    pops = receiver.wait_for("/telephony/ringing", count=2)
    assert [r.json for r in pops] == [common | {"agentId": "agent3121@example.com"},
                                      common | {"agentId": "agent3122@example.com"}]
    assert pops[1].received_at - pops[0].received_at == pytest.approx(2, abs=0.8)
    assert all(r.raw_path == r.path == f"/telephony/{event}"
               and r.query == {"companyId": [office.company]}
               for r, event in [*((p, "ringing") for p in pops), (missed, "missed"),
                                (cleared, "cleared")])
    assert "webhook-signature" not in {k.lower() for k in pops[0].headers}
    assert missed.json == common | {"agentId": None}
    times = cleared.json.pop("times")
    assert cleared.json == common | {"agentId": None,
                                     "callUrl": f"{bridge.url}/api/call_records/{call_id}"}
    assert set(times) == {"received", "totalWait", "cleared"}
    assert 3.5 < seconds(times["totalWait"]) < 7


def test_a_caller_who_gives_up_while_phones_ring_is_missed_then_cleared(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    members = agents(office, "3231", "3232")
    caller = office.phone("3239")
    office.group("6204", list(members), ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver, company_in_path=True)

    outgoing = caller.call("6204")
    ringing = [phone.wait_incoming() for phone in members.values()]
    pops = receiver.wait_for("/telephony/ringing", count=2)
    call_id = pops[0].json["callId"]
    time.sleep(0.5)  # the caller hears ringback a moment, then gives up
    outgoing.hangup()
    for call in ringing:
        call.wait_disconnected()
    missed = receiver.wait_for("/telephony/missed")[0]
    cleared = receiver.wait_for("/telephony/cleared")[0]
    assert events(receiver) == ["invite", "ringing", "ringing", "missed", "cleared"]
    prefix = f"/{office.company}/telephony/"
    assert (missed.method, missed.path, cleared.method, cleared.path) == (
        "POST", prefix + "missed", "POST", prefix + "cleared")
    common = {"companyId": office.company, "phoneNumber": "3239", "queueId": QUEUE,
              "queueType": "customer", "agentId": None, "callId": call_id}
    assert missed.json == common
    times = cleared.json.pop("times")
    assert cleared.json == common | {"callUrl": f"{bridge.url}/api/call_records/{call_id}"}
    assert set(times) == {"received", "totalWait", "cleared"}
    received, ended = instant(times["received"]), instant(times["cleared"])
    assert seconds(times["totalWait"]) == pytest.approx((ended - received).total_seconds(),
                                                        abs=0.002)
    assert 0.4 < seconds(times["totalWait"]) < 10
    assert missed.received_at < cleared.received_at


def test_a_dispatcher_looking_the_call_up_at_cleared_finds_its_record_complete(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    """The dispatcher reads the call's record (`callUrl`) the moment `cleared` arrives,
    before answering it: the record has the answer and the end already (the engine
    writes the steps of other calls' ends up to 50 ms late, in batches)."""
    members = agents(office, "3241")
    caller = office.phone("3249")
    office.group("6205", list(members), ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver)
    looked_up: list[httpx.Response] = []
    receiver.respond(match="/telephony/cleared", react=lambda request: looked_up.append(
        bridge.api("GET", urlsplit(request.json["callUrl"]).path, office.token)))

    outgoing = caller.call("6205")
    members["3241"].wait_incoming().answer()
    outgoing.wait_answered()
    time.sleep(0.5)  # the answer's steps written: the end is the only step left
    outgoing.hangup()
    cleared = receiver.wait_for("/telephony/cleared")[0]
    wait_until(lambda: looked_up, 5, "the dispatcher's look-up, before its answer")
    assert [answer.status_code for answer in looked_up] == [200], looked_up[0].text
    record = looked_up[0].json()
    assert record["call_id"] == cleared.json["callId"]
    assert record["answered_by"] == "3241", record
    assert record["ended_at"] is not None and "caller hung up" in record["end_reason"]
    assert [step["kind"] for step in record["steps"]][-1] == "ended"


def test_307_to_an_agent_rings_that_agent_instead(office: Office,
                                                  receiver: DispatchReceiver) -> None:
    members = agents(office, "3131", "3132", "3133")
    caller = office.phone("3139")
    office.group("6103", ["3131", "3132"], ring_strategy="RING_SIMULTANEOUSLY",
                 ring_time=20, queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver)
    receiver.respond(307, headers={"Location": "agent3133@example.com"}, match="/ringing")

    outgoing = caller.call("6103")
    first = [members[n].wait_incoming() for n in ("3131", "3132")]
    redirected = members["3133"].wait_incoming(timeout=5)
    for call in first:
        call.wait_disconnected()
        assert call.ended_by is not None and call.ended_by[0] == "CANCEL"
        assert "completed elsewhere" not in call.ended_by[1].get("Reason", "").lower()
    redirected.answer()
    outgoing.wait_answered()
    connected = receiver.wait_for("/telephony/connected")[0]
    assert connected.json["agentId"] == "agent3133@example.com"
    assert connected.json["queueId"] == QUEUE
    outgoing.hangup()
    redirected.wait_disconnected()
    record = office.bridge.call_record("6103")
    assert record.answered_by == "3133"
    assert any(s.kind == "redirected" and s.target == "agent3133@example.com"
               for s in record.steps)


def test_307_to_a_queue_hunts_that_group(office: Office, receiver: DispatchReceiver) -> None:
    members = agents(office, "3141", "3142")
    caller = office.phone("3149")
    office.group("6104", ["3141"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    office.group("6105", ["3142"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id="drivers@exampletaxis.com", queue_type="driver")
    dispatch_to(office, receiver)
    receiver.respond(307, headers={"Location": "drivers@exampletaxis.com"}, match="/ringing")

    outgoing = caller.call("6104")
    members["3141"].wait_incoming().wait_disconnected()
    moved = members["3142"].wait_incoming()
    pops = receiver.wait_for("/telephony/ringing", count=2)
    assert [(r.json["agentId"], r.json["queueId"], r.json["queueType"]) for r in pops] == [
        ("agent3141@example.com", QUEUE, "customer"),
        ("agent3142@example.com", "drivers@exampletaxis.com", "driver")]
    moved.answer()
    outgoing.wait_answered()
    outgoing.hangup()


def test_a_307_after_the_deadline_is_logged_not_acted_on(office: Office,
                                                          receiver: DispatchReceiver) -> None:
    members = agents(office, "3151", "3152")
    caller = office.phone("3159")
    office.group("6106", ["3151"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver, ringing_timeout_ms=200)
    receiver.respond(307, headers={"Location": "agent3152@example.com"}, delay=0.8,
                     match="/ringing")

    outgoing = caller.call("6106")
    ringing = members["3151"].wait_incoming()
    call_id = receiver.wait_for("/telephony/ringing")[0].json["callId"]
    # Past this line the hunt no longer waits for the answer, so it can never act on it...
    office.bridge.wait_log(rf"call {call_id}: dispatch ringing had no answer within 200 ms")
    late_answer_logged(office, call_id)  # ... which then comes, and is only logged
    assert members["3152"].incoming == [] and ringing.state == "early"
    ringing.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    late = late_answer_logged(office, call_id)
    assert (late["http_status"], late["location"]) == (307, "agent3152@example.com")
    assert late["latency_ms"] >= 700


def test_a_dispatcher_that_is_slow_then_down_never_holds_a_call(
        office: Office, receiver: DispatchReceiver) -> None:
    members = agents(office, "3161")
    caller = office.phone("3169")
    office.group("6107", ["3161"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver, invite_timeout_ms=300)
    receiver.respond(200, delay=3, match="/invite")

    started = time.monotonic()
    outgoing = caller.call("6107")
    ringing = members["3161"].wait_incoming()
    assert time.monotonic() - started < 1.5, "the slow invite held the call"
    receiver.refuse()
    ringing.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    ringing.wait_disconnected()
    first_attempt_failed(office, office.bridge.call_record("6107").call_id, "connected")
    receiver.respond(500, match="/cleared")
    receiver.accept()
    receiver.wait_for("/telephony/cleared", timeout=10)
    receiver.respond(200, match="/cleared")
    cleared = receiver.wait_for("/telephony/cleared", count=2, timeout=15)[1]
    connected = receiver.wait_for("/telephony/connected", timeout=5)[0]
    assert connected.received_at < cleared.received_at
    call_id = cleared.json["callId"]
    # The receiver logs a request before it answers, so the delivered state is written
    # only after wait_for returns: wait for it.
    assert delivered(office, call_id, "connected")["attempts"] >= 2
    # cleared waited behind connected (events of a call go in order), then met the 500
    assert delivered(office, call_id, "cleared")["attempts"] >= 2


def store_base_url(bridge: BridgeProcess, company: str, base_url: str) -> None:
    """Write `base_url` into the tenant's settings as an older ringbridge stored it,
    past the API's checks."""
    tenant_id = bridge.tenant_id(company)
    with bridge.database_session() as session:
        session.execute(update(DispatchSettings).where(
            DispatchSettings.tenant_id == tenant_id).values(base_url=base_url))


def test_a_dispatcher_url_the_client_refuses_never_holds_the_call(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    """The client raised on such a URL, out through the call's invite."""
    members = agents(office, "3191")
    caller = office.phone("3199")
    office.group("6111", ["3191"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver, invite_timeout_ms=300)
    store_base_url(bridge, office.company, receiver.url + ":abc")

    started = time.monotonic()
    outgoing = caller.call("6111")
    ringing = members["3191"].wait_incoming()
    assert time.monotonic() - started < 1.5, "the dispatch failure held the call"
    assert "3199" in ringing.from_header
    ringing.answer()
    outgoing.wait_answered()
    ringing.wait_rtp(5)
    outgoing.hangup()
    ringing.wait_disconnected()
    call_id = bridge.call_record("6111").call_id
    for event in ("invite", "ringing", "connected", "cleared"):
        failed = delivery_when(office, call_id, event, lambda item: item["state"] != "pending",
                               "ended")
        assert failed["state"] == "failed" and failed["attempts"] == 1, failed
        assert failed["error"].startswith("InvalidURL"), failed
    assert receiver.requests == []
    record = office.api("GET", f"/api/call_records/{call_id}")
    assert record["dispatch_snapshot"] is None


def test_events_stored_before_a_restart_are_delivered_after_it(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    members = agents(office, "3171")
    caller = office.phone("3179")
    office.group("6108", ["3171"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver)
    receiver.refuse()
    outgoing = caller.call("6108")
    ringing = members["3171"].wait_incoming()
    ringing.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    ringing.wait_disconnected()
    call_id = bridge.call_record("6108").call_id
    stored: list[str] = []
    deadline = time.monotonic() + 5
    while "cleared" not in stored and time.monotonic() < deadline:
        time.sleep(0.1)
        stored = [item["event"] for item in office.api(
            "GET", f"/api/call_records/{call_id}/dispatch_deliveries")["items"]]
    assert {"connected", "cleared"} <= set(stored)
    bridge.stop()
    receiver.accept()
    bridge.start()
    connected, cleared = (receiver.wait_for(f"/telephony/{event}", timeout=10)[0]
                          for event in ("connected", "cleared"))
    assert connected.received_at < cleared.received_at
    assert connected.json["callId"] == cleared.json["callId"]
    assert cleared.json["times"]["duration"].startswith("PT")


def test_a_phone_that_sends_183_instead_of_180_pops_up_once(
        office: Office, receiver: DispatchReceiver) -> None:
    office.extension("3181", agent_id="agent3181@example.com")
    member = office.phone("3181", IncomingPolicy.IGNORE)
    caller = office.phone("3189")
    office.group("6109", ["3181"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 queue_id=QUEUE, queue_type="customer")
    dispatch_to(office, receiver)
    outgoing = caller.call("6109")
    incoming = member.wait_incoming()
    time.sleep(0.5)  # deliberate: room for a wrong ringing POST to arrive
    assert "ringing" not in events(receiver)
    incoming.answer(183)
    pop = receiver.wait_for("/telephony/ringing")[0]
    assert pop.json["agentId"] == "agent3181@example.com"
    incoming.answer(200)
    outgoing.wait_answered()
    outgoing.hangup()
    receiver.wait_for("/telephony/cleared")
    assert events(receiver).count("ringing") == 1


def test_the_most_urgent_waiting_caller_gets_the_agent_who_comes_free(
        office: Office, receiver: DispatchReceiver) -> None:
    """One agent, busy; two callers wait in the group's line, the later one urgent."""
    member = agents(office, "3201")["3201"]
    office.phone("3208", IncomingPolicy.ANSWER)  # the member's partner on a call
    early, urgent = office.phone("3205"), office.phone("3206")
    office.group("6201", ["3201"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 skip_busy_member=True, max_wait_time=30, queue_id=QUEUE)
    dispatch_to(office, receiver)
    talk = member.call("3208")
    talk.wait_answered()

    receiver.respond(200, body={"priority": "low"}, match="/invite")
    waiting_early = early.call("6201")
    receiver.wait_for("/telephony/invite")
    waiting_early.wait_ringing()  # the caller hears ringback while waiting
    receiver.respond(200, body={"priority": "urgent"}, match="/invite")
    waiting_urgent = urgent.call("6201")
    receiver.wait_for("/telephony/invite", count=2)
    waiting_urgent.wait_ringing()
    assert member.incoming == []  # busy: not rung while on the call

    talk.hangup()
    first = member.wait_incoming(timeout=5)
    assert "3206" in first.from_header
    first.answer()
    waiting_urgent.wait_answered()
    assert waiting_early.state == "early"  # still waiting, ringing
    waiting_urgent.hangup()
    second = member.wait_incoming(timeout=5)
    assert "3205" in second.from_header
    second.answer()
    waiting_early.wait_answered()
    waiting_early.hangup()
    second.wait_disconnected()
    record = office.bridge.call_record("6201")  # the newest: the urgent caller's
    assert (record.caller, record.answered_by) == ("3206", "3201")
    assert record.dispatch_snapshot == {"priority": "urgent"}
    waited = [s for s in record.steps if s.kind == "waiting"]
    assert len(waited) == 1 and "number 1 in line (priority urgent)" in waited[0].detail
    pops = receiver.wait_for("/telephony/ringing", count=2)
    assert [r.json["phoneNumber"] for r in pops] == ["3206", "3205"]


def test_a_caller_who_waited_too_long_gets_the_no_answer_rule(
        office: Office, receiver: DispatchReceiver) -> None:
    member = agents(office, "3211")["3211"]
    partner = office.phone("3218", IncomingPolicy.ANSWER)
    overflow = office.phone("3219", IncomingPolicy.ANSWER)
    caller = office.phone("3215")
    office.group("6202", ["3211"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 skip_busy_member=True, max_wait_time=2,
                 no_answer_forward_rule={"action": "FORWARD_TO_NUMBER", "number": "3219"})
    talk = member.call("3218")
    talk.wait_answered()
    waiting = caller.call("6202")
    forwarded = overflow.wait_incoming(timeout=5)
    waiting.wait_answered()
    assert forwarded.arrived_at - waiting.arrived_at > 1.9  # after waiting 2 s
    assert member.incoming == []
    waiting.hangup()
    talk.hangup()
    partner.hangup_all()
    record = office.bridge.call_record("6202")
    assert [s.kind for s in record.steps if s.kind in ("waiting", "waited", "forwarded")] \
        == ["waiting", "waited", "forwarded"]
