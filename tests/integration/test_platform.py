"""First end-to-end proofs: real Asterisk, real softphones, ringbridge as a process."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

from bridge.flows.calls import ARI_EVENT_TYPES
from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.polling import wait_until
from tests.support.softphone import IncomingPolicy, Phone


def bridged_channel_sets(asterisk: Asterisk) -> list[set[str]]:
    bridges = asterisk.ari("GET", "/bridges").json()
    return [set(b["channels"]) for b in bridges if b["id"].startswith("rb-")]


def test_health_reports_every_dependency_ready(bridge: BridgeProcess) -> None:
    response = bridge.health()
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "ari": True, "ami": True, "database": True}


def test_asterisk_sends_the_application_only_the_event_types_it_acts_on(
        bridge: BridgeProcess, asterisk: Asterisk) -> None:
    application = asterisk.ari("GET", f"/applications/{asterisk.app}").json()
    assert {e["type"] for e in application["events_allowed"]} == {*ARI_EVENT_TYPES,
                                                                  "RESTResponse"}
    assert "event filter" not in bridge.log()  # Asterisk took it: no warning


@pytest.mark.parametrize("who_hangs_up", ["caller", "callee"])
def test_extension_call_is_bridged_by_the_engine(
    bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory, who_hangs_up: str
) -> None:
    caller, callee = phone("1001"), phone("1002")
    seen = len(bridge.log())
    outgoing = caller.call("1002")
    incoming = callee.wait_incoming()
    outgoing.wait_ringing()
    assert "1001" in incoming.from_header
    incoming.answer()
    outgoing.wait_answered()
    incoming.wait_answered()

    bridged = bridged_channel_sets(asterisk)
    assert len(bridged) == 1 and len(bridged[0]) == 2, bridged
    bridge.wait_log(r"call \w+: 1002 answered; bridging", after=seen)
    assert outgoing.rtp_received() > 0 or incoming.rtp_received() > 0

    ending, other = (outgoing, incoming) if who_hangs_up == "caller" else (incoming, outgoing)
    ending.hangup()
    other.wait_disconnected()
    wait_until(lambda: bridged_channel_sets(asterisk) == [], 5, "the call's bridge to go")


def test_busy_callee_gives_the_caller_busy(bridge: BridgeProcess, phone: PhoneFactory) -> None:
    caller = phone("1003")
    phone("1004", IncomingPolicy.BUSY)
    outgoing = caller.call("1004")
    outgoing.wait_disconnected()
    assert outgoing.last_status == 486


def test_unknown_number_hears_an_announcement(bridge: BridgeProcess, phone: PhoneFactory) -> None:
    outgoing = phone("1005").call("6999")
    outgoing.wait_answered()
    outgoing.wait_rtp(30)  # the announcement sends audio
    outgoing.wait_disconnected(timeout=10)


@pytest.mark.parametrize(("caller", "dialled", "at_the_carrier", "who_hangs_up"), [
    ("demo", "+441632960123", "+441632960123", "caller"),
    ("demo", "00441632960124", "+441632960124", "carrier"),  # 00 becomes +
    ("tenant", "+14155550199", "+14155550199", "caller"),
])
def test_an_e164_number_goes_out_through_the_carrier(
    bridge: BridgeProcess, phone: PhoneFactory, trunk: PhoneFactory, caller: str, dialled: str,
    at_the_carrier: str, who_hangs_up: str,
) -> None:
    """from-phones sends + and 00 numbers to [to-carrier]: the carrier trunk gets the INVITE
    for the number in E.164, answers, and a hangup on either side ends both."""
    calling: Phone = (phone("1006") if caller == "demo"
                      else Office(bridge, phone).create().phone("2601"))
    carrier = trunk()
    outgoing = calling.call(dialled)
    incoming = carrier.wait_incoming_for(at_the_carrier)
    incoming.answer()
    outgoing.wait_answered()
    incoming.wait_answered()
    ending, other = (outgoing, incoming) if who_hangs_up == "caller" else (incoming, outgoing)
    ending.hangup()
    other.wait_disconnected()
    ending.wait_disconnected()


def this_machines_ipv4_addresses() -> list[str]:
    """The machine's own non-loopback IPv4 addresses (a connection to one stays on it)."""
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                           capture_output=True, text=True, check=True).stdout
    return re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", shown)


@pytest.mark.parametrize("service", ["ari", "ami"])
def test_ari_and_ami_answer_on_loopback_only(asterisk: Asterisk, service: str) -> None:
    addresses = this_machines_ipv4_addresses()
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address to try ARI and AMI on")
    port = asterisk.ari_port if service == "ari" else asterisk.ami_port
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    for address in addresses:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=2).close()
