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
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta

from bridge.asterisk.ami import AmiClient, AmiError, AmiEvent
from bridge.engine.trunks import is_trunk
from bridge.flows.call_log import CallLog
from bridge.flows.events import ParkedCallerLeft
from bridge.gateway import ParkedCall

log = logging.getLogger(__name__)
# The AMI events that put a call in a lot, and those that take one out.
PARKED_EVENTS = ("ParkedCall", "ParkedCallSwap")
GONE_EVENTS = ("ParkedCallTimeOut", "ParkedCallGiveUp", "UnParkedCall")

LOT_PREFIX = "rb-"
CONFIRM_TIMEOUT = 5.0
PARKER_DIAL_VAR = "RB_PARKER_DIAL"
# The app of the engine that parked a call, or is taking it out of its lot: the dialplan
# hands the call back to that engine (park-failed, parking-timeout, unparked).
APP_VARIABLE = "RB_APP"
REMEMBERED_DEPARTURES = 1_000


# The channel variable naming the call a channel belongs to: set on every caller when
# its call starts (bridge/engine/engine.py) and on a parked channel.
CALL_VARIABLE = "RB_CALL"

# Stasis arguments of channels the dialplan hands back to the bridge.
PARKING_TIMEOUT, UNPARKED, PARK_FAILED = "parking-timeout", "unparked", "park-failed"
PARK_CONTEXT = "rb-park"  # where a channel goes to be parked (extensions.conf)


@dataclass(frozen=True)
class Kept:
    """What ringbridge keeps on a parked channel, in channel variables (so it survives
    restarts of ringbridge): enough for the call to keep its identity (its id, views,
    times, caller and charged extension) in the lot and after it is taken back."""

    call_id: str = ""  # RB_CALL: the id of the call it was parked from
    parker: str = ""  # RB_PARKER: the extension that parked it
    direction: str = ""  # RB_DIRECTION: "in" from the carrier, "out" to it, "" local
    started: str = ""  # RB_STARTED: when that call entered the system (POSIX seconds)
    answered: str = ""  # RB_ANSWERED: when it was first answered (POSIX seconds)
    view: str = ""  # RB_VIEW: the parked party's view ("00" the caller, "01"...)
    views: str = ""  # RB_VIEWS: the last view number the call gave
    source: str = ""  # RB_SOURCE: the call's caller
    dialled: str = ""  # RB_DIALLED: the number the caller dialled
    charged: str = ""  # RB_CHARGED: the extension charged
    app: str = ""  # RB_APP: the engine that parked it (APP_VARIABLE)

    VARIABLES = (CALL_VARIABLE, "RB_PARKER", "RB_DIRECTION", "RB_STARTED", "RB_ANSWERED",
                 "RB_VIEW", "RB_VIEWS", "RB_SOURCE", "RB_DIALLED", "RB_CHARGED", APP_VARIABLE)

    def variables(self) -> dict[str, str]:
        return dict(zip(self.VARIABLES, astuple(self), strict=True))

    def started_at(self) -> datetime | None:
        return _moment(self.started)

    def answered_at(self) -> datetime | None:
        return _moment(self.answered)


def posix(moment: datetime | None) -> str:
    """A moment as Kept holds it ("" for none)."""
    return f"{moment.timestamp():.6f}" if moment is not None else ""


