"""Calls from the carrier trunk (docs/carriers.md) on real calls: the test carrier sends
them as real carriers do, from the trunk's own address, the caller in
P-Asserted-Identity and From, never registering. The caller's number is what the
dispatcher, the agent's phone, the phone calls list and the call record see."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import pytest

from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.polling import wait_until
from tests.support.softphone import Call, Phone

CUSTOMER = "+447700900123"


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory, receiver: DispatchReceiver) -> Office:
    """A GB tenant whose dispatch events go to the receiver."""
    suffix = secrets.token_hex(3)
    made = Office(bridge, phone, company=f"GB Taxis {suffix}",
                  sip_domain=f"gb{suffix}.example", region="GB").create()
    made.api("POST", "/api/dispatch/settings", json={"base_url": receiver.url})
    return made


_DID_SUFFIXES = itertools.count()


def new_did() -> str:
    """DIDs belong to one group of any tenant: each test takes the next one. The
    session's bridge starts on an empty database, so a count never meets a DID taken
    (random picks met one another: 9 of 10,000 collide once in about 280 runs)."""
    return f"+44207946{next(_DID_SUFFIXES):04d}"


def agent(office: Office, number: str, did: str) -> Phone:
    """An agent's phone, the one member of a group that `did` reaches."""
    office.extension(number, agent_id=f"agent{number}@example.com")
    office.group(f"6{number}", [number], ring_strategy="RING_SIMULTANEOUSLY", ring_time=20,
                 did_numbers=[did])
    return office.phone(number)


def sip(number: str, asterisk: Asterisk) -> str:
    return f"<sip:{number}@{asterisk.carrier_address}>"


def phone_number(request_json: Any) -> str:
    return str(request_json["phoneNumber"])


@pytest.mark.parametrize(("from_user", "identity"), [
    (CUSTOMER, {"P-Asserted-Identity": CUSTOMER}),
    ("07700900123", {"P-Asserted-Identity": "07700900123"}),  # national, in GB
    ("+441632960999", {"P-Asserted-Identity": CUSTOMER}),  # PAI, not the From
    ("+441632960999", {"Remote-Party-ID": CUSTOMER}),  # then RPID
    (CUSTOMER, {}),  # then the From
], ids=["e164", "national", "pai-first", "rpid", "from"])
def test_the_callers_number_reaches_the_dispatcher_the_agent_and_the_records(
    office: Office, trunk: PhoneFactory, asterisk: Asterisk, receiver: DispatchReceiver,
    from_user: str, identity: dict[str, str],
) -> None:
    did = new_did()
    member = agent(office, "2101", did)
    headers = {name: sip(number, asterisk) + (";party=calling;screen=yes;privacy=off"
                                              if name == "Remote-Party-ID" else "")
               for name, number in identity.items()}
    outgoing = trunk(from_user).call(did, headers)
    incoming = member.wait_incoming()
    invite = receiver.wait_for("/telephony/invite")[0]
    assert invite.query["phoneNumber"] == [CUSTOMER]
    assert incoming.from_header.startswith(f'"{CUSTOMER}" <sip:{CUSTOMER}@')
    (listed,) = wait_until(lambda: office.api("GET", "/uapi/phoneCalls/@me/2101")["entry"], 5,
                           "the call listed")
    assert listed["phoneCallView"][0]["source"] == [CUSTOMER]
    talk_and_hang_up(outgoing, incoming)
    ringing = receiver.wait_for("/telephony/ringing")[0]
    cleared = receiver.wait_for("/telephony/cleared")[0]
    assert (phone_number(ringing.json), phone_number(cleared.json)) == (CUSTOMER, CUSTOMER)
    call_id = invite.query["callId"][0]
    record = wait_until(lambda: office.api("GET", f"/api/call_records/{call_id}"), 5,
                        "the call record")
    assert record["caller"] == CUSTOMER


def talk_and_hang_up(outgoing: Call, incoming: Call) -> None:
    incoming.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    incoming.wait_disconnected()


@pytest.mark.parametrize(("from_user", "domain", "headers"), [
    ("anonymous", "anonymous.invalid", {"Privacy": "id"}),  # the number in PAI, withheld
    ("anonymous", "anonymous.invalid", {}),  # no number at all
], ids=["privacy-id", "no-number"])
def test_a_withheld_caller_is_anonymous(
    office: Office, trunk: PhoneFactory, asterisk: Asterisk, receiver: DispatchReceiver,
    from_user: str, domain: str, headers: dict[str, str],
) -> None:
    did = new_did()
    member = agent(office, "2201", did)
    if headers:
        headers = {**headers, "P-Asserted-Identity": sip(CUSTOMER, asterisk)}
    outgoing = trunk(from_user, domain=domain).call(did, headers)
    incoming = member.wait_incoming()
    invite = receiver.wait_for("/telephony/invite")[0]
    assert invite.query["phoneNumber"] == ["anonymous"]
    assert "7700900123" not in incoming.from_header
    assert incoming.from_header.startswith('"Anonymous" <sip:anonymous@')
    talk_and_hang_up(outgoing, incoming)
    cleared = receiver.wait_for("/telephony/cleared")[0]
    assert phone_number(cleared.json) == "anonymous"


def test_a_call_from_an_address_that_is_no_trunks_is_refused(
    office: Office, trunk: PhoneFactory, asterisk: Asterisk, receiver: DispatchReceiver,
) -> None:
    """Even with the From user the trunk was once known by: never a carrier's call."""
    did = new_did()
    member = agent(office, "2301", did)
    elsewhere = trunk("carrier", address="127.0.0.1")
    outgoing = elsewhere.call(did, {"P-Asserted-Identity": sip(CUSTOMER, asterisk)})
    outgoing.wait_disconnected()
    assert outgoing.last_status == 401  # Asterisk: "No matching endpoint found"
    assert member.incoming == []
    assert receiver.requests == []


def test_an_internal_callers_number_is_its_extension_as_it_is(
    office: Office, receiver: DispatchReceiver,
) -> None:
    """In a GB tenant, extension 07911123456 is no mobile number (it was sent as
    +447911123456)."""
    member = agent(office, "2401", new_did())
    outgoing = office.phone("07911123456").call("62401")
    incoming = member.wait_incoming()
    invite = receiver.wait_for("/telephony/invite")[0]
    assert invite.query["phoneNumber"] == ["07911123456"]
    talk_and_hang_up(outgoing, incoming)
