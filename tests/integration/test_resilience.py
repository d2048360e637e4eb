"""What happens when ringbridge is down, and when Asterisk restarts under it."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.asterisk import STASIS_WAIT, Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.softphone import IncomingPolicy


def test_without_ringbridge_extensions_fall_back_to_a_plain_dial(
    bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory
) -> None:
    bridge.stop()
    caller, callee = phone("1006"), phone("1007")
    outgoing = caller.call("1007")
    incoming = callee.wait_incoming(timeout=STASIS_WAIT + 5)  # held STASIS_WAIT s first
    incoming.answer()
    outgoing.wait_answered()
    assert [b for b in asterisk.ari("GET", "/bridges").json() if b["id"].startswith("rb-")] == []
    outgoing.hangup()
    incoming.wait_disconnected()
    assert "no ringbridge engine took the call: fallback for 1006 -> 1007" in asterisk.logs()


def test_without_ringbridge_other_numbers_hear_an_announcement(
    bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory
) -> None:
    bridge.stop()
    outgoing = phone("1008").call("6999")
    outgoing.wait_answered(timeout=STASIS_WAIT + 5)
    outgoing.wait_disconnected(timeout=10)
    assert outgoing.rtp_received() > 0
    assert "fallback for 1008 -> 6999" in asterisk.logs()


def test_engine_reconnects_after_asterisk_restarts(
    bridge: BridgeProcess, asterisk: Asterisk, asterisk_restart: Callable[[], None],
    phone: PhoneFactory,
) -> None:
    asterisk_restart()
    caller, callee = phone("1009"), phone("1010")
    outgoing = caller.call("1010")
    incoming = callee.wait_incoming()
    incoming.answer()
    outgoing.wait_answered()
    bridges = asterisk.ari("GET", "/bridges").json()
    assert [len(b["channels"]) for b in bridges if b["id"].startswith("rb-")] == [2]
    outgoing.hangup()
    incoming.wait_disconnected()


def test_without_ringbridge_tenant_extensions_fall_back_within_their_domain(
    bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory
) -> None:
    office = Office(bridge, phone).create()
    caller = office.phone("2101")
    callee = office.phone("2102", IncomingPolicy.ANSWER)
    bridge.stop()
    outgoing = caller.call("2102")
    callee.wait_incoming(timeout=STASIS_WAIT + 5)
    outgoing.wait_answered()
    outgoing.hangup()
    assert f'"PJSIP/2102@{office.domain},30"' in asterisk.logs()


def test_a_group_call_ringing_across_a_restart_of_ringbridge_rings_again(
    bridge: BridgeProcess, phone: PhoneFactory
) -> None:
    office = Office(bridge, phone).create()
    member, caller = office.phone("2201"), office.phone("2209")
    office.group("6251", ["2201"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=30)
    outgoing = caller.call("6251")
    rung_before = member.wait_incoming()
    rung_before.wait_ringing()
    bridge.stop()
    bridge.start()
    rung_before.wait_disconnected()  # the old call's leg: nobody runs it now
    rung_again = member.wait_incoming(timeout=10)
    rung_again.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    rung_again.wait_disconnected()
    first, second = bridge.call_records("6251", 2)
    assert second.answered_by == "2201"
    assert first.answered_at is None
    assert first.end_reason is not None and "ringbridge restarted" in first.end_reason
