"""What a hunt tells dispatch (connected, ended) and what the notifier makes of it
(fake ARI and a recording client; the live tests are in tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.deliveries import ANSWER_LIMIT, READ_LIMIT, Delivery
from bridge.dispatch.notifier import DispatchNotifier
from bridge.flows.call_events import Queue, Redirect
from bridge.flows.hunt import Hunt, HuntPlan
from bridge.gateway import Target
from tests.support.dispatch_receiver import DispatchReceiver
from tests.unit.async_support import eventually, run
from tests.unit.dispatch_outbox import MemoryStore, config_for, running
from tests.unit.fake_ari import FakeAri, engine_with, event
from tests.unit.recorded_events import RecordedEvents

QUEUE: Queue = ("main@exampletaxis.com", "customer")


class RecordingClient:
    """The DispatchClient as the notifier uses it: reliable events are kept, not sent."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.bodies: list[str | None] = []

    def reliably(self, config: DispatchConfig, delivery: Delivery) -> None:
        self.events.append(delivery.event)
        self.bodies.append(delivery.body)


def test_a_member_without_agent_id_who_answers_is_connected_not_missed() -> None:
    async def scenario() -> None:
        ari = FakeAri()
        engine = engine_with(ari)
        events = RecordedEvents()
        member = Target(key=2, dial="PJSIP/1002@1002@acme.example", label="1002")
        plan = HuntPlan(label="ring group 6000", waves=((member,),), ring_time=20,
                        group_id=7, queue_id=QUEUE[0], queue_type=QUEUE[1], events=events)
        hunt = Hunt(ari, engine, "A", "caller-A", plan)
        await hunt.start()
        for kind, state in (("StasisStart", "Down"), ("ChannelStateChange", "Ringing"),
                            ("ChannelStateChange", "Up")):
            await engine.on_event(event(kind, "rb-A-1", state=state))
        await engine.on_event(event("ChannelHangupRequest", "caller-A"))
        await engine.settled()
        assert events.sent == [("ringing", None, None), ("connected", None, None),
                               ("ended", None, True)]

    run(scenario())


def notifier(client: RecordingClient) -> DispatchNotifier:
    config = DispatchConfig(tenant_id=1, company_id="ABC Taxis", base_url="http://x")
    return DispatchNotifier(client, config, "+441234567890",  # type: ignore[arg-type]
                            lambda call_id: f"http://rb/api/call_records/{call_id}")


def test_an_answered_call_without_agent_id_is_never_missed() -> None:
    client = RecordingClient()
    now = datetime.now(UTC)
    notifier(client).ended("C1", QUEUE, None, now, now, now, answered=True)
    assert client.events == ["cleared"]


def test_a_call_nobody_answered_is_missed_then_cleared() -> None:
    client = RecordingClient()
    now = datetime.now(UTC)
    notifier(client).ended("C1", QUEUE, None, now, None, now, answered=False)
    assert client.events == ["missed", "cleared"]


