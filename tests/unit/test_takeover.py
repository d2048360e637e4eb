"""The pure parts of taking calls over after a restart (the live tests run the rest)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.asterisk.ari import AriError
from bridge.engine.orphans import Orphan
from bridge.engine.takeover import (
    EMPTY_BRIDGE_AGE,
    Takeover,
    being_parked,
    calls_in_asterisk,
    left_empty,
    parse_peer_left,
)
from bridge.flows.calls import AdoptedCall
from bridge.flows.earlier_calls import Closer, EarlierCall
from bridge.flows.events import CallEvent, CallParked, Ending, RingOutConnected
from bridge.gateway import CallState, LegState
from tests.unit.call_logs import call_log_into
from tests.unit.fake_ari import FakeAri, engine_with


def test_the_note_of_a_peer_leaving_gives_its_time_and_cause() -> None:
    assert parse_peer_left("1796330309.916 16") == (
        datetime(2026, 12, 3, 20, 38, 29, 916000, UTC), 16)
    assert parse_peer_left("1796330309.916 ") == (
        datetime(2026, 12, 3, 20, 38, 29, 916000, UTC), None)
    assert parse_peer_left("") == (None, None)


class VariableAri(FakeAri):
    """ARI's 404s: for a channel that is gone, and for a variable that is not set."""

    def __init__(self, channels: set[str]) -> None:
        super().__init__()
        self.channels = channels

    async def get(self, path: str, params: Any = None) -> Any:
        await super().get(path, params)
        channel_id = path.split("/")[2]
        if channel_id not in self.channels:
            raise AriError(404, "GET", path, "Channel not found")
        if path.endswith("/variable"):
            raise AriError(404, "GET", path, "Provided variable was not found")
        return {"id": channel_id}


def test_a_caller_without_a_call_name_is_told_apart_from_one_that_is_gone() -> None:
    async def call_of(channel_id: str) -> str | None:
        engine = engine_with(VariableAri({"here"}))
        return await Takeover(engine, engine.closer)._call_of(channel_id)

    assert asyncio.run(call_of("here")) == ""
    assert asyncio.run(call_of("gone")) is None


def test_only_a_caller_not_answered_yet_takes_a_leg_answered_for_it() -> None:
    def orphan(state: str, *args: str) -> Orphan:
        return Orphan({"id": "c", "state": state}, args)

    assert orphan("Ring", "dial", "6201").takes_a_leg
    assert orphan("Ringing", "inbound", "+4420").takes_a_leg
    assert not orphan("Up", "dial", "6201").takes_a_leg  # voicemail had answered it
    assert not orphan("Ring", "parking-timeout", "rb-1", "2001").takes_a_leg


class Book:
    def __init__(self, calls: dict[str, EarlierCall]) -> None:
        self.calls = calls

    def find(self, call_id: str, answered_by: str | None = None) -> EarlierCall | None:
        return self.calls.get(call_id)

    def open_before(self, moment: datetime) -> list[str]:
        return sorted(self.calls)

    def claim_end(self, call_id: str, at: datetime) -> bool:
        return call_id not in self.claimed_elsewhere

    claimed_elsewhere: frozenset[str] = frozenset()


class Steps:
    def __init__(self) -> None:
        self.steps: list[tuple[str, str, CallEvent]] = []

    def record(self, event: CallEvent) -> None:
        self.steps.append((event.call_id, event.kind, event))


