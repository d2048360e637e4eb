"""Agent availability on real calls (docs/extensions.md): a paused member is never rung
by any of its groups, nor announced to the dispatcher, until it is resumed; a pause
outlives a restart; a direct call still rings the paused phone."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.integration.conftest import PhoneFactory
from tests.integration.dispatching import agents, dispatch_to
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.softphone import Phone


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory, receiver: DispatchReceiver) -> Office:
    """A tenant whose dispatch events go to the receiver."""
    suffix = secrets.token_hex(3)
    made = Office(bridge, phone, company=f"Pause Taxis {suffix}",
                  sip_domain=f"pause{suffix}.example").create()
    dispatch_to(made, receiver)
    return made


def pause(office: Office, number: str, reason: str = "") -> Any:
    body = {"reason": reason} if reason else {}
    return office.api("POST", f"/api/extensions/{office.ids[number]}/pause", json=body)


def resume(office: Office, number: str) -> Any:
    return office.api("POST", f"/api/extensions/{office.ids[number]}/resume")


def answer_and_end(outgoing: Any, phone: Phone) -> None:
    """The one ringing call of `phone` answered, then ended by the caller."""
    incoming = phone.wait_incoming()
    incoming.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    incoming.wait_disconnected()


def ringing_agents(receiver: DispatchReceiver, count: int) -> list[str]:
    return [r.json["agentId"] for r in receiver.wait_for("/telephony/ringing", count=count)]


def test_a_paused_member_is_never_rung_by_its_groups_until_it_is_resumed(
    office: Office, bridge: BridgeProcess, receiver: DispatchReceiver,
) -> None:
    members = agents(office, "3501", "3502")
    caller = office.phone("3509")
    group_id = office.group("6501", list(members), ring_strategy="RING_SIMULTANEOUSLY",
                            ring_time=20)
    office.group("6502", ["3501"], ring_strategy="PRIORITIZED_HUNT", ring_time=20)
    paused = pause(office, "3501", "lunch")
    assert (paused["paused"], paused["pause_reason"]) == (True, "lunch")
    shown = {a["extension_number"]: a for a in
             office.api("GET", f"/api/ring_groups/{group_id}/agents")["items"]}
    assert (shown["3501"]["paused"], shown["3502"]["paused"]) == (True, False)

    bridge.stop()  # the pause is kept: a restarted ringbridge still passes it over
    bridge.start()
    answer_and_end(caller.call("6501"), members["3502"])
    assert members["3501"].incoming == []
    assert ringing_agents(receiver, 1) == ["agent3502@example.com"]

    alone = caller.call("6502")  # its other group: nobody to ring, the caller is refused
    alone.wait_disconnected()
    assert members["3501"].incoming == [] and alone.state == "disconnected"

    direct = caller.call("3501")  # a direct call names the phone: paused or not, it rings
    answer_and_end(direct, members["3501"])

    assert ringing_agents(receiver, 1) == ["agent3502@example.com"]  # still the only one
    assert sum(r.path.endswith("/ringing") for r in receiver.requests) == 1

    assert resume(office, "3501")["paused"] is False
    receiver.clear()
    outgoing = caller.call("6501")
    ringing = {number: phone.wait_incoming() for number, phone in members.items()}
    assert sorted(ringing_agents(receiver, 2)) == ["agent3501@example.com",
                                                   "agent3502@example.com"]
    ringing["3501"].answer()
    outgoing.wait_answered()
    outgoing.hangup()
    ringing["3501"].wait_disconnected()


def test_a_caller_waiting_for_a_paused_member_is_rung_through_once_it_is_resumed(
    office: Office, receiver: DispatchReceiver,
) -> None:
    """The paused member counts as not free: the caller waits in the group's line (still
    hearing ringback) and reaches the member once it is resumed."""
    member = agents(office, "3511")["3511"]
    caller = office.phone("3519")
    office.group("6511", ["3511"], ring_strategy="PRIORITIZED_HUNT", ring_time=20,
                 max_wait_time=30)
    pause(office, "3511")
    outgoing = caller.call("6511")
    outgoing.wait_ringing()
    invite = receiver.wait_for("/telephony/invite")[0]
    assert member.incoming == [] and outgoing.state != "disconnected"
    resume(office, "3511")
    incoming = member.wait_incoming(timeout=5)  # the line tries again every 2 s
    assert ringing_agents(receiver, 1) == ["agent3511@example.com"]
    assert receiver.wait_for("/telephony/ringing")[0].json["callId"] == \
        invite.query["callId"][0]
    incoming.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    incoming.wait_disconnected()
