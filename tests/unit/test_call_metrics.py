"""The engine's call metrics from its call events (on live calls:
tests/integration/test_metrics_live.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from bridge.asterisk.ari import operation
from bridge.engine.call_metrics import CallMetrics
from bridge.flows.call_log import CallLog
from bridge.flows.events import (
    CallArrived,
    CallEnded,
    CallParked,
    MemberAnswered,
    MemberDialled,
    MemberNotAnswered,
    MemberRinging,
    ParkedCallTakenBack,
    RingOutConnected,
    RingOutEnded,
    RingOutStarted,
)
from bridge.gateway import CallState, LegState

T0 = datetime(2026, 12, 4, 12, tzinfo=UTC)
LABELS = {"tenant": "7", "group": "70", "strategy": "RING_SIMULTANEOUSLY"}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def arrive(log: CallLog, call_id: str) -> None:
    log.publish(CallArrived(call_id=call_id, at=T0, caller="+14155550100", dialled="6001",
                            label="ring group 6001 (Sales)", channel_id="c",
                            tenant_id=7, ring_group_id=70, strategy="RING_SIMULTANEOUSLY",
                            created=T0 - timedelta(seconds=0.25)))


def test_answered_missed_and_abandoned_calls_with_their_times() -> None:
    log = CallLog()
    CallMetrics(log)
    names = ("arrived", "answered", "missed", "abandoned")
    before = {n: value(f"ringbridge_calls_{n}_total", **LABELS) for n in names}
    waits = value("ringbridge_caller_wait_seconds_sum", **LABELS)
    rang = value("ringbridge_member_ringing_seconds_count", **LABELS)
    parks = value("ringbridge_parks_total", tenant="7")
    pickups = value("ringbridge_park_pickups_total", tenant="7")

    setups = value("ringbridge_call_setup_seconds_sum", **LABELS)
    arrive(log, "answered")
    for member in ("1", "2"):  # the call's setup ends with the first
        log.publish(MemberDialled(call_id="answered", at=T0 + timedelta(seconds=0.25),
                                  member=member, channel_id=f"rb-answered-{member}"))
    log.publish(MemberRinging(call_id="answered", at=T0 + timedelta(seconds=1), member="1"))
    log.publish(MemberRinging(call_id="answered", at=T0 + timedelta(seconds=1), member="2"))
    log.publish(MemberAnswered(call_id="answered", at=T0 + timedelta(seconds=4), member="1"))
    log.publish(MemberNotAnswered(call_id="answered", at=T0 + timedelta(seconds=4),
                                  member="2", dial_status="", cause=26))
    log.publish(CallParked(call_id="answered", why="parked"))  # no end: it goes on
    log.publish(ParkedCallTakenBack(call_id="answered", caller="3", dialled="701"))
    log.publish(MemberAnswered(call_id="answered", member="3"))  # taken back: once
    log.publish(CallEnded(call_id="answered", why="1 hung up"))
    arrive(log, "missed")
    log.publish(CallEnded(call_id="missed", why="nobody answered ring group 6001"))
    arrive(log, "abandoned")
    log.publish(CallEnded(call_id="abandoned", why="caller gave up (cause 16)"))

    after = {n: value(f"ringbridge_calls_{n}_total", **LABELS) for n in names}
    assert {n: after[n] - before[n] for n in names} == {
        "arrived": 3, "answered": 1, "missed": 1, "abandoned": 1}
    assert value("ringbridge_caller_wait_seconds_sum", **LABELS) - waits == 4
    assert value("ringbridge_call_setup_seconds_sum", **LABELS) - setups == 0.5
    assert value("ringbridge_member_ringing_seconds_count", **LABELS) - rang == 2
    assert value("ringbridge_parks_total", tenant="7") - parks == 1
    assert value("ringbridge_park_pickups_total", tenant="7") - pickups == 1


def test_a_ringout_is_counted_by_the_state_its_call_ended_in() -> None:
    log = CallLog()
    CallMetrics(log)
    connected = {"tenant": "7", "status": "connected"}
    before = value("ringbridge_ringouts_total", **connected)
    log.publish(RingOutStarted(call_id="r", call=CallState.TRYING, caller=LegState.CALLING,
                               callee=LegState.CALLING, caller_number="1001",
                               callee_number="+14155550100", tenant_id=7))
    log.publish(RingOutConnected(call_id="r", call=CallState.CONNECTED,
                                 caller=LegState.ANSWERED, callee=LegState.ANSWERED,
                                 leg="+14155550100"))
    assert value("ringbridge_ringouts_total", **connected) == before  # not over yet
    log.publish(RingOutEnded(call_id="r", why="1001 hung up"))
    assert value("ringbridge_ringouts_total", **connected) - before == 1


@pytest.mark.parametrize(("path", "expected"), [
    ("/channels/rb-4Qc9PMhc3zLDBBh8Q3P4-1/dial", "/channels/{id}/dial"),
    ("/channels/1796424707.0/variable", "/channels/{id}/variable"),
    ("/endpoints/PJSIP/4011@office1.example", "/endpoints/PJSIP/{id}"),
    ("/bridges/rb-abc/addChannel", "/bridges/{id}/addChannel"),
    ("/channels/create", "/channels/create"),
    ("/channels", "/channels"),
    ("/events/claim", "/events/claim"),  # every call's first request
])
def test_an_ari_path_becomes_its_operation_without_ids(path: str, expected: str) -> None:
    assert operation(path) == expected


def test_a_groups_outcome_series_exist_at_zero_from_its_first_call() -> None:
    """Prometheus' increase() cannot see the first step of a series born at 1."""
    log = CallLog()
    CallMetrics(log)
    log.publish(CallArrived(call_id="first", caller="1", dialled="6099", label="g",
                            channel_id="c", tenant_id=99, ring_group_id=990))
    labels = {"tenant": "99", "group": "990", "strategy": ""}
    assert [REGISTRY.get_sample_value(f"ringbridge_calls_{outcome}_total", labels)
            for outcome in ("answered", "missed", "abandoned")] == [0.0, 0.0, 0.0]
    assert [REGISTRY.get_sample_value(f"ringbridge_{name}_total", {"tenant": "99"})
            for name in ("parks", "park_comebacks", "park_pickups")] == [0.0, 0.0, 0.0]


def test_a_tenants_ringout_series_exist_at_zero_from_its_first_ringout() -> None:
    log = CallLog()
    CallMetrics(log)
    log.publish(RingOutStarted(call_id="r98", call=CallState.TRYING, caller=LegState.CALLING,
                               callee=LegState.CALLING, caller_number="1001",
                               callee_number="+14155550100", tenant_id=98))
    assert [REGISTRY.get_sample_value("ringbridge_ringouts_total",
                                      {"tenant": "98", "status": status})
            for status in ("connected", "not-reached")] == [0.0, 0.0]