class Ended:
    """A CallEvents that keeps what `ended` was told."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.recorded: list[bool] = []
        self.connects: list[str] = []

    def ended(self, call_id: str, queue: Any, agent_id: str | None, received: datetime,
              connected: datetime | None, cleared: datetime, *, answered: bool,
              recorded: bool = False) -> None:
        self.calls.append({"call_id": call_id, "agent": agent_id, "connected": connected,
                           "cleared": cleared, "answered": answered})
        self.recorded.append(recorded)

    def connected(self, call_id: str, queue: Any, agent_id: str | None) -> None:
        self.connects.append(call_id)


def test_each_earlier_call_is_closed_once_and_its_dispatcher_told_once() -> None:
    received = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    left = datetime(2026, 12, 3, 20, 1, tzinfo=UTC)
    events = Ended()
    book = Book({
        "RANG": EarlierCall("RANG", received, None, False, events),  # type: ignore[arg-type]
        "DONE": EarlierCall("DONE", received, None, True, events),  # type: ignore[arg-type]
        "QUIET": EarlierCall("QUIET", received, None, False),
        "RUNNING": EarlierCall("RUNNING", received, None, False, events),  # type: ignore[arg-type]
    })
    steps = Steps()
    closer = Closer(book, call_log_into(steps.record))

    async def scenario() -> int:
        await closer.close("RANG", "the caller hung up while ringbridge was down", at=left,
                           cause=16)
        await closer.close("RANG", "again")
        return await closer.close_open(datetime.now(UTC), running={"RUNNING"})

    assert asyncio.run(scenario()) == 1  # QUIET; DONE is listed but closed already
    assert [(call_id, kind) for call_id, kind, _ in steps.steps] == [
        ("RANG", "ended"), ("QUIET", "ended")]
    first = steps.steps[0][2]
    assert isinstance(first, Ending) and (first.cause, first.at) == (16, left)
    assert events.calls == [{"call_id": "RANG", "agent": None, "connected": None,
                             "cleared": left, "answered": False}]


def test_a_recorded_call_that_ends_after_a_restart_is_cleared_as_recorded() -> None:
    """Its `cleared` carries the recordingUrl, whether the call ended while ringbridge
    was down or was adopted and ended after."""
    received = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    events = Ended()
    book = Book({"GONE": EarlierCall("GONE", received, received, False, events,  # type: ignore[arg-type]
                                     recorded=True)})
    steps = Steps()
    closer = Closer(book, call_log_into(steps.record))
    assert asyncio.run(closer.close_open(datetime.now(UTC), running=set())) == 1
    ending = steps.steps[0][2]
    assert isinstance(ending, Ending) and ending.recorded
    assert events.recorded == [True]

    adopted = AdoptedCall(FakeAri(), engine_with(FakeAri()), "KEPT")
    adopted.follow(EarlierCall("KEPT", received, received, False, recorded=True))
    assert adopted.ending("the caller hung up", 16).recorded


def test_an_earlier_call_another_engine_closes_at_once_is_not_told_twice() -> None:
    received = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    events = Ended()
    book = Book({"BOTH": EarlierCall("BOTH", received, None, False, events)})  # type: ignore[arg-type]
    book.claimed_elsewhere = frozenset({"BOTH"})
    steps = Steps()
    closer = Closer(book, call_log_into(steps.record))
    assert asyncio.run(closer.close_open(datetime.now(UTC), running=set())) == 0
    assert steps.steps == [] and events.calls == []


def test_a_caller_bridged_but_not_answered_when_ringbridge_died_is_answered() -> None:
    """Seen in the restart-load bench: the kill fell between addChannel and answer, and
    the caller, adopted as talking, never had its 200 OK."""
    ari = FakeAri()
    engine = engine_with(ari)
    channels = [{"id": "caller", "state": "Ring"}, {"id": "rb-C-1", "state": "Up"}]

    async def adopt() -> None:
        await Takeover(engine, engine.closer)._adopt("C", {"id": "rb-C"}, channels)

    asyncio.run(adopt())
    assert [(method, path) for method, path, _ in ari.requests] == [
        ("POST", "/channels/caller/answer"), ("POST", "/channels/caller/variable"),
        ("POST", "/channels/rb-C-1/variable")]
    assert engine.active_calls == 1


class BridgedAri(FakeAri):
    """Asterisk with the bridge `rb-C` made already."""

    async def post(self, path: str, params: Any = None, json: Any = None) -> Any:
        await super().post(path, params, json)
        if path == "/bridges/rb-C":
            raise AriError(409, "POST", path, "Bridge with id 'rb-C' already exists")
        return {}


def test_a_phone_answered_as_ringbridge_died_is_connected_in_the_bridge_made_for_it() -> None:
    """Seen in the kill test of two engines: the engine died between making the call's
    bridge and adding the parties to it. Making it again answered 409, and the call,
    taken for one whose party had hung up, was hung up."""
    ari = BridgedAri()
    engine = engine_with(ari)
    caller = Orphan({"id": "caller", "state": "Ring", "name": "PJSIP/3781@a.example-1"},
                    ("dial", "6781"))
    leg = Orphan({"id": "rb-C-1", "state": "Up", "name": "PJSIP/3782@a.example-2"}, None,
                 "C", "leg")

    async def connect() -> None:
        await Takeover(engine, engine.closer)._connect(caller, leg, "C")

    asyncio.run(connect())
    assert [(method, path) for method, path, _ in ari.requests][:3] == [
        ("POST", "/bridges/rb-C"), ("POST", "/bridges/rb-C/addChannel"),
        ("POST", "/channels/caller/answer")]
    assert not [path for method, path, _ in ari.requests if method == "DELETE"]
    assert engine.active_calls == 1


def test_an_answer_whose_connected_the_dispatcher_has_is_not_told_again() -> None:
    """Killed between the answer (its `connected` stored) and the bridge, ringbridge
    connects the two when back: `connected` once, however the answer was known."""
    received = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    for told, connects in ((frozenset({"invite", "ringing", "connected"}), []),
                           (frozenset({"invite", "ringing"}), ["C"])):
        events = Ended()
        book = Book({"C": EarlierCall("C", received, None, False, events,  # type: ignore[arg-type]
                                      told=told)})
        engine = engine_with(FakeAri())
        caller = Orphan({"id": "caller", "state": "Ring"}, ("dial", "6781"))
        leg = Orphan({"id": "rb-C-1", "state": "Up", "name": "PJSIP/3782@a.example-2"},
                     None, "C", "leg")
        asyncio.run(Takeover(engine, Closer(book, engine.call_log))._connect(caller, leg,
                                                                             "C"))
        assert events.connects == connects


class LiveRecordingAri(FakeAri):
    """Asterisk recording call C's bridge already, or not."""

    def __init__(self, live: bool) -> None:
        super().__init__()
        self.live = live

    async def get(self, path: str, params: Any = None) -> Any:
        await super().get(path, params)
        if path.startswith("/recordings/live/") and not self.live:
            raise AriError(404, "GET", path, "Recording not found")
        return {}