def _moment(seconds: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(seconds), UTC)
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
    """The parked calls of every tenant lot, kept from AMI events. A parked caller that
    hangs up ends its call (and closes its record): while it is parked, its call is in
    the lot and nowhere else."""

    def __init__(self, ami: AmiClient, call_log: CallLog,
                 clock: Callable[[], float] = time.monotonic, app: str = "") -> None:
        """`clock` times the parked calls; monotonic, so that a step of the wall clock (an
        NTP correction) does not change a parked call's time. `app`: this engine's
        application (every engine hears the lots' events; the parking one records)."""
        self.ami = ami
        self.call_log = call_log
        self.clock = clock
        self.app = app
        self._calls: dict[str, ParkedCall] = {}
        self._parked_by: dict[str, str] = {}  # each parked call's engine, by channel id
        # When Asterisk rings each parker back, by channel id, on `clock`.
        self._rings_back: dict[str, float] = {}
        # Calls that left the lot lately (timed out, taken back), by channel id: the call
        # that continues on that channel is theirs.
        self._left: OrderedDict[str, ParkedCall] = OrderedDict()
        # Channels ringbridge is taking out of the lot: Asterisk reports a redirect out
        # of the lot as ParkedCallGiveUp, as it does a hangup.
        self._taking_out: set[str] = set()
        self._waiting: dict[str, asyncio.Future[ParkedCall]] = {}
        self._ours: dict[str, Kept] = {}  # by channel id, for the parks under way
        for parked in PARKED_EVENTS:
            ami.on(parked, self._parked)
        for gone in GONE_EVENTS:
            ami.on(gone, self._gone)

    def in_lot(self, domain: str) -> list[ParkedCall]:
        lot = lot_name(domain)
        return [call for call in self._calls.values() if call.lot == lot]

    def at(self, domain: str, slot: str) -> ParkedCall | None:
        return next((call for call in self.in_lot(domain) if call.slot == slot), None)

    def by_channel(self, channel_id: str) -> ParkedCall | None:
        """The call parked on that channel, or that left the lot from it lately."""
        return self._calls.get(channel_id) or self._left.get(channel_id)

    def all(self) -> list[ParkedCall]:
        return list(self._calls.values())

    def time_left(self, channel_id: str) -> float:
        """Seconds until Asterisk rings the parker back."""
        return max(0.0, self._rings_back.get(channel_id, 0.0) - self.clock())

    def expect(self, channel_id: str, ours: Kept) -> asyncio.Future[ParkedCall]:
        """A future for the ParkedCall event of a channel ringbridge is about to park."""
        self._ours[channel_id] = ours
        future = asyncio.get_running_loop().create_future()
        self._waiting[channel_id] = future
        return future

    def failed(self, channel_id: str) -> bool:
        """Park() gave the channel back (the dialplan re-enters Stasis with park-failed);
        False when no park under way waits for it (a call going back to the lot)."""
        self._ours.pop(channel_id, None)
        future = self._waiting.pop(channel_id, None)
        if future is None or future.done():
            return False
        future.set_exception(ParkFailed("the parking lot is full"))
        return True

    def forget(self, channel_id: str) -> None:
        self._waiting.pop(channel_id, None)
        self._ours.pop(channel_id, None)

    def taking_out(self, channel_id: str, taking: bool = True) -> None:
        """ringbridge is about to take the channel out of the lot (or, with `taking`
        False, could not after all)."""
        if taking:
            self._taking_out.add(channel_id)
        else:
            self._taking_out.discard(channel_id)

    async def reload(self) -> None:
        """After every AMI connect: the lots' contents as Asterisk has them now."""
        reply = await self.ami.action({"Action": "ParkedCalls"})
        now = self.clock()  # the events' ParkingTimeout: seconds left at this moment
        events = [e for e in (reply if isinstance(reply, list) else [])
                  if e.get("Event") == "ParkedCall" and e.get("Parkinglot", "").startswith(
                      LOT_PREFIX)]
        calls, rings_back, parked_by = {}, {}, {}
        for event in events:
            kept = await self.kept_on(event["ParkeeChannel"])
            call = self._from_event(event, kept)
            calls[call.channel_id] = call
            rings_back[call.channel_id] = _ring_back(event, now)
            parked_by[call.channel_id] = kept.app
        self._calls, self._rings_back, self._parked_by = calls, rings_back, parked_by
        log.info("AMI connected: %d parked call(s) in ringbridge's lots", len(calls))

    async def kept_on(self, channel: str) -> Kept:
        """What ringbridge keeps on `channel` (its AMI name), read over AMI."""
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
        arrived = self.clock()  # ParkingTimeout: seconds left now, not after Getvar
        channel_id = event.get("ParkeeUniqueid", "")
        ours = self._ours.pop(channel_id, None)
        variables = ours or await self.kept_on(event.get("ParkeeChannel", ""))
        call = self._from_event(event, variables)
        for other in [c for c in self._calls.values() if (c.lot, c.slot) == (lot, call.slot)]:
            del self._calls[other.channel_id]  # ParkedCallSwap: a new channel in the slot
            self._rings_back.pop(other.channel_id, None)
            self._parked_by.pop(other.channel_id, None)
        self._calls[channel_id] = call
        self._parked_by[channel_id] = variables.app
        self._rings_back[channel_id] = _ring_back(event, arrived)
        log.info("call %s: %s parked at %s in %s (by %s, %d s)", call.call_id, call.number,
                 call.slot, lot, call.parker, call.timeout)
        future = self._waiting.pop(channel_id, None)
        if future is not None and not future.done():
            future.set_result(call)

    async def _gone(self, event: AmiEvent) -> None:
        call = self._calls.pop(event.get("ParkeeUniqueid", ""), None)
        if call is None:
            return
        self._rings_back.pop(call.channel_id, None)
        parked_by = self._parked_by.pop(call.channel_id, "")
        log.info("call %s: %s left slot %s of %s (%s)", call.call_id, call.number,
                 call.slot, call.lot, event.get("Event"))
        taken_out = call.channel_id in self._taking_out
        self._taking_out.discard(call.channel_id)
        if event.get("Event") == "ParkedCallGiveUp" and not taken_out:
            if call.call_id and await self._hung_up_here(call, parked_by):
                self.call_log.publish(ParkedCallerLeft(
                    call_id=call.call_id, why=f"{call.number} hung up while parked at "
                    f"{call.slot}", received=call.published, answered_at=call.answered))
            return
        self._left[call.channel_id] = call
        while len(self._left) > REMEMBERED_DEPARTURES:
            self._left.popitem(last=False)

    async def _hung_up_here(self, call: ParkedCall, parked_by: str) -> bool:
        """Whether this engine records a parked caller's leaving the lot as its hangup:
        the engine that parked it does (every engine hears the event), unless another
        engine took it out (Asterisk tells a redirect out of the lot as a give-up too;
        that engine set RB_APP to its own app first). A call parked without RB_APP (by
        an older ringbridge) is recorded as before."""
        if parked_by and parked_by != self.app:
            return False
        try:
            reply = await self.ami.action({"Action": "Getvar", "Channel": call.channel,
                                           "Variable": APP_VARIABLE})
        except AmiError:  # gone: it hung up
            return True
        now = str(reply.get("Value", "")) if isinstance(reply, dict) else ""
        return now in ("", parked_by)

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
            published=kept.started_at(), answered=kept.answered_at(), view=kept.view,
            views=int(kept.views) if kept.views.isdigit() else 0, source=kept.source,
            dialled=kept.dialled, charged=kept.charged,
        )


def _ring_back(event: AmiEvent, at: float) -> float:
    """When a ParkedCall event's parker is rung back: ParkingTimeout is the time left at
    `at`, when the event came."""
    return at + int(event.get("ParkingTimeout", "0") or 0)
