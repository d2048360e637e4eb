"""Engines sharing one Asterisk: each claims the calls Asterisk offers them all (dialplan
[stasis-wait]), and touches only what is in its own ARI application."""

from __future__ import annotations

import asyncio
import time

from bridge.asterisk.ari import AriError
from bridge.engine.engine import UNREADY_CLAIM_DELAY
from bridge.engine.runner import EngineThread
from tests.unit.fake_ari import FakeAri, engine_with, event


def test_an_offered_call_is_claimed_for_the_engines_own_app() -> None:
    ari = FakeAri()
    engine = engine_with(ari)
    engine.app = "ringbridge-2"
    engine._ami_read.set()  # ready: ARI resynced, the parking lots read

    async def offer() -> None:
        await engine.on_event(event("CallBroadcast", "1733.1"))
        await engine.settled()

    asyncio.run(offer())
    assert ari.requests == [("POST", "/events/claim",
                             {"channelId": "1733.1", "application": "ringbridge-2"})]
    assert engine.pending_channels() == set()  # nothing starts before its StasisStart


def test_a_claim_lost_to_another_engine_is_no_error() -> None:
    class Lost(FakeAri):
        async def post(self, path: str, params: object = None, json: object = None) -> object:
            await super().post(path, params, json)
            raise AriError(409, "POST", path, "Channel has already been claimed")

    ari = Lost()
    engine = engine_with(ari)

    async def offer() -> None:
        await engine.on_event(event("CallBroadcast", "1733.1"))
        await engine.settled()

    asyncio.run(offer())
    assert len(ari.requests) == 1 and engine.active_calls == 0


def test_an_engine_without_its_parking_lots_read_claims_after_the_ready_ones() -> None:
    """A phone dialling a slot on it would not find its parked call."""
    ari = FakeAri()
    engine = engine_with(ari)

    async def offer() -> float:
        started = time.monotonic()
        await engine.on_event(event("CallBroadcast", "1733.1"))
        await asyncio.sleep(UNREADY_CLAIM_DELAY / 2)
        assert ari.requests == []  # not yet
        await engine.settled()
        return time.monotonic() - started

    assert asyncio.run(offer()) >= UNREADY_CLAIM_DELAY
    assert [path for _, path, _ in ari.requests] == ["/events/claim"]


def test_a_ringout_no_flow_runs_is_cancelled_only_in_the_engines_own_app() -> None:
    """Engine 1 is asked first to cancel a RingOut engine 2 runs: it must leave engine
    2's legs alone (engine 2 answers for them), and hang up only legs left in its app."""
    class Apps(FakeAri):
        async def get(self, path: str, params: object = None) -> object:
            await super().get(path, params)
            return {"channel_ids": ["rb-7311-1"]} if path == "/applications/ringbridge" \
                else {}

    ari = Apps()
    engine = engine_with(ari)
    runner = EngineThread(engine)
    try:
        for ringout in ("7310", "7311"):  # engine 2's, then one left over in ours
            outcome = asyncio.run(runner._cancel_ringout(ringout))
            assert outcome.states is None and not outcome.connected
    finally:
        runner.loop.close()
    assert [(method, path) for method, path, _ in ari.requests if method == "DELETE"] == [
        ("DELETE", "/channels/rb-7311-1")]