def test_an_adopted_call_of_a_group_that_records_is_recorded_once() -> None:
    """ringbridge died between the answer and the recording (or between starting it and
    writing that down): the restarted one starts it, or finds it under way."""
    received = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    cases = [  # records, recorded (as the record says), live in Asterisk → started
        (True, False, False, ["POST /bridges/rb-C/record"], True),
        (True, False, True, [], True),
        (True, True, True, [], False),
        (False, False, False, [], False)]
    for records, in_record, live, posted, told in cases:
        ari = LiveRecordingAri(live)
        engine = engine_with(ari)
        steps = Steps()
        engine.call_log = call_log_into(steps.record)
        book = Book({"C": EarlierCall("C", received, received, False, records=records,
                                      recorded=in_record)})
        channels = [{"id": "caller", "state": "Up"}, {"id": "rb-C-1", "state": "Up"}]
        call = asyncio.run(Takeover(engine, Closer(book, engine.call_log))._adopt(
            "C", {"id": "rb-C"}, channels))
        assert [f"{m} {p}" for m, p, _ in ari.requests if p.endswith("/record")] == posted
        assert [kind for _, kind, _ in steps.steps] == ["recording"] * told
        assert call.ending("the caller hung up", 16).recorded == (in_record or told)


class NotedAri(FakeAri):
    """Legs whose caller's hangup was noted on them (dialplan [rb-left]), or not."""

    def __init__(self, notes: dict[str, str]) -> None:
        super().__init__()
        self.notes = notes

    async def get(self, path: str, params: Any = None) -> Any:
        await super().get(path, params)
        channel_id = path.split("/")[2]
        if channel_id not in self.notes:
            raise AriError(404, "GET", path, "Provided variable was not found")
        return {"value": self.notes[channel_id]}


def leg(channel_id: str, kind: str = "leg") -> Orphan:
    return Orphan({"id": channel_id, "state": "Ringing"}, None,
                  channel_id.split("-")[1], kind)


def take_up(ari: NotedAri, book: Book, steps: Steps, orphans: list[Orphan]) -> None:
    engine = engine_with(ari)
    engine.call_log = call_log_into(steps.record)  # the calls it adopts publish here
    asyncio.run(Takeover(engine, Closer(book, engine.call_log))._take_up(orphans))


