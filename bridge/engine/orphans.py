"""Channels of calls that no flow runs any more.

When ringbridge restarts (or its events connection drops and an event is lost), calls
that were being set up stay in Asterisk with nobody running them: a caller in our Stasis
app hearing ringback, and the phones ringbridge was ringing for it. Bridged calls are
adopted elsewhere (bridge/engine/engine.py); this module tells the rest apart so the
engine can take them up again: a caller is handed to a new flow, a leg is hung up.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bridge.asterisk.ari import AriClient
from bridge.engine.parking import PARKING_TIMEOUT, UNPARKED
from bridge.flows.calls import HUNT_LEG, RINGOUT_LEG


@dataclass(frozen=True)
class InApp:
    """What ARI lists in an engine's application: its channels and bridges (the other
    engines sharing the Asterisk own the rest)."""

    channels: frozenset[str]
    bridges: frozenset[str]


async def in_app(ari: AriClient, app: str) -> InApp:
    listed = await ari.get(f"/applications/{quote(app, safe='')}")
    return InApp(frozenset(listed.get("channel_ids", [])),
                 frozenset(listed.get("bridge_ids", [])))


@dataclass(frozen=True)
class Orphan:
    """A channel no flow owns. `args` are a caller's Stasis arguments (`dial 6000`,
    `parking-timeout …`); a leg has none, and `leg_of` names its call."""

    channel: dict[str, Any]
    args: tuple[str, ...] | None
    leg_of: str = ""
    leg_kind: str = ""  # HUNT_LEG or RINGOUT_LEG

    @property
    def id(self) -> str:
        return str(self.channel["id"])

    @property
    def state(self) -> str:
        return str(self.channel.get("state", ""))

    @property
    def purpose(self) -> str:
        """Why a caller is in Stasis, its first argument ("" for a leg)."""
        return (self.args or ("",))[0]

    @property
    def starts_again(self) -> bool:
        """A caller that can start again: a phone's or the carrier's not answered yet
        (as a new call), or a parked call (`keeps_its_call`). Not one already answered
        by ringbridge (voicemail), nor a failed park."""
        return self.takes_a_leg or self.keeps_its_call

    @property
    def keeps_its_call(self) -> bool:
        """A parked call ringing back its parker or taken out of its lot: started again,
        it goes on under its own call id (bridge/engine/call_control.py)."""
        return self.purpose in (PARKING_TIMEOUT, UNPARKED)

    @property
    def takes_a_leg(self) -> bool:
        """A caller that a phone answering for it can still be connected to."""
        return self.purpose in ("dial", "inbound") and self.state != "Up"


def left_ringing(legs: list[Orphan], callers: Collection[str],
                 running: Collection[str]) -> dict[str, list[Orphan]]:
    """The legs of each call that has no caller any more (it hung up while no flow ran
    the call): calls neither among `callers` (those of the callers found) nor `running`
    (a flow of this process runs it)."""
    gone: dict[str, list[Orphan]] = {}
    for leg in legs:
        if leg.leg_of and leg.leg_of not in callers and leg.leg_of not in running:
            gone.setdefault(leg.leg_of, []).append(leg)
    return gone


def answered_ringouts(legs: list[Orphan]) -> dict[str, tuple[Orphan, Orphan]]:
    """RingOuts whose two legs had both answered when no flow ran them any more (the
    callee answered as ringbridge went down, or while it was down), each with its
    caller's leg first: they are to be connected, as the flow would have."""
    by_call: dict[str, list[Orphan]] = {}
    for leg in legs:
        if leg.leg_kind == RINGOUT_LEG and leg.leg_of:
            by_call.setdefault(leg.leg_of, []).append(leg)
    answered = {}
    for call_id, its in by_call.items():
        if len(its) == 2 and all(leg.state == "Up" for leg in its):
            caller, callee = sorted(its, key=lambda leg: leg.id)  # rb-<call>-1 first
            answered[call_id] = (caller, callee)
    return answered


def find_orphans(channels: list[dict[str, Any]], owned: Collection[str],
                 ours: Collection[str]) -> list[Orphan]:
    """The channels in our app's Stasis (`ours`: the ids ARI lists for the engine's
    application; the other engines' channels are theirs) that no flow owns: callers
    (the dialplan gave them their arguments: `dial 6000`) and the legs ringbridge made
    (their arguments name their call: `leg,<call id>`). A channel elsewhere, a parked
    one included, is left alone."""
    found = []
    for channel in channels:
        args = stasis_args(channel)
        if channel["id"] in owned or channel["id"] not in ours or not args:
            continue
        if args[0] in (HUNT_LEG, RINGOUT_LEG):
            found.append(Orphan(channel, None, args[1] if len(args) > 1 else "", args[0]))
        else:
            found.append(Orphan(channel, args))
    return found


def stasis_args(channel: dict[str, Any]) -> tuple[str, ...] | None:
    """The Stasis arguments in the channel's dialplan: `Stasis(<app>,dial,6000)` and
    `StasisBroadcast(<ms>,<apps>,dial:6000)` → ("dial", "6000"); None when the channel
    is in neither (a parked call, a fallback Dial)."""
    dialplan = channel.get("dialplan") or {}
    application = str(dialplan.get("app_name", "")).lower()
    data = str(dialplan.get("app_data", ""))
    if application == "stasis":
        return tuple(data.split(",")[1:])
    if application == "stasisbroadcast":
        offered = data.split(",", 2)[2:]
        return tuple(offered[0].split(":")) if offered and offered[0] else ()
    return None
