"""Parked calls: res_parking's lots as Asterisk reports them over AMI (never polled).

Each tenant has its own lot, `rb-<sip domain>`, made on demand by res_parking from the
`default` template (asterisk-conf/extensions.conf [rb-park]); so tenants never share a
slot and one tenant cannot fill another's lot. The state here is kept from the AMI
events ParkedCall, ParkedCallTimeOut, ParkedCallGiveUp, UnParkedCall and
ParkedCallSwap, and re-read with the `ParkedCalls` action on every AMI (re)connect,
so a restart of ringbridge finds the calls parked before it.

What ringbridge adds to a parked call (its call id, the extension that parked it) is
kept in channel variables on the parked channel, so that survives restarts too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.asterisk.ami import AmiClient, AmiError, AmiEvent
from bridge.engine.trunks import is_trunk
from bridge.gateway import ParkedCall

log = logging.getLogger(__name__)

LOT_PREFIX = "rb-"
CONFIRM_TIMEOUT = 5.0
PARKER_DIAL_VAR = "RB_PARKER_DIAL"


# The channel variable naming the call a channel belongs to: set on every caller when
# its call starts (bridge/engine/engine.py) and on a parked channel.
CALL_VARIABLE = "RB_CALL"

# Stasis arguments of channels the dialplan hands back to the bridge.
PARKING_TIMEOUT, UNPARKED, PARK_FAILED = "parking-timeout", "unparked", "park-failed"


@dataclass(frozen=True)
class Kept:
    """What ringbridge keeps on a parked channel, in channel variables (so it survives
    restarts of ringbridge)."""

    call_id: str = ""  # RB_CALL: the id of the call it was parked from
    parker: str = ""  # RB_PARKER: the extension that parked it
    direction: str = ""  # RB_DIRECTION: "in" from the carrier, "out" to it, "" local
    started: str = ""  # RB_STARTED: when that call entered the system (POSIX seconds)

    VARIABLES = (CALL_VARIABLE, "RB_PARKER", "RB_DIRECTION", "RB_STARTED")

    def variables(self) -> dict[str, str]:
        values = (self.call_id, self.parker, self.direction, self.started)
        return dict(zip(self.VARIABLES, values, strict=True))

    def started_at(self) -> datetime | None:
        try:
            return datetime.fromtimestamp(float(self.started), UTC)
        except ValueError:
            return None


def lot_name(domain: str) -> str:
    return f"{LOT_PREFIX}{domain}"


def parked_domain(parked: ParkedCall) -> str:
    return parked.lot.removeprefix(LOT_PREFIX)


def parked_outside(parked: ParkedCall) -> bool:
    """The parked party is outside, on a carrier trunk (`PJSIP/carrier-0000002a`)."""
    return is_trunk(parked.channel.split("/", 1)[-1].rsplit("-", 1)[0])


class ParkFailed(Exception):
    """Asterisk did not park the channel (its lot was full, or it hung up meanwhile)."""


class ParkingLots:
    """The parked calls of every tenant lot, kept from AMI events."""

    def __init__(self, ami: AmiClient) -> None:
        self.ami = ami
        self._calls: dict[str, ParkedCall] = {}
        self._waiting: dict[str, asyncio.Future[ParkedCall]] = {}
        self._ours: dict[str, Kept] = {}  # by channel id, for the parks under way
        ami.on("ParkedCall", self._parked)
        ami.on("ParkedCallSwap", self._parked)
        for gone in ("ParkedCallTimeOut", "ParkedCallGiveUp", "UnParkedCall"):
            ami.on(gone, self._gone)

    def in_lot(self, domain: str) -> list[ParkedCall]:
        lot = lot_name(domain)
        return [call for call in self._calls.values() if call.lot == lot]

    def at(self, domain: str, slot: str) -> ParkedCall | None:
        return next((call for call in self.in_lot(domain) if call.slot == slot), None)

    def by_channel(self, channel_id: str) -> ParkedCall | None:
        return self._calls.get(channel_id)

    def expect(self, channel_id: str, ours: Kept) -> asyncio.Future[ParkedCall]:
        """A future for the ParkedCall event of a channel ringbridge is about to park."""
        self._ours[channel_id] = ours
        future = asyncio.get_running_loop().create_future()
        self._waiting[channel_id] = future
        return future

    def failed(self, channel_id: str) -> None:
        """Park() gave the channel back (the dialplan re-enters Stasis with park-failed)."""
        self._ours.pop(channel_id, None)
        future = self._waiting.pop(channel_id, None)
        if future is not None and not future.done():
            future.set_exception(ParkFailed("the parking lot is full"))

    def forget(self, channel_id: str) -> None:
        self._waiting.pop(channel_id, None)
        self._ours.pop(channel_id, None)

    async def reload(self) -> None:
        """After every AMI connect: the lots' contents as Asterisk has them now."""
        reply = await self.ami.action({"Action": "ParkedCalls"})
        events = [e for e in (reply if isinstance(reply, list) else [])
                  if e.get("Event") == "ParkedCall" and e.get("Parkinglot", "").startswith(
                      LOT_PREFIX)]
        calls = {}
        for event in events:
            call = self._from_event(event, await self._variables(event["ParkeeChannel"]))
            calls[call.channel_id] = call
        self._calls = calls
        log.info("AMI connected: %d parked call(s) in ringbridge's lots", len(calls))

    async def _variables(self, channel: str) -> Kept:
        values = []
        for name in Kept.VARIABLES:
            try:
                reply = await self.ami.action({"Action": "Getvar", "Channel": channel,
                                               "Variable": name})
            except AmiError:  # hung up meanwhile: its ParkedCallGiveUp will follow
                reply = {}
            values.append(str(reply.get("Value", "")) if isinstance(reply, dict) else "")
        return Kept(*values)

    async def _parked(self, event: AmiEvent) -> None:
        lot = event.get("Parkinglot", "")
        if not lot.startswith(LOT_PREFIX):
            return
        channel_id = event.get("ParkeeUniqueid", "")
        ours = self._ours.pop(channel_id, None)
        variables = ours or await self._variables(event.get("ParkeeChannel", ""))
        call = self._from_event(event, variables)
        for other in [c for c in self._calls.values() if (c.lot, c.slot) == (lot, call.slot)]:
            del self._calls[other.channel_id]  # ParkedCallSwap: a new channel in the slot
        self._calls[channel_id] = call
        log.info("call %s: %s parked at %s in %s (by %s, %d s)", call.call_id, call.number,
                 call.slot, lot, call.parker, call.timeout)
        future = self._waiting.pop(channel_id, None)
        if future is not None and not future.done():
            future.set_result(call)

    def _gone(self, event: AmiEvent) -> None:
        call = self._calls.pop(event.get("ParkeeUniqueid", ""), None)
        if call is not None:
            log.info("call %s: %s left slot %s of %s (%s)", call.call_id, call.number,
                     call.slot, call.lot, event.get("Event"))

    @staticmethod
    def _from_event(event: AmiEvent, kept: Kept) -> ParkedCall:
        duration = int(event.get("ParkingDuration", "0") or 0)
        return ParkedCall(
            channel_id=event.get("ParkeeUniqueid", ""), channel=event.get("ParkeeChannel", ""),
            lot=event.get("Parkinglot", ""), slot=event.get("ParkingSpace", ""),
            number=event.get("ParkeeCallerIDNum", ""),
            name=event.get("ParkeeCallerIDName", ""),
            parked_at=datetime.now(UTC) - timedelta(seconds=duration),
            timeout=duration + int(event.get("ParkingTimeout", "0") or 0),
            call_id=kept.call_id, parker=kept.parker, direction=kept.direction,
            published=kept.started_at(),
        )