def test_phones_ringing_for_a_caller_gone_stop_and_the_call_ends_when_it_left() -> None:
    received = datetime(2026, 12, 3, 23, 50, tzinfo=UTC)
    left = datetime(2026, 12, 3, 23, 51, 44, 250000, UTC)
    events = Ended()
    book = Book({"Gone": EarlierCall("Gone", received, None, False, events),  # type: ignore[arg-type]
                 "4172586": EarlierCall("4172586", received, None, False)})
    note = f"{left.timestamp():.3f} 127"  # a caller's CANCEL
    ari = NotedAri({"rb-Gone-1": note, "rb-Gone-2": note})
    steps = Steps()
    take_up(ari, book, steps, [leg("rb-Gone-1"), leg("rb-Gone-2"),
                               leg("rb-4172586-1", "ringout")])
    hung_up = [(path, params) for method, path, params in ari.requests if method == "DELETE"]
    assert sorted(hung_up) == [(f"/channels/{c}", {"reason_code": 16})
                               for c in ("rb-4172586-1", "rb-Gone-1", "rb-Gone-2")]
    methods = [method for method, _, _ in ari.requests]
    assert methods.index("DELETE") > max(i for i, m in enumerate(methods) if m == "GET")
    assert ("GET", "/channels/rb-4172586-1/variable") not in [
        (method, path) for method, path, _ in ari.requests]  # a RingOut has no caller
    assert [(call_id, kind) for call_id, kind, _ in steps.steps] == [
        ("Gone", "ended"), ("4172586", "ended")]
    gone, ringout = (event for _, _, event in steps.steps)
    assert isinstance(gone, Ending) and (gone.cause, gone.at) == (16, left)
    assert isinstance(ringout, Ending) and ringout.cause is None
    assert gone.text.startswith("the caller hung up while ringbridge was down (cause "
                                "127); the phones still ringing for it were hung up")
    assert events.calls == [{"call_id": "Gone", "agent": None, "connected": None,
                             "cleared": left, "answered": False}]


def test_the_legs_a_takeover_hangs_up_are_remembered_so_none_is_named_again() -> None:
    """Their ends may reach the engine after Asterisk stopped listing them: a new leg of
    the same name (a ring back started again) would take such an end for its own."""
    received = datetime(2026, 12, 7, 15, 28, tzinfo=UTC)
    book = Book({"R": EarlierCall("R", received, None, False)})
    steps = Steps()
    engine = engine_with(NotedAri({}))
    engine.call_log = call_log_into(steps.record)
    takeover = Takeover(engine, Closer(book, engine.call_log))
    asyncio.run(takeover._take_up([leg("rb-R-2"), leg("rb-R-3")]))
    assert takeover.hung_up_legs == {"rb-R-2", "rb-R-3"}


def test_a_ringout_whose_callee_answered_as_ringbridge_died_is_connected() -> None:
    """Both legs up, no bridge yet: they were hung up as a RingOut "not resumed"."""
    received = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    book = Book({"7310": EarlierCall("7310", received, None, False,
                                     ringout_callee="+14155550199"),
                 "7311": EarlierCall("7311", received, None, False, ringout_callee="4002")})
    ari = NotedAri({})
    steps = Steps()
    up = [Orphan({"id": f"rb-7310-{n}", "state": "Up"}, None, "7310", "ringout")
          for n in (2, 1)]
    take_up(ari, book, steps, [*up, Orphan({"id": "rb-7311-1", "state": "Up"}, None,
                                           "7311", "ringout"),
                               leg("rb-7311-2", "ringout")])  # its callee still ringing
    requests = [(method, path) for method, path, _ in ari.requests]
    assert ("POST", "/bridges/rb-7310/addChannel") in requests
    assert ari.requests[requests.index(("POST", "/bridges/rb-7310/addChannel"))][2] == {
        "channel": "rb-7310-1,rb-7310-2"}
    assert ("DELETE", "/playbacks/7310-ringback") in requests
    assert not [path for method, path in requests
                if method == "DELETE" and path.startswith("/channels/rb-7310")]
    assert sorted(path for method, path in requests if method == "DELETE"
                  and path.startswith("/channels/")) == ["/channels/rb-7311-1",
                                                         "/channels/rb-7311-2"]
    kinds = [(call_id, type(event).__name__) for call_id, _, event in steps.steps]
    assert kinds == [("7310", "RingOutConnected"), ("7311", "RingOutEndedWhileDown")]
    connected = steps.steps[0][2]
    assert isinstance(connected, RingOutConnected) and connected.leg == "+14155550199"
    assert (connected.call, connected.caller, connected.callee) == (
        CallState.CONNECTED, LegState.ANSWERED, LegState.ANSWERED)


def test_a_caller_gone_without_a_note_is_closed_at_the_time_ringbridge_is_back() -> None:
    """Phones rung by a ringbridge that died before telling them (or an older one)."""
    events = Ended()
    book = Book({"Gone": EarlierCall("Gone", datetime(2026, 12, 3, 23, 50, tzinfo=UTC),
                                     None, False, events)})  # type: ignore[arg-type]
    steps = Steps()
    before = datetime.now(UTC)
    take_up(NotedAri({}), book, steps, [leg("rb-Gone-1")])
    assert [(call_id, kind) for call_id, kind, _ in steps.steps] == [("Gone", "ended")]
    gone = steps.steps[0][2]
    assert isinstance(gone, Ending) and gone.cause == 16
    assert "when is not known: the time recorded is now" in gone.text
    assert len(events.calls) == 1 and events.calls[0]["cleared"] >= before


