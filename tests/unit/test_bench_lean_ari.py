"""The lean ARI app of `scripts/bench load`: the requests it makes for one call, and
nothing twice when both parties leave."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.lean_ari import MEMBER_SUFFIX, LeanApp
from tests.unit.fake_ari import FakeAri


def app_with_fake(failing: tuple[str, ...] = ()) -> tuple[LeanApp, FakeAri]:
    app = LeanApp("http://127.0.0.1:1/ari", "secret", "ringbridge", "PJSIP/4002@4002@b.example")
    fake = FakeAri(failing)
    app.ari = fake  # type: ignore[assignment]
    return app, fake


def events(app: LeanApp, *sent: dict[str, Any]) -> None:
    async def run() -> None:
        for event in sent:
            await app.handle(event)
    asyncio.run(run())


def test_a_call_is_claimed_originated_bridged_and_answered() -> None:
    app, fake = app_with_fake()
    events(app, {"type": "CallBroadcast", "channel": {"id": "c1"}},
           {"type": "StasisStart", "channel": {"id": "c1"}},
           {"type": "StasisStart", "channel": {"id": "c1" + MEMBER_SUFFIX}})
    assert [(method, path) for method, path, _ in fake.requests] == [
        ("POST", "/events/claim"), ("POST", "/channels"), ("POST", "/bridges/lean-c1"),
        ("POST", "/bridges/lean-c1/addChannel"), ("POST", "/channels/c1/answer")]
    assert fake.requests[1][2]["channelId"] == "c1" + MEMBER_SUFFIX
    assert fake.requests[3][2] == {"channel": f"c1,c1{MEMBER_SUFFIX}"}


def test_the_first_to_leave_ends_the_call_once() -> None:
    app, fake = app_with_fake()
    member = "c1" + MEMBER_SUFFIX
    events(app, {"type": "StasisEnd", "channel": {"id": member}},
           {"type": "StasisEnd", "channel": {"id": "c1"}})
    assert fake.requests == [("DELETE", "/channels/c1", {}),
                             ("DELETE", "/bridges/lean-c1", {})]


def test_a_caller_leaving_before_the_member_answered_hangs_the_member_up() -> None:
    app, fake = app_with_fake(failing=("/bridges/lean-c1",))  # never made
    events(app, {"type": "StasisEnd", "channel": {"id": "c1"}})
    assert [path for _, path, _ in fake.requests] == [
        f"/channels/c1{MEMBER_SUFFIX}", "/bridges/lean-c1"]
