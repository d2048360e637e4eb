"""Parking state from AMI events, and a park Asterisk refuses, against fakes (the real
lots are in tests/integration/test_phone_calls_live.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.asterisk.ari import AriError
from bridge.engine.call_control import CallControlError
from bridge.engine.parking import Kept, ParkingLots
from bridge.flows.call_log import CallLog
from bridge.flows.calls import AdoptedCall
from bridge.flows.events import (
    CallEvent,
    CallParked,
    Ending,
    ParkedCallerLeft,
    ParkedCallTakenBack,
)
from bridge.flows.hunt import Hunt, HuntPlan, Origin
from bridge.gateway import ParkedCall, Positions, Target
from tests.unit.fake_ari import FakeAri, deliver, engine_with, event


class FakeAmi:
    """Keeps the handlers (every engine's: each has its AMI connection, and all hear the
    same events); answers Getvar from `variables` and ParkedCalls from `parked`."""

    def __init__(self) -> None:
        self.handlers: dict[str, list[Any]] = {}
        self.variables: dict[tuple[str, str], str] = {}
        self.parked: list[dict[str, str]] = []

    def on(self, name: str, handler: Any) -> None:
        self.handlers.setdefault(name, []).append(handler)

    async def emit(self, fields: dict[str, str]) -> None:
        for handler in self.handlers[fields["Event"]]:
            result = handler(fields)
            if result is not None:
                await result

    async def action(self, action: dict[str, str]) -> Any:
        if action["Action"] == "ParkedCalls":
            return [{"Response": "Success"}, *self.parked, {"Event": "ParkedCallsComplete"}]
        return {"Value": self.variables.get((action["Channel"], action["Variable"]), "")}


def parked_event(kind: str, uniqueid: str, slot: str, lot: str = "rb-acme.example"
                 ) -> dict[str, str]:
    return {"Event": kind, "ParkeeUniqueid": uniqueid, "ParkeeChannel": f"PJSIP/{uniqueid}",
            "Parkinglot": lot, "ParkingSpace": slot, "ParkeeCallerIDNum": "1002",
            "ParkeeCallerIDName": "Bob", "ParkingTimeout": "170", "ParkingDuration": "10"}


def test_positions_parse_and_capacity() -> None:
    positions = Positions.parse("701-720")
    assert (positions.capacity, str(positions)) == (20, "701-720")
    assert "720" in positions and "721" not in positions and "7a1" not in positions
    assert "70²" not in positions  # a digit to str.isdigit(), not to int()
    for bad in ("", "abc", "720-701", "0-3"):
        with pytest.raises(ValueError, match="parking positions"):
            Positions.parse(bad)


def test_lots_follow_the_events_and_read_ringbridges_variables() -> None:
    async def scenario() -> None:
        ami = FakeAmi()
        call_log = CallLog()
        ended: list[CallEvent] = []
        call_log.subscribe(Ending, ended.append)
        lots = ParkingLots(ami, call_log)  # type: ignore[arg-type]
        confirmed = lots.expect("ch1", Kept("CALL1", "1001", "", "1795600000.5"))
        await ami.emit(parked_event("ParkedCall", "ch1", "701"))
        call = await confirmed
        assert (call.call_id, call.parker, call.slot, call.timeout) == ("CALL1", "1001", "701",
                                                                         180)
        assert call.published == datetime.fromtimestamp(1795600000.5, UTC)
        assert lots.at("acme.example", "701") == call and lots.in_lot("other.example") == []

        ami.variables = {("PJSIP/ch2", "RB_CALL"): "CALL2", ("PJSIP/ch2", "RB_PARKER"): "1009"}
        await ami.emit(parked_event("ParkedCallSwap", "ch2", "701"))  # a new channel in 701
        assert [(c.channel_id, c.call_id, c.parker) for c in lots.in_lot("acme.example")] == [
            ("ch2", "CALL2", "1009")]
        await ami.emit(parked_event("ParkedCall", "x", "700", lot="default"))  # not ours
        await ami.emit(parked_event("ParkedCallGiveUp", "ch2", "701"))
        assert lots.in_lot("acme.example") == []
        assert [(type(e), e.call_id, e.text) for e in ended] == [
            (ParkedCallerLeft, "CALL2", "1002 hung up while parked at 701")]

        ami.parked = [parked_event("ParkedCall", "ch2", "702")]
        kept = Kept("CALL2", "1009", "in", "1795600000.5", "1795600010.25", "00", "3",
                    "+14155550100", "6001", "1009")
        ami.variables = {("PJSIP/ch2", name): value
                         for name, value in kept.variables().items()}
        await lots.reload()  # after a restart: what Asterisk has, with our variables
        [again] = lots.in_lot("acme.example")
        assert (again.slot, again.call_id, again.view, again.views, again.source,
                again.dialled, again.charged) == ("702", "CALL2", "00", 3, "+14155550100",
                                                  "6001", "1009")
        assert again.answered == datetime.fromtimestamp(1795600010.25, UTC)
        await ami.emit(parked_event("ParkedCallTimeOut", "ch2", "702"))
        assert lots.in_lot("acme.example") == [] and lots.by_channel("ch2") == again
        assert len(ended) == 1  # it rings back its parker: the call goes on

    asyncio.run(scenario())


def test_only_the_engine_that_parked_a_call_records_its_caller_leaving() -> None:
    """Two engines hear the same lot events: a parked caller's hangup is recorded once,
    by the engine that parked it; a call another engine took out of the lot (a redirect,
    which Asterisk also tells as a give-up) is recorded by neither."""
    async def scenario() -> list[tuple[str, str]]:
        ami = FakeAmi()
        left: list[tuple[str, str]] = []
        lots = {}
        def recorder(app: str) -> Callable[[Ending], None]:
            return lambda ending: left.append((app, ending.call_id))

        for app in ("ringbridge", "ringbridge-2"):
            call_log = CallLog()
            call_log.subscribe(Ending, recorder(app))
            lots[app] = ParkingLots(ami, call_log, app=app)  # type: ignore[arg-type]
        for channel, call, slot in (("ch1", "HUNG-UP", "701"), ("ch2", "TAKEN", "702")):
            ami.variables.update({(f"PJSIP/{channel}", "RB_CALL"): call,
                                  (f"PJSIP/{channel}", "RB_APP"): "ringbridge-2"})
            await ami.emit(parked_event("ParkedCall", channel, slot))
        await ami.emit(parked_event("ParkedCallGiveUp", "ch1", "701"))
        ami.variables[("PJSIP/ch2", "RB_APP")] = "ringbridge"  # engine 1 takes it out
        lots["ringbridge"].taking_out("ch2")
        await ami.emit(parked_event("ParkedCallGiveUp", "ch2", "702"))
        return left

    assert asyncio.run(scenario()) == [("ringbridge-2", "HUNG-UP")]


def test_the_time_a_call_has_left_in_the_lot_follows_the_lots_clock() -> None:
    """An unanswered UnPark puts the call back for the time it has left: a wall clock
    stepped forward 4 s (NTP) during the UnPark once took 4 s off it. The lots time
    calls on the monotonic clock by default."""
    now = [1000.0]

    async def scenario() -> None:
        ami = FakeAmi()
        lots = ParkingLots(ami, CallLog(), clock=lambda: now[0])  # type: ignore[arg-type]
        assert ParkingLots(FakeAmi(), CallLog()).clock is time.monotonic  # type: ignore[arg-type]
        await ami.emit(parked_event("ParkedCall", "ch1", "701"))  # 170 s left
        now[0] += 12.5
        assert lots.time_left("ch1") == 157.5
        now[0] += 200
        assert lots.time_left("ch1") == 0
        await ami.emit(parked_event("ParkedCallGiveUp", "ch1", "701"))
        assert lots.time_left("ch1") == 0

    asyncio.run(scenario())


async def connected_call() -> tuple[Any, FakeAri, Hunt]:
    ari = FakeAri()
    engine = engine_with(ari)
    target = Target(key=0, dial="PJSIP/1002@1002@acme.example", label="1002")
    hunt = engine.new_hunt("CALL", "caller", HuntPlan(label="1002", waves=((target,),),
                                                      ring_time=30, domain="acme.example"))
    await hunt.start()
    await deliver(engine, event("StasisStart", "rb-CALL-1"))
    await deliver(engine, event("ChannelStateChange", "rb-CALL-1", state="Up"))
    assert hunt.connected
    return engine, ari, hunt


@pytest.mark.parametrize("hangs_up", [False, True], ids=["waits", "hangs-up-meanwhile"])
def test_a_slot_dialled_before_the_lots_are_read_finds_its_parked_call(hangs_up: bool
                                                                       ) -> None:
    """As an engine starts, ARI may connect before AMI has read the lots: the slot was
    looked up in empty lots and sent to the unknown-number announcement. A phone that
    hangs up while it waits leaves the call in the lot, its record open (taken back
    and ended, it closed the parked call's record)."""
    async def scenario() -> None:
        ari = FakeAri()
        engine = engine_with(ari)
        ami = FakeAmi()
        ami.variables[("PJSIP/caller", "RB_CALL")] = "CALL"
        engine.parking.ami = ami  # type: ignore[assignment]
        events: list[CallEvent] = []
        engine.call_log.subscribe(CallEvent, events.append)
        await engine.on_event(event("StasisStart", "phone", args=["dial", "701"])
                              | {"channel": {"id": "phone", "state": "Ring",
                                             "name": "PJSIP/2003@acme.example-00000001"}})
        for _ in range(20):
            await asyncio.sleep(0)
        assert ari.requests == []  # nothing decided yet
        if hangs_up:
            await engine.on_event(event("StasisEnd", "phone"))
        await engine.parking._parked(parked_event("ParkedCall", "caller", "701"))
        engine._ami_read.set()
        await engine.settled()
        assert ("POST", "/channels/phone/continue") not in [
            (method, path) for method, path, _ in ari.requests]
        if hangs_up:
            assert events == [] and ari.requests == []
        else:
            assert isinstance(events[0], ParkedCallTakenBack) and events[0].call_id == "CALL"

    asyncio.run(scenario())


def test_a_park_asterisk_refuses_puts_the_party_back_into_its_call() -> None:
    async def scenario() -> None:
        engine, ari, hunt = await connected_call()
        parker = Target(key=0, dial="PJSIP/1001@1001@acme.example", label="1001")
        parking = asyncio.create_task(engine.control.park("acme.example", "CALL", "01",
                                                          parker, 30))
        while not any(path.endswith("/continue") for _, path, _ in ari.requests):
            await asyncio.sleep(0)
        await deliver(engine, event("StasisEnd", "rb-CALL-1"))  # it left for the dialplan
        await deliver(engine, event("StasisStart", "rb-CALL-1", args=["park-failed", "CALL"]))
        with pytest.raises(CallControlError) as refused:
            await parking
        assert refused.value.reason == CallControlError.LOT_FULL
        assert ("POST", "/bridges/rb-CALL/addChannel", {"channel": "rb-CALL-1"}) in ari.requests
        assert not hunt.done and "rb-CALL-1" in hunt.legs
        assert not any(method == "DELETE" for method, _, _ in ari.requests)

    asyncio.run(scenario())


async def park_the_caller(engine: Any, ari: FakeAri, seconds: int) -> ParkedCall:
    """1002 parks the caller of connected_call's call; Asterisk confirms it at 701."""
    parker = Target(key=0, dial="PJSIP/1002@1002@acme.example", label="1002")
    parking = asyncio.create_task(engine.control.park("acme.example", "CALL", "00",
                                                      parker, seconds))
    while not any(path.endswith("/continue") for _, path, _ in ari.requests):
        await asyncio.sleep(0)
    await engine.parking._parked(parked_event("ParkedCall", "caller", "701"))
    parked: ParkedCall = await parking
    return parked


def test_once_parked_the_peer_is_hung_up() -> None:
    async def scenario() -> None:
        engine, ari, hunt = await connected_call()
        parked = await park_the_caller(engine, ari, 30)
        assert (parked.call_id, parked.parker, parked.slot) == ("CALL", "1002", "701")
        assert hunt.done
        assert ("DELETE", "/channels/rb-CALL-1", {"reason_code": 16}) in ari.requests
        assert not any(path == "/channels/caller" for _, path, _ in ari.requests)

    asyncio.run(scenario())


class PartyGoneAri(FakeAri):
    """The second party's channel is gone by the time it is hung up (its call's flow
    hung it up when the first party went): Asterisk answers 404."""

    async def delete(self, path: str, params: Any = None) -> Any:
        await self._record("DELETE", path, params)
        if path == "/channels/rb-CALL-1":
            raise AriError(404, "DELETE", path, "Channel not found")
        return {}


def test_hanging_up_an_adopted_call_whose_other_party_is_gone_already_succeeds() -> None:
    async def scenario() -> list[str]:
        ari = PartyGoneAri()
        engine = engine_with(ari)
        call = AdoptedCall(ari, engine, "CALL")
        for channel_id, name in (("1795.1", "PJSIP/1001@acme.example-0001"),
                                 ("rb-CALL-1", "PJSIP/1002@acme.example-0002")):
            call.adopt(channel_id)
            call.found[channel_id] = {"id": channel_id, "name": name, "state": "Up"}
        return await engine.control.hang_up("acme.example", "CALL", None)

    assert asyncio.run(scenario()) == ["00", "01"]


class RecordingAmi:
    """Takes AMI actions (the Redirect out of the lot) and answers them."""

    def __init__(self) -> None:
        self.actions: list[dict[str, str]] = []

    async def action(self, action: dict[str, str]) -> Any:
        self.actions.append(action)
        return {"Response": "Success"}


def test_a_parked_call_keeps_its_id_views_and_times_in_the_lot_and_when_taken_back() -> None:
    """VoIPNow's PhoneCall stays one call: parked, then taken back unanswered, then
    back in its own slot for the time it had left; its record is never closed."""
    async def scenario() -> None:
        engine, ari, hunt = await connected_call()
        now = [500.0]
        engine.parking.clock = lambda: now[0]
        hunt.origin = Origin(number="+14155550100", dialled="6001", inbound=True)
        events: list[CallEvent] = []
        engine.call_log.subscribe(CallEvent, events.append)
        await park_the_caller(engine, ari, 180)
        [parked] = engine.control.live_calls("acme.example")
        assert (parked.call_id, parked.answered, parked.source, parked.dialled,
                parked.charged, parked.inbound) == ("CALL", hunt.answered_at,
                                                    "+14155550100", "6001", "1002", True)
        assert [(p.view, p.caller, p.answered_at) for p in parked.parties] == [
            ("00", True, hunt.answered_at)]
        assert isinstance(events[-1], CallParked)

        ami = RecordingAmi()
        engine.ami = ami
        to_2003 = Target(key=0, dial="PJSIP/2003@2003@acme.example", label="2003")
        taking = asyncio.create_task(engine.control.unpark("acme.example", "CALL", to_2003,
                                                           25))
        while not ami.actions:
            await asyncio.sleep(0)
        # What Asterisk reports for a channel redirected out of the lot, as for a hangup.
        await engine.parking._gone({"Event": "ParkedCallGiveUp", "ParkeeUniqueid": "caller"})
        await deliver(engine, event("StasisStart", "caller", args=["unparked"]))
        assert await taking == "CALL"
        [taken] = engine.control.live_calls("acme.example")
        assert (taken.call_id, taken.answered, taken.source, taken.dialled,
                taken.charged) == ("CALL", hunt.answered_at, "+14155550100", "6001", "1002")
        assert [(p.view, p.number) for p in taken.parties] == [("00", ""), ("02", "2003")]
        assert ("POST", "/channels/create") in [(m, path) for m, path, _ in ari.requests]

        now[0] += 12  # 2003 rang 12 s; the wall clock is never read
        await deliver(engine, event("ChannelDestroyed", "rb-CALL-2", cause=19))
        back = {params["variable"]: params["value"] for method, path, params in ari.requests
                if path == "/channels/caller/variable"}
        assert (back["PARKINGEXTEN"], back["RB_PARK_TIMEOUT"]) == ("701", "158")  # 170 - 12
        assert ari.requests[-1][1] == "/channels/caller/continue"
        assert all(e.call_id == "CALL" for e in events)
        assert [type(e) for e in events if isinstance(e, Ending)] == [CallParked, CallParked]

    asyncio.run(scenario())


def test_a_party_that_holds_the_call_is_shown_as_the_holder_of_the_others() -> None:
    async def scenario() -> None:
        engine, _, hunt = await connected_call()
        hunt.origin = Origin(number="1001")
        steps: list[CallEvent] = []
        engine.call_log.subscribe(CallEvent, steps.append)
        await deliver(engine, event("ChannelHold", "rb-CALL-1"))
        [call] = engine.control.live_calls("acme.example")
        caller, member = call.parties
        assert (caller.holder, member.holder, member.on_hold_at) == ("1002", "", None)
        assert caller.on_hold_at is not None
        await deliver(engine, event("ChannelHold", "rb-CALL-1"))  # said twice: once
        await deliver(engine, event("ChannelUnhold", "rb-CALL-1"))
        [call] = engine.control.live_calls("acme.example")
        assert all(p.on_hold_at is None and not p.holder for p in call.parties)
        assert [step.text for step in steps] == ["1002 put the call on hold",
                                                 "1002 took the call off hold"]

    asyncio.run(scenario())