def test_the_calls_still_in_asterisk_are_named_by_bridges_legs_and_labels() -> None:
    """Whichever engine runs them: a restarted engine closes none of these records."""
    channels: list[dict[str, Any]] = [
        {"id": "rb-Hunting1-2"},  # a leg ringing for a call being set up
        {"id": "rb-7310-1;2"},  # the far half of a RingOut's Local leg
        {"id": "1733.4", "channelvars": {"RB_CALL": "Waiting9"}},  # a caller in a line
        {"id": "1733.5", "channelvars": {"RB_CALL": ""}},  # not labelled yet
        {"id": "1733.6"},  # an Asterisk without channelvars
    ]
    bridges = [{"id": "rb-Talking3", "channels": ["1733.7", "rb-Talking3-1"]},
               {"id": "rb-Over4", "channels": []},  # both hung up while its engine was down
               {"id": "someone-elses", "channels": ["1733.8"]}]
    assert calls_in_asterisk(channels, bridges) == {
        "Hunting1", "7310", "Waiting9", "Talking3"}


class HeldAri(FakeAri):
    """What Asterisk holds: bridges (by id), channel variables, and what the engine's
    application lists."""

    def __init__(self, bridges: list[dict[str, Any]], app_bridges: tuple[str, ...] = (),
                 variables: dict[tuple[str, str], str] | None = None) -> None:
        super().__init__()
        self.bridges = {bridge["id"]: bridge for bridge in bridges}
        self.app_bridges = app_bridges
        self.variables = variables or {}

    async def get(self, path: str, params: Any = None) -> Any:
        await super().get(path, params)
        parts = path.split("/")
        if path == "/bridges":
            return list(self.bridges.values())
        if parts[1] == "bridges":
            if parts[2] not in self.bridges:
                raise AriError(404, "GET", path, "Bridge not found")
            return self.bridges[parts[2]]
        if parts[1] == "applications":
            return {"bridge_ids": list(self.app_bridges)}
        value = self.variables.get((parts[2], (params or {}).get("variable", "")))
        if value is None:
            raise AriError(404, "GET", path, "Provided variable was not found")
        return {"value": value}


def made(seconds_ago: float) -> str:
    """A bridge's creationtime as ARI gives it."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def deleted(ari: FakeAri) -> list[str]:
    return [path for method, path, _ in ari.requests if method == "DELETE"]


def test_empty_bridges_too_young_at_a_takeover_are_removed_once_they_are_not() -> None:
    """They stayed until the next connect (days, maybe), also one a second takeover
    found while the first one's look again was pending."""
    ari = HeldAri([{"id": "rb-Dead8", "channels": [], "creationtime": made(0)}])
    engine = engine_with(ari)
    takeover = Takeover(engine, engine.closer, sweep_after=0)

    async def scenario() -> None:
        await takeover.run([])
        assert deleted(ari) == []
        ari.bridges["rb-Dead9"] = {"id": "rb-Dead9", "channels": [], "creationtime": made(0)}
        await takeover.run([])
        ari.bridges["rb-Dead8"]["creationtime"] = made(EMPTY_BRIDGE_AGE + 1)
        await asyncio.sleep(0.01)
        assert deleted(ari) == ["/bridges/rb-Dead8"]  # rb-Dead9 still young
        ari.bridges["rb-Dead9"]["creationtime"] = made(EMPTY_BRIDGE_AGE + 1)
        assert takeover._sweeping is not None
        await takeover._sweeping

    asyncio.run(scenario())
    assert deleted(ari) == ["/bridges/rb-Dead8", "/bridges/rb-Dead9"]


def parked_member(context: str = "rb-park", app: str = "Park") -> dict[str, Any]:
    return {"id": "rb-P-1", "name": "PJSIP/3371@a.example-3",
            "dialplan": {"context": context, "app_name": app}}


def parked_steps(ari: HeldAri, channels: list[dict[str, Any]], answered: datetime | None
                 ) -> tuple[Ended, list[CallEvent]]:
    """The takeover of `channels` with call P's record (answered at `answered`)."""
    events = Ended()
    received = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    book = Book({"P": EarlierCall("P", received, answered, False, events)})  # type: ignore[arg-type]
    steps = Steps()
    engine = engine_with(ari)
    engine.call_log = call_log_into(steps.record)
    asyncio.run(Takeover(engine, Closer(book, engine.call_log), sweep_after=60).run(channels))
    return events, [event for _, _, event in steps.steps]


