"""GET /metrics on live calls: what the engine's process counts reaches the scrape that
an API process answers (several processes, one answer)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.store.ids import decode_id
from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess, Samples, value
from tests.support.polling import wait_until


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    return Office(bridge, phone).create()


def of_group(samples: Samples, name: str, group: str) -> float:
    """The sum of `name`'s samples for the ring group (its tenant is the office's)."""
    return sum(value for (sample, labels), value in samples.items()
               if sample == name and ("group", group) in labels
               and ("strategy", "RING_SIMULTANEOUSLY") in labels
               and dict(labels)["tenant"].isdigit())


def both_ringing(office: Office) -> bool:
    calls = office.api("GET", "/uapi/phoneCalls/@me/4801")["entry"]
    return any(sorted(v["status"] for v in call["phoneCallView"]) == [3, 3, 4]
               for call in calls)


def test_a_group_call_moves_the_counters_and_histograms(office: Office,
                                                        bridge: BridgeProcess) -> None:
    members = [office.phone(n) for n in ("4801", "4802")]
    caller = office.phone("4809")
    group = str(decode_id(office.group("6801", ["4801", "4802"],
                                       ring_strategy="RING_SIMULTANEOUSLY", ring_time=30)))
    before = bridge.metrics()
    assert value(before, "ringbridge_asterisk_connected", link="ari") == 1
    assert value(before, "ringbridge_asterisk_connected", link="ami") == 1

    outgoing = caller.call("6801")  # answered
    ringing = [member.wait_incoming() for member in members]
    ringing[0].answer()
    outgoing.wait_answered()
    wait_until(lambda: value(bridge.metrics(), "ringbridge_calls_up") >= 1, 5,
               "the call counted as up")  # sampled every second
    outgoing.hangup()
    ringing[0].wait_disconnected()
    abandoned = caller.call("6801")  # the caller gives up while the phones ring
    for member in members:
        member.wait_incoming()
    wait_until(lambda: both_ringing(office), 5, "both phones ringing, as the engine sees")
    abandoned.hangup()
    for member in members:
        member.incoming[-1].wait_disconnected()

    after = wait_until(lambda: s if of_group(s := bridge.metrics(),
                                             "ringbridge_calls_abandoned_total", group)
                       else None, 5, "the abandoned call counted")
    moved = {name: of_group(after, name, group) - of_group(before, name, group)
             for name in ("ringbridge_calls_arrived_total", "ringbridge_calls_answered_total",
                          "ringbridge_calls_abandoned_total", "ringbridge_calls_missed_total",
                          "ringbridge_caller_wait_seconds_count",
                          "ringbridge_call_setup_seconds_count",
                          "ringbridge_member_ringing_seconds_count")}
    assert moved == {"ringbridge_calls_arrived_total": 2,
                     "ringbridge_calls_answered_total": 1,
                     "ringbridge_calls_abandoned_total": 1,
                     "ringbridge_calls_missed_total": 0,
                     "ringbridge_caller_wait_seconds_count": 1,
                     "ringbridge_call_setup_seconds_count": 2,
                     "ringbridge_member_ringing_seconds_count": 4}  # 2 phones, 2 calls
    assert 0 < of_group(after, "ringbridge_caller_wait_seconds_sum", group) < 10
    route = frozenset({("route", "/api/ring_groups/<ring_group_id>/agents"), ("method", "POST"),
                       ("status", "200")})
    assert after.get(("ringbridge_api_requests_total", route), 0) >= 1  # an API process's
    assert value(after, "ringbridge_engine_loop_lag_seconds_count") > 0
    assert value(after, "ringbridge_asterisk_connects_total", link="ari") >= 1
    assert value(after, "ringbridge_extension_changes_total", action="push",
                 outcome="done") >= 3  # this test's extensions, pushed as they were made
    dials = {"method": "POST", "operation": "/channels/{id}/dial"}
    assert value(after, "ringbridge_ari_request_seconds_count", **dials) - value(
        before, "ringbridge_ari_request_seconds_count", **dials) == 4  # 2 phones, 2 calls


def test_asterisks_own_metrics_are_behind_a_password(
        asterisk: Asterisk, office: Office) -> None:
    url = f"http://127.0.0.1:{asterisk.ari_port}/metrics"
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, timeout=5, auth=("prometheus", "wrong")).status_code == 401
    caller, callee = office.phone("4811"), office.phone("4812")
    outgoing = caller.call("4812")
    callee.wait_incoming().answer()
    outgoing.wait_answered()
    response = httpx.get(url, timeout=5, auth=("prometheus", asterisk.prometheus_password))
    assert response.status_code == 200
    channels = {s.name: s.value for f in text_string_to_metric_families(response.text)
                for s in f.samples}
    assert channels["asterisk_channels_count"] >= 2  # the caller's and the leg to 4812
    outgoing.hangup()
    callee.incoming[-1].wait_disconnected()
