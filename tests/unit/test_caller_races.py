"""A request on the caller that races the caller's hangup (ARI answers 404 before the
hangup's event comes): the call ends as that hangup ends it, not as an ARI failure."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.asterisk.ari import AriError
from bridge.flows.call_log import CallLog
from bridge.flows.events import CallEvent, Ending
from bridge.flows.hunt import HuntPlan
from bridge.gateway import Target
from tests.unit.fake_ari import FakeAri, deliver, engine_with, event


class CallerGoneAri(FakeAri):
    """The caller's channel is gone: requests on it answer 404, as ARI does."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    async def _record(self, method: str, path: str, params: Any) -> Any:
        self.requests.append((method, path, dict(params or {})))
        if path.startswith("/channels/caller/"):
            raise AriError(self.status, method, path, "Channel not found")
        return {}


def ended_with(status: int) -> str:
    async def scenario() -> str:
        ari = CallerGoneAri(status)
        engine = engine_with(ari)
        ended: list[CallEvent] = []
        engine.call_log = CallLog()
        engine.call_log.subscribe(Ending, ended.append)
        target = Target(key=0, dial="PJSIP/1002@1002@acme.example", label="1002")
        hunt = engine.new_hunt("CALL", "caller", HuntPlan(label="1002", waves=((target,),),
                                                          ring_time=30))
        await hunt.start()
        await deliver(engine, event("StasisStart", "rb-CALL-1"))
        await deliver(engine, event("ChannelStateChange", "rb-CALL-1", state="Ringing"))
        (end,) = ended  # ringing the caller back failed: it was gone
        assert hunt.done and isinstance(end, Ending)
        return end.why

    return asyncio.run(scenario())


def test_a_404_on_the_callers_channel_is_the_caller_giving_up() -> None:
    assert ended_with(404) == "caller gave up (its channel was gone)"


def test_another_failure_on_the_caller_still_ends_the_call_as_an_ari_failure() -> None:
    assert ended_with(500) == "ARI request failed: Channel not found"
