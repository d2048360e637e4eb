"""Parking state from AMI events, and a park Asterisk refuses, against fakes (the real
lots are in tests/integration/test_phone_calls_live.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.asterisk.ari import AriError
from bridge.engine.call_control import CallControlError
from bridge.engine.parking import Kept, ParkingLots
from bridge.flows.calls import AdoptedCall
from bridge.flows.hunt import Hunt, HuntPlan
from bridge.gateway import Positions, Target
from tests.unit.fake_ari import FakeAri, deliver, engine_with, event


class FakeAmi:
    """Keeps the handlers; answers Getvar from `variables` and ParkedCalls from `parked`."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.variables: dict[tuple[str, str], str] = {}
        self.parked: list[dict[str, str]] = []

    def on(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler

    async def emit(self, fields: dict[str, str]) -> None:
        result = self.handlers[fields["Event"]](fields)
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
        lots = ParkingLots(ami)  # type: ignore[arg-type]
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

        ami.parked = [parked_event("ParkedCall", "ch2", "702")]
        await lots.reload()  # after a restart: what Asterisk has, with our variables
        assert [(c.slot, c.call_id) for c in lots.in_lot("acme.example")] == [("702", "CALL2")]

    asyncio.run(scenario())


async def connected_call() -> tuple[Any, FakeAri, Hunt]:
    ari = FakeAri()
    engine = engine_with(ari)
    target = Target(key=0, dial="PJSIP/1002@1002@acme.example", label="1002")
    hunt = Hunt(ari, engine, "CALL", "caller",
                HuntPlan(label="1002", waves=((target,),), ring_time=30, domain="acme.example"))
    await hunt.start()
    await deliver(engine, event("StasisStart", "rb-CALL-1"))
    await deliver(engine, event("ChannelStateChange", "rb-CALL-1", state="Up"))
    assert hunt.connected
    return engine, ari, hunt


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


def test_once_parked_the_peer_is_hung_up() -> None:
    async def scenario() -> None:
        engine, ari, hunt = await connected_call()
        parker = Target(key=0, dial="PJSIP/1002@1002@acme.example", label="1002")
        parking = asyncio.create_task(engine.control.park("acme.example", "CALL", "00",
                                                          parker, 30))
        while not any(path.endswith("/continue") for _, path, _ in ari.requests):
            await asyncio.sleep(0)
        await engine.parking._parked(parked_event("ParkedCall", "caller", "701"))
        parked = await parking
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