def big_snapshot(size: int) -> dict[str, Any]:
    """An invite answer of about `size` bytes whose priority comes after the padding."""
    return {"bookings": [{"ref": f"B{n:05d}", "pickup": "1 High Street, Oxford"}
                         for n in range(size // 45)], "priority": "urgent"}


def test_a_large_invite_answer_is_parsed_whole(receiver: DispatchReceiver) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store) as client:
            config = config_for(receiver, invite_timeout=2)
            snapshot = big_snapshot(5000)
            receiver.respond(200, body=snapshot, match="/invite")
            notifier = DispatchNotifier(client, config, "+441234567890", str)
            assert await notifier.invite("C1", QUEUE) == snapshot
            assert len(receiver.requests) == 1
            await eventually(lambda: len(store.logged) == 1, 3)
            assert len(store.logged[0][1].answer or "") > ANSWER_LIMIT  # cut when stored

    run(scenario())


def test_an_invite_answer_over_the_read_limit_keeps_no_snapshot(
        receiver: DispatchReceiver, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running(MemoryStore()) as client:
            config = config_for(receiver, invite_timeout=2)
            receiver.respond(200, body=big_snapshot(READ_LIMIT + 1000), match="/invite")
            notifier = DispatchNotifier(client, config, "+441234567890", str)
            assert await notifier.invite("C1", QUEUE) is None

    run(scenario())
    assert "call C1: dispatch invite answered more than 64 KiB; not kept" in caplog.text


class FailingEvents(RecordedEvents):
    """Events whose every call raises, as a dispatch path broken in any way would."""

    async def invite(self, call_id: str, queue: Queue) -> dict[str, Any] | None:
        raise RuntimeError("invite broke")

    def ringing(self, call_id: str, queue: Queue, agent_id: str | None,
                redirect: Redirect) -> None:
        raise RuntimeError("ringing broke")

    def connected(self, call_id: str, queue: Queue, agent_id: str | None) -> None:
        raise RuntimeError("connected broke")

    def ended(self, call_id: str, queue: Queue, agent_id: str | None, received: datetime,
              connected: datetime | None, cleared: datetime, *, answered: bool,
              recorded: bool = False) -> None:
        raise RuntimeError("ended broke")


def test_a_dispatch_path_that_raises_never_ends_the_call(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        ari = FakeAri()
        engine = engine_with(ari)
        member = Target(key=2, dial="PJSIP/1002@1002@acme.example", label="1002")
        plan = HuntPlan(label="ring group 6000", waves=((member,),), ring_time=20,
                        group_id=7, events=FailingEvents())
        hunt = Hunt(ari, engine, "A", "caller-A", plan)
        await hunt.start()
        for kind, state in (("StasisStart", "Down"), ("ChannelStateChange", "Ringing"),
                            ("ChannelStateChange", "Up")):
            await engine.on_event(event(kind, "rb-A-1", state=state))
        await engine.settled()
        assert hunt.connected and not hunt.done
        await engine.on_event(event("ChannelHangupRequest", "caller-A"))
        await engine.settled()

    run(scenario())
    for name in ("invite", "ringing", "connected", "missed/cleared"):
        assert f"call A: dispatch {name} failed; the call goes on" in caplog.text


def answered_call(ari: FakeAri, *, record: bool) -> tuple[Hunt, RecordedEvents]:
    engine = engine_with(ari)
    events = RecordedEvents()
    member = Target(key=2, dial="PJSIP/1002@1002@acme.example", label="1002")
    plan = HuntPlan(label="ring group 6000", waves=((member,),), ring_time=20, group_id=7,
                    events=events, record=record)
    return Hunt(ari, engine, "A", "caller-A", plan), events


async def answer_then_hang_up(hunt: Hunt) -> None:
    engine = hunt.flows
    await hunt.start()
    for kind, state in (("StasisStart", "Down"), ("ChannelStateChange", "Up")):
        await engine.on_event(event(kind, "rb-A-1", state=state))  # type: ignore[attr-defined]
    await engine.on_event(event("ChannelHangupRequest", "caller-A"))  # type: ignore[attr-defined]
    await engine.settled()  # type: ignore[attr-defined]


@pytest.mark.parametrize("record", [True, False])
def test_a_recorded_group_records_the_bridge_once_answered(record: bool) -> None:
    ari = FakeAri()
    hunt, events = answered_call(ari, record=record)
    run(answer_then_hang_up(hunt))
    posts = [(path, params) for method, path, params in ari.requests if method == "POST"]
    recordings = [(path, params) for path, params in posts if path.endswith("/record")]
    if record:
        assert recordings == [("/bridges/rb-A/record", {
            "name": "call-A", "format": "wav", "ifExists": "fail"})]
        assert [path for path, _ in posts].index("/bridges/rb-A/record") > \
            [path for path, _ in posts].index("/channels/caller-A/answer")
    else:
        assert recordings == []
    assert events.recorded is record and hunt.recording == ("call-A" if record else None)


def test_a_recording_that_cannot_start_leaves_the_call_up() -> None:
    async def scenario() -> None:
        ari = FakeAri(failing=("/record",))
        hunt, events = answered_call(ari, record=True)
        await hunt.start()
        for kind, state in (("StasisStart", "Down"), ("ChannelStateChange", "Up")):
            await hunt.flows.on_event(event(kind, "rb-A-1", state=state))  # type: ignore
        await hunt.flows.settled()  # type: ignore[attr-defined]
        assert not hunt.done and hunt.connected and hunt.recording is None
        await hunt.end("caller hung up")
        assert events.recorded is False

    run(scenario())


def test_a_voicemail_counts_as_recorded_once_its_recording_starts() -> None:
    async def scenario() -> None:
        ari = FakeAri()
        hunt, events = answered_call(ari, record=False)
        await hunt.take_message("voicemail-7-A")
        assert hunt.recording is None  # the caller may hang up during the prompt
        await hunt.handle({"type": "RecordingStarted", "recording": {
            "name": "voicemail-7-A", "target_uri": "channel:caller-A"}})
        await hunt.end("caller hung up")
        assert hunt.recording == "voicemail-7-A" and events.recorded is True

    run(scenario())


def test_cleared_carries_the_recording_url_after_the_call_url_when_recorded() -> None:
    client = RecordingClient()
    now = datetime.now(UTC)
    notifier(client).ended("C1", QUEUE, "a@x", now, now, now, answered=True, recorded=True)
    notifier(client).ended("C2", QUEUE, "a@x", now, now, now, answered=True)
    recorded, plain = (orjson.loads(body or "") for body in client.bodies)
    assert list(recorded)[-3:] == ["callUrl", "recordingUrl", "times"]
    assert recorded["recordingUrl"] == "http://rb/api/call_records/C1/recording"
    assert "recordingUrl" not in plain


class ToAgent:
    """A dispatcher's 307 to an agent: that agent's extension, a plan that records nothing."""

    def route_redirect(self, tenant_id: int, location: str,
                       caller_number: str) -> HuntPlan | None:
        agent = Target(key=5, dial="PJSIP/1005@1005@acme.example", label="1005")
        return HuntPlan(label=f"agent {location}", waves=((agent,),), ring_time=20,
                        tenant_id=tenant_id)


def test_a_recorded_groups_call_redirected_to_an_agent_is_still_recorded() -> None:
    async def scenario() -> None:
        ari = FakeAri()
        engine = engine_with(ari)
        member = Target(key=2, dial="PJSIP/1002@1002@acme.example", label="1002")
        plan = HuntPlan(label="ring group 6000", waves=((member,),), ring_time=20,
                        group_id=7, tenant_id=1, events=RecordedEvents(), record=True)
        hunt = Hunt(ari, engine, "A", "caller-A", plan, ToAgent())
        await hunt.start()
        await engine.on_event(event("StasisStart", "rb-A-1"))
        await engine.on_event(event("ChannelStateChange", "rb-A-1", state="Ringing"))
        await engine.settled()
        await hunt.redirect("mary@example.com")
        await engine.settled()
        for kind, state in (("StasisStart", "Down"), ("ChannelStateChange", "Up")):
            await engine.on_event(event(kind, "rb-A-2", state=state))
        await engine.settled()
        assert hunt.answered_by is not None and hunt.answered_by.label == "1005"
        assert hunt.recording == "call-A"
        assert ("POST", "/bridges/rb-A/record", {
            "name": "call-A", "format": "wav", "ifExists": "fail"}) in ari.requests

    run(scenario())
