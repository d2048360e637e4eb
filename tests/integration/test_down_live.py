"""Callers and parked calls while no ringbridge runs: held ringing until one starts, and
rung back by Asterisk itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import PhoneFactory
from tests.integration.phone_calls import PARK_SECONDS, park, talking, view_of
from tests.integration.ring_groups import Office
from tests.support.asterisk import STASIS_WAIT, Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.polling import wait_until

# Long enough for ringbridge to start on a loaded machine.
HOLD_ACROSS_A_START = 90


@pytest.fixture
def long_hold(asterisk: Asterisk) -> Iterator[int]:
    asterisk.set_global("STASIS_WAIT", str(HOLD_ACROSS_A_START))
    yield HOLD_ACROSS_A_START
    asterisk.set_global("STASIS_WAIT", str(STASIS_WAIT))


def test_a_group_caller_rings_while_no_ringbridge_runs_and_is_taken_when_one_starts(
    bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory, long_hold: int
) -> None:
    office = Office(bridge, phone).create()
    member, caller = office.phone("2301"), office.phone("2309")
    office.group("6351", ["2301"], ring_strategy="RING_SIMULTANEOUSLY", ring_time=30)
    bridge.stop()
    outgoing = caller.call("6351")
    outgoing.wait_ringing()
    bridge.start(timeout=long_hold)
    incoming = member.wait_incoming(timeout=10)
    assert outgoing.state == "early"  # ringing all along: never answered by Asterisk
    incoming.answer()
    outgoing.wait_answered()
    outgoing.hangup()
    incoming.wait_disconnected()
    assert "no ringbridge engine claimed the call: holding 2309 -> 6351" in asterisk.logs()
    assert "fallback for 2309 -> 6351" not in asterisk.logs()
    assert bridge.call_record("6351").answered_by == "2301"


def test_a_caller_is_held_ringing_for_the_bound_then_falls_back(
    bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory
) -> None:
    bridge.stop()
    outgoing = phone("1005").call("6998")  # no such number: the fallback announces
    outgoing.wait_ringing()
    rang_at = time.monotonic()
    outgoing.wait_answered(timeout=STASIS_WAIT + 5)
    held = time.monotonic() - rang_at
    assert STASIS_WAIT - 1.5 < held < STASIS_WAIT + 2.5, held  # EPOCH counts whole seconds
    outgoing.wait_disconnected(timeout=10)
    assert "fallback for 1005 -> 6998" in asterisk.logs()


def comeback_steps(bridge: BridgeProcess, dialled: str) -> list[str]:
    record = bridge.call_record(dialled)
    return [step.detail for step in sorted(record.steps, key=lambda s: s.at)
            if step.kind == "comeback"]


def test_a_park_timing_out_while_ringbridge_is_down_rings_the_parker(
    bridge: BridgeProcess, asterisk: Asterisk, phone: PhoneFactory
) -> None:
    office = Office(bridge, phone).create()
    parker, parked = office.phone("4311"), office.phone("4312")
    out, incoming, call = talking(office, parker, parked)
    response = park(office, "4311", call, view_of(call, "4312")["id"], PARK_SECONDS)
    assert response.status_code == 200, response.text
    out.wait_disconnected()
    bridge.kill()  # kill -9: nothing of ringbridge is left to ring the parker
    back = parker.wait_incoming(timeout=PARK_SECONDS + 5)
    back.answer()
    back.wait_answered()
    assert incoming.state == "confirmed"  # the parked party, now talking to the parker
    back.wait_rtp(10)
    back.hangup()
    incoming.wait_disconnected()
    assert "parked call" in asterisk.logs() and "rings back 4311 directly" in asterisk.logs()
    bridge.start()
    steps = wait_until(lambda: s if len(s := comeback_steps(bridge, "4312")) == 2 else None,
                       10, "the ring back in the parked call's record")
    assert "while ringbridge was down: Asterisk rang back 4311 without the bridge" in steps[0]
    assert "ended: answered, talked" in steps[1], steps
    record = bridge.call_record("4312")  # the parked call: open until its ring back ended
    assert (record.call_id, record.end_reason) == (
        call["id"], "the call ended with Asterisk's ring back of the parker")
    assert [step.kind for step in record.steps][-4:] == ["parked", "comeback", "comeback",
                                                         "ended"]
    left = asterisk.ami({"Action": "DBGetTree", "Family": "rb-comeback"})
    assert [e for e in left if e.get("Event") == "DBGetTreeResponse"] == []
