"""The engines of one Asterisk as one gateway: reads merged (parked calls, on every
engine, once), an action on a call taken to the engine that has it, RingOuts dealt
round, and a change on any engine waking the live views."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.api import engines_client
from bridge.api.engines_client import EnginesClient
from bridge.engine.call_control import CallControlError
from bridge.engine.changes import Changes
from bridge.gateway import (
    CallRefused,
    CallState,
    CancelOutcome,
    EngineNotReached,
    EngineOverview,
    EngineStatus,
    LegPlan,
    LegState,
    LiveCall,
    PanelView,
    ParkedCall,
    Party,
    PartyState,
    RingOutPlan,
    RingOutStates,
    SipEndpoint,
    Target,
    Waiting,
)
from tests.unit.sample_call import CALL

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
DOMAIN = CALL.domain
PHONE = Target(1, "PJSIP/1001@1001@acme.example", "1001")
IN_LOT = ParkedCall("ch-p", "PJSIP/carrier-0001", "acme.example", "701", "+442071234568",
                    "Parked", T0, 60, "p1", "1001")
PARKED = replace(CALL, call_id="p1", parties=(
    Party("00", "ch-p", "+442071234568", "Parked", True, True, PartyState.UP,
          parked=IN_LOT),))


def plan(call_id: str) -> RingOutPlan:
    return RingOutPlan(call_id, 1, LegPlan("PJSIP/1001@1001@acme.example", "1001", "+44"),
                       LegPlan("PJSIP/+44@carrier", "+44", "1001"), False, 30, 10)


class FakeEngine:
    """One engine: it has `calls` and refuses any other as NO_CALL; while `down` it is
    not running (EngineNotReached, nothing done). `done` records what it did."""

    def __init__(self, *calls: LiveCall, down: bool = False) -> None:
        self.calls = list(calls)
        self.down = down
        self.done: list[tuple[object, ...]] = []
        self.changed = Changes()
        self.following = threading.Event()  # a wait on `changed` is under way
        self.tries = 0  # `changes` asked while down
        self.cancel_outcome = CancelOutcome()
        self.status_now = EngineStatus(ari=True, ami=True)
        self.overview_now = EngineOverview(self.status_now, T0, 0, 0, {}, 0)
        self.panel_now = PanelView((), {}, frozenset(), {})
        self.closed = False

    def _reach(self) -> None:
        if self.down:
            raise EngineNotReached("the telephony engine is not running")

    def _find(self, call_id: str) -> None:
        self._reach()
        if all(call.call_id != call_id for call in self.calls):
            raise CallControlError(CallRefused.NO_CALL, f"no live call {call_id}")

    def close(self) -> None:
        self.closed = True

    def status(self) -> EngineStatus:
        return self.status_now

    def overview(self) -> EngineOverview:
        self._reach()
        return self.overview_now

    def changes(self, seen: int, wait: float) -> int:
        if self.down:
            self.tries += 1
        self._reach()
        if seen == self.changed.after(-1, 0):
            self.following.set()
        return self.changed.after(seen, wait)

    def panel(self, domain: str) -> PanelView:
        self._reach()
        return self.panel_now

    def push(self, endpoint: SipEndpoint) -> None:
        self._reach()
        self.done.append(("push", endpoint.endpoint_id))

    def remove(self, endpoint_id: str) -> None:
        self._reach()
        self.done.append(("remove", endpoint_id))

    def delete_recordings(self, names: list[str]) -> list[str]:
        self._reach()
        self.done.append(("delete_recordings", *names))
        return []

    def start_ringout(self, plan: RingOutPlan) -> None:
        self._reach()
        self.done.append(("start_ringout", plan.call_id))

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        self._reach()
        self.done.append(("cancel_ringout", call_id))
        return self.cancel_outcome

    def live_calls(self, domain: str) -> list[LiveCall]:
        self._reach()
        return [call for call in self.calls if call.domain == domain]

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        self._find(call_id)
        self.done.append(("park", call_id, view))
        return replace(IN_LOT, call_id=call_id)

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        self._find(call_id)
        self.done.append(("unpark", call_id))
        return call_id

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        self._find(call_id)
        self.done.append(("pick_up", call_id))
        return call_id

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        self._find(call_id)
        self.done.append(("hang_up", call_id, view))
        return [view or "00"]


Action = Callable[[EnginesClient, str], object]
ACTIONS: dict[str, Action] = {
    "park": lambda client, call_id: client.park(DOMAIN, call_id, "00", PHONE, 60),
    "unpark": lambda client, call_id: client.unpark(DOMAIN, call_id, PHONE, 20),
    "pick_up": lambda client, call_id: client.pick_up(DOMAIN, call_id, PHONE, 20),
    "hang_up": lambda client, call_id: client.hang_up(DOMAIN, call_id, None),
}


@pytest.fixture
def clients() -> Iterator[Callable[..., EnginesClient]]:
    """Clients over the engines given; closed, their followers let go, at the end."""
    made: list[tuple[EnginesClient, tuple[FakeEngine, ...]]] = []

    def make(*engines: FakeEngine) -> EnginesClient:
        client = EnginesClient(engines)
        made.append((client, engines))
        return client

    yield make
    for client, engines in made:
        client.close()
        for engine in engines:
            assert engine.closed
            engine.changed.note()


def test_one_engine_is_answered_as_that_engine(
        clients: Callable[..., EnginesClient]) -> None:
    engine = FakeEngine(CALL, PARKED)
    engine.status_now = EngineStatus(ari=True, ami=False)
    client = clients(engine)
    assert client.status() == engine.status_now
    assert client.statuses() == [engine.status_now]
    assert client.overview() is engine.overview_now
    assert client.panel(DOMAIN) is engine.panel_now
    assert client.live_calls(DOMAIN) == [CALL, PARKED]
    assert client.changes(-1, 0) == engine.changed.after(-1, 0)  # its own count
    with pytest.raises(CallRefused) as refused:
        client.hang_up(DOMAIN, "gone", None)
    assert refused.value.reason == CallRefused.NO_CALL
    engine.down = True
    with pytest.raises(EngineNotReached, match="not running"):
        client.hang_up(DOMAIN, CALL.call_id, None)
    with pytest.raises(EngineNotReached, match="not running"):
        client.start_ringout(plan("r1"))
    with pytest.raises(EngineNotReached, match="not running"):
        client.live_calls(DOMAIN)


def test_live_calls_of_all_engines_with_a_parked_call_once(
        clients: Callable[..., EnginesClient]) -> None:
    second = replace(CALL, call_id="c2")
    first_engine, second_engine = FakeEngine(CALL, PARKED), FakeEngine(PARKED, second)
    client = clients(first_engine, second_engine)
    assert client.live_calls(DOMAIN) == [CALL, PARKED, second]
    first_engine.down = True  # restarting: its calls are not known meanwhile
    assert client.live_calls(DOMAIN) == [PARKED, second]
    second_engine.down = True
    with pytest.raises(EngineNotReached):
        client.live_calls(DOMAIN)


@pytest.mark.parametrize("name", list(ACTIONS))
def test_an_action_goes_to_the_engine_that_has_the_call(
        clients: Callable[..., EnginesClient], name: str) -> None:
    elsewhere, home = FakeEngine(CALL), FakeEngine(replace(CALL, call_id="c2"))
    ACTIONS[name](clients(elsewhere, home), "c2")
    assert elsewhere.done == []
    assert [done[:2] for done in home.done] == [(name, "c2")]


def test_another_refusal_is_the_answer(clients: Callable[..., EnginesClient]) -> None:
    class Answered(FakeEngine):
        def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
            raise CallControlError(CallRefused.ANSWERED, "the call is answered already")

    other = FakeEngine(CALL)
    with pytest.raises(CallRefused) as refused:
        clients(Answered(CALL), other).pick_up(DOMAIN, CALL.call_id, PHONE, 20)
    assert refused.value.reason == CallRefused.ANSWERED
    assert other.done == []


def test_a_call_no_engine_has_is_no_call(clients: Callable[..., EnginesClient]) -> None:
    with pytest.raises(CallRefused) as refused:
        clients(FakeEngine(CALL), FakeEngine()).hang_up(DOMAIN, "gone", "01")
    assert refused.value.reason == CallRefused.NO_CALL


def test_a_call_may_be_on_an_engine_not_reached(
        clients: Callable[..., EnginesClient]) -> None:
    client = clients(FakeEngine(CALL), FakeEngine(down=True), FakeEngine())
    with pytest.raises(EngineNotReached, match="restarting") as unavailable:
        client.hang_up(DOMAIN, "c2", None)
    assert not isinstance(unavailable.value, CallRefused)  # a 503, not a call refused


def test_ringouts_are_dealt_round_past_an_engine_not_running(
        clients: Callable[..., EnginesClient]) -> None:
    first, stopped, third = FakeEngine(), FakeEngine(down=True), FakeEngine()
    client = clients(first, stopped, third)
    for call_id in ("r0", "r1", "r2", "r3"):
        client.start_ringout(plan(call_id))
    assert first.done == [("start_ringout", "r0"), ("start_ringout", "r3")]
    assert third.done == [("start_ringout", "r1"), ("start_ringout", "r2")]
    first.down = third.down = True
    with pytest.raises(EngineNotReached):
        client.start_ringout(plan("r4"))


def test_a_cancel_is_answered_by_the_engine_running_the_ringout(
        clients: Callable[..., EnginesClient]) -> None:
    stranger, owner, after = FakeEngine(), FakeEngine(), FakeEngine()
    owner.cancel_outcome = CancelOutcome(states=RingOutStates(
        CallState.NOT_REACHED, LegState.CANCELLED, LegState.CANCELLED))
    client = clients(stranger, owner, after)
    assert client.cancel_ringout("r1") is owner.cancel_outcome
    assert after.done == []  # the owner's answer is the answer
    owner.cancel_outcome = CancelOutcome(connected=True)
    assert client.cancel_ringout("r1").connected
    owner.cancel_outcome = CancelOutcome()  # none runs it (started before a restart)
    assert client.cancel_ringout("r1") == CancelOutcome()
    assert after.done == [("cancel_ringout", "r1")]


def test_the_overview_adds_the_engines_up_and_counts_parked_calls_once(
        clients: Callable[..., EnginesClient]) -> None:
    first, second = FakeEngine(), FakeEngine()
    first.overview_now = EngineOverview(EngineStatus(ari=False, ami=True), T0, calls_up=2,
                                        parked=3, lines={7: (1, 4.0), 8: (2, 9.0)}, outbox=1)
    second.overview_now = EngineOverview(EngineStatus(ari=True, ami=False),
                                         T0 - timedelta(minutes=5), calls_up=5, parked=3,
                                         lines={7: (2, 6.0)}, outbox=0)
    assert clients(first, second).overview() == EngineOverview(
        EngineStatus(ari=True, ami=True), T0 - timedelta(minutes=5), calls_up=7, parked=3,
        lines={7: (3, 6.0), 8: (2, 9.0)}, outbox=1)


def test_the_panel_merges_lines_by_priority_then_arrival(
        clients: Callable[..., EnginesClient]) -> None:
    second_call = replace(CALL, call_id="c2")
    first, second = FakeEngine(), FakeEngine()
    first.panel_now = PanelView(
        (CALL, PARKED), {7: (Waiting("c1", "high", T0 + timedelta(seconds=5)),
                             Waiting("c3", "normal", T0))},
        frozenset({"1001"}), {"ch-p": 40.0})
    second.panel_now = PanelView(
        (PARKED, second_call), {7: (Waiting("c2", "urgent", T0 + timedelta(seconds=9)),
                                    Waiting("c4", "high", T0 + timedelta(seconds=1))),
                                8: (Waiting("c5", "low", T0),)},
        frozenset({"1002"}), {"ch-p": 39.5})
    view = clients(first, second).panel(DOMAIN)
    assert view.calls == (CALL, PARKED, second_call)
    assert {group: [w.call_id for w in line] for group, line in view.lines.items()} == {
        7: ["c2", "c4", "c1", "c3"], 8: ["c5"]}
    assert view.registered == {"1001", "1002"}
    assert view.time_left == {"ch-p": 40.0}


def test_provisioning_goes_to_every_engine_that_is_running(
        clients: Callable[..., EnginesClient]) -> None:
    """Each engine applies it after its own resync: one resyncing from the database as
    the change commits would otherwise undo what another pushed."""
    first, stopped, third = FakeEngine(), FakeEngine(down=True), FakeEngine()
    client = clients(first, stopped, third)
    client.push(SipEndpoint("1001@acme.example", "1001", "secret", "Ann", "1001"))
    client.remove("1002@acme.example")
    for engine in (first, third):
        assert engine.done == [("push", "1001@acme.example"), ("remove", "1002@acme.example")]
    assert client.delete_recordings(["rec-1"]) == []  # one engine deletes them
    assert (first.done[-1], len(third.done)) == (("delete_recordings", "rec-1"), 2)
    first.down = third.down = True
    client.remove("1003@acme.example")  # pushed by an engine when it connects
    with pytest.raises(EngineNotReached):
        client.delete_recordings(["rec-2"])


def test_a_change_on_any_engine_wakes_a_waiter(
        clients: Callable[..., EnginesClient]) -> None:
    first, second = FakeEngine(), FakeEngine()
    client = clients(first, second)
    client.changes(-1, 0)  # starts following the engines
    assert first.following.wait(5) and second.following.wait(5)
    seen = client.changes(-1, 0)  # each follower has noted its engine's first count
    threading.Timer(0.05, second.changed.note).start()
    assert client.changes(seen, 5.0) == seen + 1


def test_an_engine_coming_back_wakes_a_waiter(
        clients: Callable[..., EnginesClient], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines_client, "RETRY", 0.01)
    first, second = FakeEngine(), FakeEngine(down=True)
    client = clients(first, second)
    client.changes(-1, 0)
    assert first.following.wait(5)
    deadline = time.monotonic() + 5
    while second.tries < 2 and time.monotonic() < deadline:  # its going away was noted
        time.sleep(0.01)
    seen = client.changes(-1, 0)
    second.down = False
    assert client.changes(seen, 5.0) != seen
    assert second.following.wait(5)
