"""An engine standing by for another node's Asterisk (docs/cluster.md) beside one that
runs calls: with no node running its app, the API passes it over for reads and
RingOuts, a call nobody has is still "no such call" (404), never "retry" (503), and
provisioning needs nothing of it; with one, it passes the app's calls on to it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bridge.api.engines_client import EnginesClient
from bridge.engine.standby import StandbyGateway
from bridge.gateway import CallRefused, EngineNotReached, EngineStatus, SipEndpoint
from tests.unit.sample_call import CALL
from tests.unit.test_engines_client import DOMAIN, PHONE, FakeEngine, plan

LEASE = "127.0.0.12:8088 ringbridge"


@pytest.fixture
def running() -> FakeEngine:
    return FakeEngine(CALL)


@pytest.fixture
def client(running: FakeEngine) -> Iterator[EnginesClient]:
    both = EnginesClient([StandbyGateway(LEASE), running])
    yield both
    both.close()


def test_a_call_nobody_has_is_no_call_not_retry(client: EnginesClient) -> None:
    with pytest.raises(CallRefused) as refused:
        client.hang_up(DOMAIN, "gone", None)
    assert refused.value.reason == CallRefused.NO_CALL


def test_actions_reads_and_ringouts_go_to_the_engine_running(
        client: EnginesClient, running: FakeEngine) -> None:
    client.pick_up(DOMAIN, CALL.call_id, PHONE, 20)
    client.start_ringout(plan("r1"))
    client.start_ringout(plan("r2"))  # dealt round: the standby passes its turn on
    assert [done[:2] for done in running.done] == [
        ("pick_up", CALL.call_id), ("start_ringout", "r1"), ("start_ringout", "r2")]
    assert client.live_calls(DOMAIN) == [CALL]
    assert client.status() == EngineStatus(ari=True, ami=True)
    assert client.statuses()[0] == EngineStatus(ari=False, ami=False)


def test_provisioning_asks_nothing_of_a_standby(
        client: EnginesClient, running: FakeEngine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        client.push(SipEndpoint("1001@acme.example", "1001", "secret", "Ann", "1001"))
        client.remove("1002@acme.example")
    assert caplog.records == []
    assert len(running.done) == 2


def test_alone_it_is_not_running_and_says_for_what() -> None:
    alone = EnginesClient([StandbyGateway(LEASE)])
    with pytest.raises(EngineNotReached, match=f"standing by for {LEASE}"):
        alone.live_calls(DOMAIN)
    with pytest.raises(EngineNotReached, match="another node runs it"):
        alone.start_ringout(plan("r1"))


def test_its_changes_wait_until_it_takes_over() -> None:
    standby = StandbyGateway(LEASE)
    assert standby.changes(4, 0.01) == 4
    standby.taken_over.set()
    assert standby.changes(4, 5) == 5


def test_it_passes_the_apps_calls_on_to_the_node_running_it() -> None:
    """Standing by for an Asterisk node another ringbridge node runs: what this node's
    API asks of that app's calls goes to that node's engine; its own node's state and
    provisioning do not."""
    there = FakeEngine(CALL)
    standby = StandbyGateway(LEASE, lambda: there)
    here = FakeEngine(replace(CALL, call_id="c-here"))
    client = EnginesClient([here, standby])
    try:
        assert {call.call_id for call in client.live_calls(DOMAIN)} == {CALL.call_id, "c-here"}
        client.hang_up(DOMAIN, CALL.call_id, None)
        client.push(SipEndpoint("1001@acme.example", "1001", "secret", "Ann", "1001"))
        assert [done[:2] for done in there.done] == [("hang_up", CALL.call_id)]
        assert standby.changes(-1, 0) == there.changed.after(-1, 0)
        assert client.statuses()[1] == EngineStatus(ari=False, ami=False)
        with pytest.raises(EngineNotReached):
            standby.overview()
    finally:
        client.close()
