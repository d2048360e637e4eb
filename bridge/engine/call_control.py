"""Acting on live calls for the phone calls API: park, take back, pick up, hang up.

Runs on the engine's loop. A call is parked by sending its channel (ARI `continue`)
into the dialplan's [rb-park], which runs res_parking's Park() in the tenant's lot with
music on hold and the timeout asked for; the peer is hung up once Asterisk confirms the
park (AMI ParkedCall), so a refused park (full lot) puts the channel back into its call.
A parked call is taken back by moving it (AMI Redirect) into [rb-unpark], which enters
Stasis again, where a hunt flow connects it to whoever takes it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from bridge.asterisk.ami import AmiClient, AmiError
from bridge.asterisk.ari import AriClient, AriError
from bridge.config import Settings
from bridge.engine.live_calls import LiveCall, Party, PartyState, snapshot
from bridge.engine.parking import (
    APP_VARIABLE,
    CONFIRM_TIMEOUT,
    PARK_CONTEXT,
    PARKER_DIAL_VAR,
    PARKING_TIMEOUT,
    Kept,
    ParkedCall,
    ParkFailed,
    ParkingLots,
    lot_name,
    parked_domain,
    parked_outside,
    posix,
)
from bridge.flows.calls import AdoptedCall, CallFlow, Event, new_call_id
from bridge.flows.events import ParkedCallRingingBack, ParkedCallTakenBack, ParkingFailed
from bridge.flows.hunt import Hunt, HuntPlan, Leg, Origin
from bridge.gateway import CallRefused, Positions, Target

log = logging.getLogger(__name__)

OWN_SLOT = "PARKINGEXTEN"  # Park() puts the call in this slot when it is set and free
TAKEN_OUT_TIMEOUT = 3.0


class EngineForControl(Protocol):
    """The engine as call control sees it: its connections and parking lots, the flows
    it runs, and how it makes a hunt and hands it an event."""

    settings: Settings
    app: str  # this engine's ARI application
    ari: AriClient
    ami: AmiClient
    parking: ParkingLots

    @property
    def flows(self) -> list[CallFlow]: ...

    @property
    def legs_hung_up(self) -> set[str]:
        """The legs its takeovers hung up."""

    def new_hunt(self, call_id: str, caller_id: str, plan: HuntPlan) -> Hunt: ...

    async def deliver(self, flow: CallFlow, event: Event) -> None: ...


class CallControlError(CallRefused):
    """An action the call's state does not allow (the gateway's CallRefused)."""


@dataclass(frozen=True)
class Retrieval:
    """A parked call being taken out of the lot: the hunt to make when it enters Stasis
    again, and the future its request waits on."""

    parked: ParkedCall
    plan: HuntPlan
    started: asyncio.Future[Hunt]


class CallControl:
    def __init__(self, engine: EngineForControl, positions: Positions) -> None:
        self.engine = engine
        self.positions = positions
        self._locks: dict[str, asyncio.Lock] = {}
        self._retrievals: dict[str, Retrieval] = {}

    def live_calls(self, domain: str) -> list[LiveCall]:
        return snapshot(domain, self.engine.flows, self.engine.parking.in_lot(domain))

    # Parking.

    async def park(self, domain: str, call_id: str, view: str, parker: Target,
                   timeout: int) -> ParkedCall:
        """Park one party of a bridged call; its peer is hung up once it is parked. The
        call keeps its id (and record) in the lot, and when it is taken back."""
        hunt = self._hunt(domain, call_id)
        call = self._call(domain, call_id)
        party = self._party(domain, call_id, view)
        if not hunt.connected or party.state is not PartyState.UP:
            raise CallControlError(CallControlError.NOT_CONNECTED,
                                   "only a party of an answered call can be parked")
        lock = self._locks.setdefault(domain, asyncio.Lock())
        async with lock:
            if hunt.done:  # ended (or parked by another request) while this one waited
                raise CallControlError(CallControlError.NO_CALL, f"call {call_id} has ended")
            if len(self.engine.parking.in_lot(domain)) >= self.positions.capacity:
                raise CallControlError(CallControlError.LOT_FULL,
                                       f"the parking lot is full ({self.positions})")
            kept = _kept(hunt, call, party, parker, self.engine.app)
            parked = await self._send_to_lot(hunt, party.channel_id, domain, parker, timeout,
                                             kept)
        hunt.parking = True
        await hunt.end(f"{party.number} parked at {parked.slot} by {parker.label}")
        return parked

    async def _send_to_lot(self, hunt: Hunt, channel_id: str, domain: str, parker: Target,
                           timeout: int, kept: Kept) -> ParkedCall:
        variables = {"RB_LOT": lot_name(domain), "RB_POSITIONS": str(self.positions),
                     "RB_PARK_TIMEOUT": str(timeout), PARKER_DIAL_VAR: parker.dial,
                     OWN_SLOT: "", **kept.variables()}
        ari = self.engine.ari
        for name, value in variables.items():
            await ari.post(f"/channels/{channel_id}/variable", {"variable": name, "value": value})
        confirmed = self.engine.parking.expect(channel_id, kept)
        leg = hunt.legs.get(channel_id)
        hunt.release(channel_id)
        try:
            await self._to_lot(channel_id)
            return await asyncio.wait_for(confirmed, CONFIRM_TIMEOUT)
        except ParkFailed as exc:
            await self._put_back(hunt, channel_id, leg)
            raise CallControlError(CallControlError.LOT_FULL, str(exc)) from exc
        finally:
            self.engine.parking.forget(channel_id)

    async def _put_back(self, hunt: Hunt, channel_id: str, leg: Leg | None) -> None:
        """Park() refused the channel and gave it back: into its call again."""
        hunt.channels.add(channel_id)
        if leg is not None:
            hunt.legs[channel_id] = leg
        await self.engine.ari.post(f"/bridges/{hunt.bridge_id}/addChannel",
                                   {"channel": channel_id})
        hunt.publish(ParkingFailed(call_id=hunt.call_id, channel_id=channel_id))

    # Taking calls back.

    async def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        """Ring `target` for the parked call; on answer it gets the parked party, else the
        call goes back to its slot for the time it had left. Returns the call's id, once
        the call is out of the lot and ringing (or after a few seconds at most)."""
        parked = self._parked(domain, call_id)
        parking = self.engine.parking
        deadline = parking.clock() + parking.time_left(parked.channel_id)
        plan = HuntPlan(label=f"parked call {parked.slot} to {target.label}",
                        waves=((target,),), ring_time=wait, domain=domain,
                        no_answer=partial(self._back_to_slot, parked.slot, deadline))
        started: asyncio.Future[Hunt] = asyncio.get_running_loop().create_future()
        self._retrievals[parked.channel_id] = Retrieval(parked, plan, started)
        try:
            await self._redirect(parked)
        except AmiError:  # it left the lot meanwhile (hung up, timed out)
            self._retrievals.pop(parked.channel_id, None)
            raise
        try:
            hunt = await asyncio.wait_for(started, TAKEN_OUT_TIMEOUT)
        except TimeoutError:
            log.warning("call %s: not out of the lot %.0f s after the request to take it "
                        "back", call_id, TAKEN_OUT_TIMEOUT)
            return _id_of(parked)
        return hunt.call_id

    async def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        """A parked call as `unpark`; a ringing one stops ringing its targets and rings
        `target` instead."""
        if any(_id_of(c) == call_id for c in self.engine.parking.in_lot(domain)):
            return await self.unpark(domain, call_id, target, wait)
        hunt = self._hunt(domain, call_id)
        if not await hunt.pick_up(target, wait):
            if hunt.done:
                raise CallControlError(CallControlError.NO_CALL, f"call {call_id} has ended")
            raise CallControlError(CallControlError.ANSWERED,
                                   "the call is answered already; only a ringing or parked "
                                   "call can be picked up")
        return call_id

    async def retrieve(self, channel: dict[str, Any], parked: ParkedCall,
                       early: list[Event]) -> None:
        """A phone of the tenant dialled the slot: connect it to the parked call, which
        goes on under its own id with the phone as a new party."""
        plan = HuntPlan(label=f"parked call {parked.slot}", waves=(), ring_time=0,
                        domain=parked_domain(parked))
        hunt = self.engine.new_hunt(parked.call_id or new_call_id(), channel["id"], plan)
        hunt.resume(parked)
        hunt.caller_view = hunt.next_view()
        hunt.origin = Origin(number=channel.get("caller", {}).get("number", ""),
                             name=channel.get("caller", {}).get("name", ""),
                             dialled=parked.slot)
        hunt.publish(ParkedCallTakenBack(call_id=hunt.call_id, caller=hunt.origin.number,
                                         dialled=parked.slot))
        for event in early:
            await self.engine.deliver(hunt, event)
        if hunt.done:
            return
        hunt.take_over(parked.channel_id, parked.number, parked.view or hunt.next_view(),
                       parked_outside(parked))
        try:
            await self._redirect(parked)
        except AmiError as exc:
            await hunt.end(f"the parked call could not be taken back: {exc.message}")

    async def start(self, channel: dict[str, Any], args: list[str]) -> Hunt | None:
        """A channel the dialplan handed back: a timed-out park or a call taken back."""
        if args[0] == PARKING_TIMEOUT:
            return await self._ring_back(channel, [*args[1:], "", "", "", ""][:4])
        retrieval = self._retrievals.pop(channel["id"], None)
        if retrieval is None:  # e.g. ringbridge restarted meanwhile: back to the lot
            await self._to_lot(channel["id"])
            return None
        parked = retrieval.parked
        hunt = self.engine.new_hunt(parked.call_id or new_call_id(), channel["id"], retrieval.plan)
        self._resume(hunt, parked, channel)
        if not retrieval.started.done():
            retrieval.started.set_result(hunt)
        return hunt

    async def _ring_back(self, channel: dict[str, Any], args: list[str]) -> Hunt:
        lot, parker, dial, call_id = args
        target = Target(key=0, dial=dial, label=parker)
        plan = HuntPlan(label=f"ring back {parker} (parking time out)", waves=((target,),),
                        ring_time=self.engine.settings.dial_timeout,
                        domain=lot.removeprefix("rb-"))
        parked = self.engine.parking.by_channel(channel["id"])
        hunt = self.engine.new_hunt(call_id or new_call_id(), channel["id"], plan)
        self._resume(hunt, parked, channel)
        if parked is None:
            await self._resume_kept(hunt, channel)
        hunt.publish(ParkedCallRingingBack(call_id=hunt.call_id, caller=hunt.origin.number,
                                           dialled=parker))
        return hunt

    async def _resume_kept(self, hunt: Hunt, channel: dict[str, Any]) -> None:
        """A ring back the lots no longer list (ringbridge restarted as it rang): its
        views from what the channel keeps (Kept). Asterisk refuses a leg named as a
        channel it still has: the parked party is often one of the call's legs, and the
        ring back's leg hung up by the takeover may not be gone yet. Once gone, its end
        may still be on its way to the engine: a new leg of that name would take it for
        its own, so no leg the takeover hung up is named again."""
        kept = await self.engine.parking.kept_on(str(channel.get("name", "")))
        own = channel["id"].removeprefix(f"rb-{hunt.call_id}-")
        hunt.caller_view = kept.view or hunt.caller_view
        views = max(int(kept.views) if kept.views.isdigit() else 0,
                    int(own) if own.isdigit() else 0)
        while f"rb-{hunt.call_id}-{views + 1}" in self.engine.legs_hung_up \
                or await self._exists(f"rb-{hunt.call_id}-{views + 1}"):
            views += 1
        hunt.number_views_from(views)

    async def _exists(self, channel_id: str) -> bool:
        try:
            await self.engine.ari.get(f"/channels/{channel_id}")
        except AriError:
            return False
        return True

    @staticmethod
    def _resume(hunt: Hunt, parked: ParkedCall | None, channel: dict[str, Any]) -> None:
        """The parked party is the caller of `hunt`: the call goes on as it was."""
        hunt.origin = _origin(channel)
        if parked is not None:
            hunt.resume(parked)
            hunt.caller_view = parked.view or hunt.caller_view

    async def _back_to_slot(self, slot: str, deadline: float, hunt: Hunt) -> None:
        """UnPark not answered: the parked party goes back to its own slot (another when
        that is taken meanwhile) until the time it was parked for runs out (the ring back
        comes at once when it ran out meanwhile)."""
        seconds = max(1, round(deadline - self.engine.parking.clock()))
        caller = hunt.caller_id
        hunt.release(caller)
        for name, value in ((OWN_SLOT, slot), ("RB_PARK_TIMEOUT", str(seconds)),
                            ("RB_VIEWS", str(hunt.views))):
            await self.engine.ari.post(f"/channels/{caller}/variable",
                                       {"variable": name, "value": value})
        await self._to_lot(caller)
        hunt.parking = True
        await hunt.end(f"nobody answered {hunt.plan.label}; back to slot {slot} for "
                       f"{seconds} s")

    async def _to_lot(self, channel_id: str) -> None:
        await self.engine.ari.post(f"/channels/{channel_id}/continue",
                                   {"context": PARK_CONTEXT, "extension": "park", "priority": 1})

    async def _redirect(self, parked: ParkedCall) -> None:
        self.engine.parking.taking_out(parked.channel_id)
        try:
            await self.engine.ami.action({"Action": "Setvar", "Channel": parked.channel,
                                          "Variable": APP_VARIABLE,
                                          "Value": self.engine.app})
            await self.engine.ami.action({"Action": "Redirect", "Channel": parked.channel,
                                          "Context": "rb-unpark", "Exten": "s",
                                          "Priority": "1"})
        except AmiError:
            self.engine.parking.taking_out(parked.channel_id, taking=False)
            raise

    # Hanging up.

    async def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        """Hang up the whole call, or one party; returns the views hung up."""
        call = self._call(domain, call_id)
        parties = [p for p in call.parties if view is None or p.view == view]
        if not parties:
            raise CallControlError(CallControlError.NO_VIEW, f"call {call_id} has no view {view}")
        flow = self._find_hunt(domain, call_id) or self._find_adopted(call_id)
        if flow is not None and view is None:
            await flow.end("hung up through the API")
        else:
            for party in parties:
                await self._hang_up_party(party)
        return [p.view for p in parties]

    async def _hang_up_party(self, party: Party) -> None:
        """A party's hangup ends the call its flow runs, which hangs up the others: one
        gone by the time its turn comes is what was asked for."""
        try:
            await self.engine.ari.delete(f"/channels/{party.channel_id}")
        except AriError as exc:
            if exc.status != 404:
                raise

    # Lookups.

    def _call(self, domain: str, call_id: str) -> LiveCall:
        call = next((c for c in self.live_calls(domain) if c.call_id == call_id), None)
        if call is None:
            raise CallControlError(CallControlError.NO_CALL, f"no live call {call_id}")
        return call

    def _party(self, domain: str, call_id: str, view: str) -> Party:
        party = self._call(domain, call_id).party(view)
        if party is None:
            raise CallControlError(CallControlError.NO_VIEW, f"call {call_id} has no view {view}")
        return party

    def _find_hunt(self, domain: str, call_id: str) -> Hunt | None:
        return next((f for f in self.engine.flows if isinstance(f, Hunt) and not f.done
                     and f.call_id == call_id and f.plan.domain == domain), None)

    def _find_adopted(self, call_id: str) -> AdoptedCall | None:
        """An adopted call (the caller has checked it is the tenant's)."""
        return next((f for f in self.engine.flows if isinstance(f, AdoptedCall)
                     and not f.done and f.call_id == call_id), None)

    def _hunt(self, domain: str, call_id: str) -> Hunt:
        hunt = self._find_hunt(domain, call_id)
        if hunt is None:
            self._refuse_if_parked(domain, call_id)
            self._call(domain, call_id)  # no such call at all: NO_CALL
            raise CallControlError(CallControlError.ADOPTED,
                                   f"call {call_id} was taken over after a restart of "
                                   "ringbridge: it can be hung up, not parked or picked up")
        return hunt

    def _refuse_if_parked(self, domain: str, call_id: str) -> None:
        if any(_id_of(c) == call_id for c in self.engine.parking.in_lot(domain)):
            raise CallControlError(CallControlError.NOT_CONNECTED, f"call {call_id} is parked")

    def _parked(self, domain: str, call_id: str) -> ParkedCall:
        parked = next((c for c in self.engine.parking.in_lot(domain)
                       if _id_of(c) == call_id), None)
        if parked is None:
            self._call(domain, call_id)  # no such call at all: NO_CALL
            raise CallControlError(CallControlError.NOT_CONNECTED,
                                   f"call {call_id} is not parked")
        return parked


def _direction(hunt: Hunt) -> str:
    if hunt.before is not None:
        return hunt.before.direction
    if hunt.origin.inbound:
        return "in"
    return "out" if any(leg.external for leg in hunt.legs.values()) else ""


def _kept(hunt: Hunt, call: LiveCall, party: Party, parker: Target, app: str) -> Kept:
    """What the parked channel keeps of its call (see Kept); `app`: the parking
    engine's."""
    return Kept(call_id=hunt.call_id, parker=parker.label, direction=_direction(hunt),
                started=posix(call.published), answered=posix(call.answered),
                view=party.view, views=str(hunt.views), source=call.source,
                dialled=call.dialled, charged=call.charged, app=app)


def _id_of(parked: ParkedCall) -> str:
    return parked.call_id or parked.channel_id


def _origin(channel: dict[str, Any]) -> Origin:
    caller = channel.get("caller", {})
    return Origin(number=caller.get("number", ""), name=caller.get("name", ""))