def test_a_party_parked_as_ringbridge_died_with_its_peer_still_there() -> None:
    """The peer is hung up as the park would have; the record stays open; the dispatcher
    hears `cleared` (connected: the bridge's time, the record not having the answer)."""
    bridge = {"id": "rb-P", "channels": ["caller"], "creationtime": made(30)}
    ari = HeldAri([bridge], app_bridges=("rb-P",))
    events, steps = parked_steps(ari, [{"id": "caller"}, parked_member()], None)
    assert "/channels/caller" in deleted(ari) and "/channels/rb-P-1" not in deleted(ari)
    assert [type(event) for event in steps] == [CallParked]
    assert events.calls[0]["answered"] and events.calls[0]["connected"] is not None


def test_a_party_parked_as_ringbridge_died_whose_peer_hung_up_meanwhile() -> None:
    """The bridge is empty: the engine that parked the call ends the parties' call."""
    received = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    for app, told in (("ringbridge", 1), ("another-engine", 0)):
        ari = HeldAri([{"id": "rb-P", "channels": [], "creationtime": made(30)}],
                      variables={("rb-P-1", "RB_APP"): app})
        events, steps = parked_steps(ari, [parked_member()], received)
        assert [type(event) for event in steps] == [CallParked] * told
        assert len(events.calls) == told
        assert "/channels/rb-P-1" not in deleted(ari)


def test_a_party_on_its_way_into_a_lot_or_parked_there_is_told_apart() -> None:
    def channel(channel_id: str, context: str, label: str = "") -> dict[str, Any]:
        return {"id": channel_id, "dialplan": {"context": context, "app_name": "Park"},
                "channelvars": {"RB_CALL": label}}

    member = channel("rb-Park5-1", "rb-park")
    caller = channel("1733.9", "rb-park", "Park6")
    ringing_back = channel("rb-Park8-2", "parking-timeout")
    assert being_parked("Park5", [channel("1733.7", "from-phones"), member]) == member
    assert being_parked("Park6", [caller]) == caller
    assert being_parked("Park7", [member, caller, channel("rb-Park7-1", "from-phones")]) \
        is None
    assert being_parked("Park8", [ringing_back]) == ringing_back
    refused = channel("rb-Park9-1", "rb-park") | {  # a full lot gave it back
        "dialplan": {"context": "rb-park", "app_name": "Stasis"}}
    assert being_parked("Park9", [refused]) is None


def test_an_empty_bridge_of_ours_is_removed_once_it_is_not_new() -> None:
    """Any engine removes it: an empty bridge is in no engine's application."""
    now = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)

    def bridge(age: float, channels: list[str]) -> dict[str, Any]:
        created = now - timedelta(seconds=age)
        return {"id": "rb-Over4", "channels": channels,
                "creationtime": created.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")}

    assert left_empty(bridge(EMPTY_BRIDGE_AGE + 1, []), now)
    assert not left_empty(bridge(EMPTY_BRIDGE_AGE - 1, []), now)  # a hunt's, just made
    assert not left_empty(bridge(60, ["1733.7"]), now)
    assert not left_empty({"id": "rb-Over4", "channels": []}, now)  # age unknown


def test_a_parked_call_ringing_back_when_ringbridge_died_goes_on_with_its_record_open(
        ) -> None:
    """Its ring back starts again under the parked call's own id: closing that id's
    record, as for a caller started again as a new call, told the dispatcher `cleared`
    while the call went on."""
    events = Ended()
    received = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    book = Book({"P": EarlierCall("P", received, received, False, events)})  # type: ignore[arg-type]
    steps = Steps()
    engine = engine_with(NotedAri({}))
    started: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> None:
        started.append(event)

    engine.on_event = on_event  # type: ignore[method-assign]
    parked = Orphan({"id": "parked", "state": "Up"},
                    ("parking-timeout", "rb-a.example", "4311", "PJSIP/4311@a.example", "P"))
    takeover = Takeover(engine, Closer(book, call_log_into(steps.record)))
    assert asyncio.run(takeover._caller(parked, "P", None)) == "taken up"
    assert [event["args"][0] for event in started] == ["parking-timeout"]
    assert steps.steps == [] and events.calls == []
