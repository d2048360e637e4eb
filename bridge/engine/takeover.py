"""What a (re)connected engine finds in Asterisk that no flow of it runs, and what
becomes of each: every call ends up run, or ended with its record closed and its
dispatcher told, and the log says which. Only what is in the engine's own ARI
application is looked at (ARI lists its channels and bridges): the other engines'
calls are theirs.

- A bridge of ours (`rb-<call id>`) with two parties or more: the call is adopted.
- A bridge left with one party (the other hung up while ringbridge was down): that
  party is hung up, and the call closed at the time the other left (dialplan [rb-left]
  noted it on the party left); an empty bridge is destroyed.
- A caller whose phone was answered while ringbridge was down: connected to it; so are
  the two legs of a RingOut whose callee answered then.
- Any other caller in our app: started again as a new call, or hung up when it cannot
  be (bridge/engine/orphans.py); the old call is closed either way.
- The legs of calls being set up: hung up; a call whose caller left meanwhile is closed,
  at the time the caller left (dialplan [rb-left] noted it on each phone it rang).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.asterisk.ari import AriClient, AriError
from bridge.engine.live_calls import channel_created, channel_resource
from bridge.engine.orphans import (
    Orphan,
    answered_ringouts,
    find_orphans,
    in_app,
    left_ringing,
)
from bridge.engine.parking import APP_VARIABLE, CALL_VARIABLE, PARK_CONTEXT, PARKING_TIMEOUT
from bridge.flows.call_log import CallLog
from bridge.flows.calls import (
    HUNT_LEG,
    NORMAL_CLEARING,
    PEER_LEFT,
    RINGOUT_LEG,
    AdoptedCall,
    CallFlow,
    Event,
    Flows,
    note_departures,
    quietly,
)
from bridge.flows.earlier_calls import Closer
from bridge.flows.events import AnsweredWhileDown, RingOutConnected
from bridge.flows.hunt_recordings import call_recording, record_call, recorded
from bridge.gateway import CallState, LegState

log = logging.getLogger(__name__)
EMPTY_BRIDGE_AGE = 10.0  # seconds


class EngineForTakeover(Flows, Protocol):
    """The engine as the takeover sees it: the flows' side of it (an adopted call is one
    of its flows), its ARI and call log, the channels it knows, and its way in for a
    caller that starts again."""

    ari: AriClient
    app: str  # this engine's ARI application: what it takes over is in it
    call_log: CallLog

    @property
    def flows(self) -> list[CallFlow]: ...

    def owned_channels(self) -> set[str]: ...

    def pending_channels(self) -> set[str]: ...

    async def on_event(self, event: Event) -> None: ...


class Takeover:
    def __init__(self, engine: EngineForTakeover, closer: Closer,
                 sweep_after: float = EMPTY_BRIDGE_AGE + 1) -> None:
        """`sweep_after`: how long after a takeover empty bridges too young to remove
        then are looked at again."""
        self.engine = engine
        self.closer = closer
        self.sweep_after = sweep_after
        self._young: set[str] = set()  # empty bridges to look at again
        # The legs hung up here: their ids are never given again by this engine, as the
        # end of one may reach it after Asterisk stopped listing it (bridge/engine/
        # call_control.py).
        self.hung_up_legs: set[str] = set()
        self._sweeping: asyncio.Task[None] | None = None

    @property
    def ari(self) -> AriClient:
        return self.engine.ari

    async def run(self, channels: list[dict[str, Any]]) -> Counter[str]:
        """Take over what `channels` (ARI's list) hold; returns what became of them."""
        live = {channel["id"]: channel for channel in channels}
        outcome: Counter[str] = Counter()
        ended: set[str] = set()  # parties of one-sided bridges, hung up
        ours = await in_app(self.ari, self.engine.app)
        for bridge in await self.ari.get("/bridges"):
            if not bridge["id"].startswith("rb-"):
                continue
            if bridge["id"] in ours.bridges:
                outcome[await self._bridge(bridge, live, ended)] += 1
                continue
            if bridge.get("channels"):
                continue  # another engine's call
            await self._parked_while_down(bridge, live)
            if left_empty(bridge, datetime.now(UTC)):
                await quietly(self.ari.delete(f"/bridges/{bridge['id']}"))
                outcome["empty"] += 1
            else:
                self._sweep_later(bridge["id"])
        owned = {*self.engine.owned_channels(), *self.engine.pending_channels(), *ended}
        outcome.update(await self._take_up(
            find_orphans(channels, owned, ours.channels)))
        return outcome

    def _sweep_later(self, bridge_id: str) -> None:
        """An empty bridge too young to tell from a hunt's made a moment ago (a dead
        engine's, maybe): look again once it is not, rather than at the next connect."""
        self._young.add(bridge_id)
        if self._sweeping is None or self._sweeping.done():
            self._sweeping = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        while self._young:
            await asyncio.sleep(self.sweep_after)
            for bridge_id in sorted(self._young):
                try:
                    bridge = await self.ari.get(f"/bridges/{bridge_id}")
                except AriError as exc:
                    if exc.status != 404:
                        log.info("empty bridges not looked at again (%s): the next "
                                 "connect does", exc)
                        self._young.clear()
                        return
                    self._young.discard(bridge_id)  # gone
                    continue
                if bridge.get("channels"):
                    self._young.discard(bridge_id)  # a call's, made a moment before
                elif left_empty(bridge, datetime.now(UTC)):
                    self._young.discard(bridge_id)
                    log.info("bridge %s: left empty by an earlier ringbridge; removed",
                             bridge_id)
                    await quietly(self.ari.delete(f"/bridges/{bridge_id}"))

    # Bridged calls.

    async def _bridge(self, bridge: dict[str, Any], live: dict[str, dict[str, Any]],
                      ended: set[str]) -> str:
        members = [c for c in bridge.get("channels", []) if c in live]
        call_id = bridge["id"].removeprefix("rb-")
        running = {flow.call_id for flow in self.engine.flows}
        if call_id in running or any(c in self.engine.owned_channels() for c in members):
            return "running"  # on a reconnect: its flow runs it (it may be parking a party)
        if len(members) >= 2:
            await self._adopt(call_id, bridge, [live[c] for c in members])
            return "adopted"
        await quietly(self.ari.delete(f"/bridges/{bridge['id']}"))
        if members:
            ended.add(members[0])
            parked = being_parked(call_id, live.values())
            if parked is not None:
                await self._finish_park(call_id, bridge, live[members[0]], parked)
                return "parked"
            await self._end_one_sided(call_id, live[members[0]])
            return "one-sided"
        return "empty"

    async def _adopt(self, call_id: str, bridge: dict[str, Any],
                     channels: list[dict[str, Any]]) -> AdoptedCall:
        call = AdoptedCall(self.ari, self.engine, call_id, self.engine.call_log)
        call.bridge_id = bridge["id"]
        for channel in channels:
            call.adopt(channel["id"])
            call.found[channel["id"]] = channel
        await self._finish_answer(call_id, channels)
        # Who answered, from Asterisk: the record may not have it (a kill -9 can come
        # before the writer thread stored the answer).
        member = next((channel_resource(c)[0] for c in channels
                       if c["id"].startswith("rb-")), None)
        call.follow(await self.closer.find(call_id, answered_by=member))
        # The bridge is made when the call is answered.
        recorded = call.earlier.answered if call.earlier is not None else None
        call.answered_at = recorded or channel_created(bridge)
        await self._record(call)
        log.info("call %s: adopted (bridge %s: %s)", call_id, bridge["id"],
                 ", ".join(c["id"] for c in channels))
        return call

    async def _finish_answer(self, call_id: str, channels: list[dict[str, Any]]) -> None:
        """A ringbridge that died between bridging the parties and answering the caller
        left the caller ringing in the bridge: answer it, as it would have."""
        waiting = [c["id"] for c in channels if not c["id"].startswith("rb-")
                   and c.get("state") != "Up"]
        for caller in waiting:
            log.info("call %s: the caller %s was bridged but not answered yet; answering",
                     call_id, caller)
            await quietly(self.ari.post(f"/channels/{caller}/answer"))
        if waiting and len(channels) == 2:
            await note_departures(self.ari, channels[0]["id"], channels[1]["id"])

    async def _finish_park(self, call_id: str, bridge: dict[str, Any],
                           party: dict[str, Any], parked: dict[str, Any]) -> None:
        """ringbridge died parking the other party (sent to the lot, its peer not hung
        up yet): hang the peer up and end the parties' call, as the park would have; the
        call itself goes on in the lot, its record open."""
        await _hang_up(self.ari, party["id"])
        log.info("call %s: %s was being parked as ringbridge went down; hung up %s, left "
                 "alone in the call, as the park would have", call_id, parked["id"],
                 party["id"])
        await self._park_done(call_id, bridge, parked, party,
                              "the other party was hung up when it came back")

    async def _parked_while_down(self, bridge: dict[str, Any],
                                 live: dict[str, dict[str, Any]]) -> None:
        """An empty bridge whose call has a party in a parking lot: ringbridge died
        parking it and the peer hung up while it was down. The parties' call ends as
        after a park (the dispatcher hears `cleared`), told by the engine that parked
        it (each engine sees the empty bridge); the call goes on in the lot."""
        call_id = bridge["id"].removeprefix("rb-")
        parked = being_parked(call_id, live.values())
        if parked is None or await _variable(self.ari, parked["id"], APP_VARIABLE) \
                != self.engine.app:
            return
        log.info("call %s: %s was being parked as ringbridge went down, and the other "
                 "party hung up meanwhile", call_id, parked["id"])
        await self._park_done(call_id, bridge, parked, None,
                              "the other party hung up while it was down")

    async def _park_done(self, call_id: str, bridge: dict[str, Any], parked: dict[str, Any],
                         peer: dict[str, Any] | None, what: str) -> None:
        """The parties' call ends as after a park (Closer.parked): answered by the member
        among them, when the bridge was made."""
        member = next((channel_resource(c)[0] for c in (peer, parked)
                       if c is not None and c["id"].startswith("rb-")), None)
        await self.closer.parked(call_id, f"{parked['id']} parked as ringbridge went down; "
                                 f"{what}", NORMAL_CLEARING, answered_by=member,
                                 answered=channel_created(bridge))

    async def _end_one_sided(self, call_id: str, party: dict[str, Any]) -> None:
        """The other party hung up while ringbridge was down: this one hears silence."""
        left_at, cause = await self._peer_left(party["id"])
        await _hang_up(self.ari, party["id"])
        who = "the caller" if party["id"].startswith("rb-") else "the called party"
        when = "" if left_at else " (when is not known: the time recorded is now)"
        log.info("call %s: %s hung up while ringbridge was down%s; hung up %s, left alone "
                 "in the call", call_id, who, when, party["id"])
        await self.closer.close(call_id, f"{who} hung up while ringbridge was down{when}; "
                                "the other party, left alone, was hung up when ringbridge "
                                "came back", at=left_at, cause=cause)

    async def _peer_left(self, channel_id: str) -> tuple[datetime | None, int | None]:
        return parse_peer_left(await _variable(self.ari, channel_id, PEER_LEFT))

    # Calls being set up.

    async def _take_up(self, orphans: list[Orphan]) -> Counter[str]:
        """First the legs are hung up (the phones stop ringing for nobody, and are free
        for the new calls), but a leg answered while ringbridge was down is connected to
        its caller; then each other caller starts again as a new call, as though it had
        just entered Stasis, or is hung up when it cannot be put back where it was
        (answered by voicemail or a prompt; a park that failed)."""
        outcome: Counter[str] = Counter()
        callers = [orphan for orphan in orphans if orphan.args is not None]
        calls = await asyncio.gather(*(self._call_of(caller.id) for caller in callers))
        legs = [orphan for orphan in orphans if orphan.args is None]
        answered = {leg.leg_of: leg for leg in legs if leg.state == "Up" and leg.leg_of}
        pairs = {caller.id: answered[call_id] for caller, call_id in zip(callers, calls,
                                                                        strict=True)
                 if call_id and call_id in answered and caller.takes_a_leg}
        ringouts = answered_ringouts(legs)
        paired = {leg.id for leg in pairs.values()} | {
            leg.id for both in ringouts.values() for leg in both}
        gone = left_ringing(legs, {*(c for c in calls if c), *ringouts},
                            {flow.call_id for flow in self.engine.flows})
        # Read before the legs are hung up: the note is on them.
        departures = await asyncio.gather(*(self._caller_left(its_legs)
                                            for its_legs in gone.values()))
        unpaired = [leg for leg in legs if leg.id not in paired]
        for leg in unpaired:
            log.info("channel %s: a leg of call %s, which no flow runs any more; "
                     "hanging up", leg.id, leg.leg_of)
        self.hung_up_legs.update(leg.id for leg in unpaired)
        await asyncio.gather(*(_hang_up(self.ari, leg.id) for leg in unpaired))
        for caller, call_id in zip(callers, calls, strict=True):
            outcome[await self._caller(caller, call_id, pairs.get(caller.id))] += 1
        for call_id, (caller, callee) in ringouts.items():
            await self._connect_ringout(call_id, caller, callee)
            outcome["connected"] += 1
        outcome["legs hung up"] = len(unpaired)
        for (call_id, its_legs), (left_at, cause) in zip(gone.items(), departures,
                                                         strict=True):
            await self._end_left_ringing(call_id, its_legs, left_at, cause)
        return outcome

    async def _caller_left(self, legs: list[Orphan]) -> tuple[datetime | None, int | None]:
        """When and why the caller these legs rang for hung up, as noted on them (the
        hunt has each phone it rings told so: dialplan [rb-left])."""
        for leg in legs:
            if leg.leg_kind == HUNT_LEG:
                left_at, cause = await self._peer_left(leg.id)
                if left_at is not None:
                    return left_at, cause
        return None, None

    async def _end_left_ringing(self, call_id: str, legs: list[Orphan],
                                left_at: datetime | None, cause: int | None) -> None:
        """The legs of a call with no caller left have been hung up: close the call."""
        if legs[0].leg_kind == RINGOUT_LEG:
            await self.closer.close(call_id, "ringbridge restarted while the RingOut was "
                                    "being set up; it is not resumed (its legs were hung up)")
            return
        noted = f" (cause {cause})" if left_at else " (when is not known: the time " \
            "recorded is now)"
        log.info("call %s: the caller hung up while ringbridge was down%s; hung up %s, "
                 "still ringing for it", call_id, noted, ", ".join(leg.id for leg in legs))
        # Recorded as a caller giving up is when ringbridge is up: the phones' cause.
        await self.closer.close(call_id, f"the caller hung up while ringbridge was down{noted}; "
                                "the phones still ringing for it were hung up when "
                                "ringbridge came back", at=left_at, cause=NORMAL_CLEARING)

    async def _caller(self, caller: Orphan, call_id: str | None, leg: Orphan | None) -> str:
        what = " ".join(caller.args or ())
        if call_id is None:
            log.info("channel %s: a caller (%s) no flow runs any more hung up meanwhile",
                     caller.id, what)
            return "callers gone"
        if leg is not None:
            await self._connect(caller, leg, call_id)
            return "connected"
        if caller.starts_again:
            again = "the same call" if caller.keeps_its_call else "a new call"
            log.info("channel %s: a caller (%s, call %s) no flow runs any more; taken up "
                     "again as %s", caller.id, what, call_id or "not named yet", again)
            await self.engine.on_event({"type": "StasisStart", "channel": caller.channel,
                                        "args": list(caller.args or ())})
            if not caller.keeps_its_call:  # its record goes on
                await self.closer.close(call_id, "ringbridge restarted while the call was "
                                        "being set up; its caller was taken up again as a "
                                        "new call")
            return "taken up"
        log.info("channel %s: a caller (%s, %s) no flow runs any more and that cannot "
                 "start again; hanging up (cause %d)", caller.id, what, caller.state,
                 NORMAL_CLEARING)
        await _hang_up(self.ari, caller.id)
        await self.closer.close(call_id, "ringbridge restarted while the call was being "
                                f"set up, and its caller ({what}, {caller.state}) could not "
                                "be taken up again: hung up", cause=NORMAL_CLEARING)
        return "hung up"

    async def _connect(self, caller: Orphan, leg: Orphan, call_id: str) -> None:
        """A phone answered while ringbridge was down: bridge the caller to it, as the
        hunt would have."""
        number = channel_resource(leg.channel)[0]
        call = await self._join(call_id, caller, leg, f"{number} answered",
                                answered_by=number)
        if call is None:
            return
        earlier = call.earlier
        call.publish(AnsweredWhileDown(
            call_id=call_id, member=number, queue=earlier.queue if earlier else (None, None),
            agent_id=earlier.agent_id if earlier else None))
        await self._record(call)
        log.info("call %s: %s answered while ringbridge was down; connected to caller %s",
                 call_id, number, caller.id)

    async def _record(self, call: AdoptedCall) -> None:
        """A call of a group that records whose recording the record does not know of:
        one started just before ringbridge died goes on (Asterisk has it live); else
        it starts now (ringbridge died between the answer and the recording, or the
        member answered while it was down)."""
        earlier = call.earlier
        if earlier is None or not earlier.records or earlier.recorded:
            return
        name = call_recording(call.call_id)
        try:
            await self.ari.get(f"/recordings/live/{name}")
        except AriError:
            await record_call(call)
            return
        recorded(call, name)

    async def _connect_ringout(self, call_id: str, caller: Orphan, callee: Orphan) -> None:
        """A RingOut's callee answered as ringbridge went down, or while it was down:
        connect its two legs, as the flow would have (its status becomes connected)."""
        await quietly(self.ari.delete(f"/playbacks/{call_id}-ringback"))
        call = await self._join(call_id, caller, callee, "the RingOut's callee answered")
        if call is None:
            return
        callee_number = call.earlier.ringout_callee if call.earlier else None
        if callee_number is not None:
            call.publish(RingOutConnected(
                call_id=call_id, call=CallState.CONNECTED, caller=LegState.ANSWERED,
                callee=LegState.ANSWERED, leg=callee_number))
        log.info("call %s: the RingOut's callee answered while ringbridge was down; "
                 "connected %s to %s", call_id, caller.id, callee.id)

    async def _join(self, call_id: str, caller: Orphan, answered: Orphan, what: str,
                    answered_by: str | None = None) -> AdoptedCall | None:
        """Bridge a caller (answering it) and the party that `answered` for it, no flow
        running either, and adopt the call; None when a party hung up meanwhile: both
        are hung up and the call closed."""
        bridge_id = f"rb-{call_id}"
        try:
            await self._make_bridge(call_id, bridge_id)
            await self.ari.post(f"/bridges/{bridge_id}/addChannel",
                                {"channel": f"{caller.id},{answered.id}"})
            if caller.state != "Up":
                await self.ari.post(f"/channels/{caller.id}/answer")
        except AriError as exc:  # one of them hung up meanwhile
            log.info("call %s: %s while ringbridge was down, but the parties could not be "
                     "connected (%s); hanging both up", call_id, what, exc)
            await asyncio.gather(_hang_up(self.ari, caller.id),
                                 _hang_up(self.ari, answered.id))
            await quietly(self.ari.delete(f"/bridges/{bridge_id}"))
            await self.closer.close(call_id, f"{what} while ringbridge was down; a party "
                                    "hung up before they could be connected")
            return None
        await note_departures(self.ari, caller.id, answered.id)
        call = AdoptedCall(self.ari, self.engine, call_id, self.engine.call_log)
        call.bridge_id = bridge_id
        call.answered_at = datetime.now(UTC)
        for channel in (caller.channel, answered.channel):
            call.adopt(channel["id"])
            call.found[channel["id"]] = channel
        call.follow(await self.closer.find(call_id, answered_by=answered_by))
        return call

    async def _make_bridge(self, call_id: str, bridge_id: str) -> None:
        """The call's bridge; one the engine before made just before it died (it had
        not added the parties yet) is taken as it is: it bears this call's name."""
        try:
            await self.ari.post(f"/bridges/{bridge_id}", {"type": "mixing"})
        except AriError as exc:
            if exc.status != 409:
                raise
            log.info("call %s: its bridge %s was made before ringbridge went down; "
                     "using it", call_id, bridge_id)

    async def _call_of(self, channel_id: str) -> str | None:
        """The call id on a caller's channel ("" when it has none); None when the channel
        is gone. ARI answers 404 both for a channel that is gone and for a variable that
        is not set (a caller that entered Stasis just before ringbridge died): the
        channel itself tells them apart."""
        try:
            answer = await self.ari.get(f"/channels/{channel_id}/variable",
                                        {"variable": CALL_VARIABLE})
        except AriError as exc:
            if exc.status != 404:
                return ""
            try:
                await self.ari.get(f"/channels/{channel_id}")
            except AriError as gone:
                return None if gone.status == 404 else ""
            return ""
        return str(answer.get("value", ""))


def parse_peer_left(value: str) -> tuple[datetime | None, int | None]:
    """`1733243000.123 16` (dialplan [rb-left]) → (that moment, cause 16)."""
    epoch, _, cause = value.partition(" ")
    try:
        at = datetime.fromtimestamp(float(epoch), UTC)
    except ValueError:
        return None, None
    return at, int(cause) if cause.isdigit() else None


async def _variable(ari: AriClient, channel_id: str, name: str) -> str:
    """A channel variable's value; "" when it is not set or the channel is gone."""
    try:
        answer = await ari.get(f"/channels/{channel_id}/variable", {"variable": name})
    except AriError:
        return ""
    return str(answer.get("value", ""))


async def _hang_up(ari: Any, channel_id: str) -> None:
    await quietly(ari.delete(f"/channels/{channel_id}", {"reason_code": NORMAL_CLEARING}))


def left_empty(bridge: dict[str, Any], now: datetime) -> bool:
    """A bridge of ours with nobody in it for a while: both parties hung up while the
    engine that ran it was down. It is in no application any more (ARI lists a bridge
    under an app while one of the app's channels is in it), so any engine removes it;
    a younger one may be a hunt's, made a moment before its parties join it."""
    created = channel_created(bridge)
    return not bridge.get("channels") and created is not None \
        and (now - created).total_seconds() > EMPTY_BRIDGE_AGE


def being_parked(call_id: str, channels: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The call's channel on its way into a parking lot, parked there (the dialplan's
    [rb-park]), or out of it ringing its parker back ([parking-timeout]), if any; not
    one a full lot gave back to the engine (`park-failed`: in Stasis in [rb-park])."""
    return next((channel for channel in channels
                 if call_of_channel(channel) == call_id and _in_a_lot(channel)), None)


def _in_a_lot(channel: dict[str, Any]) -> bool:
    dialplan = channel.get("dialplan") or {}
    context = dialplan.get("context")
    in_stasis = str(dialplan.get("app_name", "")).lower() == "stasis"
    return context == PARKING_TIMEOUT or (context == PARK_CONTEXT and not in_stasis)


def calls_in_asterisk(channels: list[dict[str, Any]], bridges: list[dict[str, Any]]
                      ) -> set[str]:
    """The calls that ARI's channels and bridges name: a bridge `rb-<call id>` with a
    party in it, a leg `rb-<call id>-<n>` (a Local channel's halves too), and a caller or
    parked call labelled with its call (RB_CALL, which ari.conf has ARI show with every
    channel)."""
    calls = {bridge["id"].removeprefix("rb-") for bridge in bridges
             if bridge["id"].startswith("rb-") and bridge.get("channels")}
    calls.update(call_of_channel(channel) for channel in channels)
    calls.discard("")
    return calls


def call_of_channel(channel: dict[str, Any]) -> str:
    """The call a channel is of: a leg's by its id `rb-<call id>-<n>` (a Local channel's
    halves too), else its label (RB_CALL); "" when neither names one."""
    if channel["id"].startswith("rb-"):
        return str(channel["id"].removeprefix("rb-").split(";")[0].rpartition("-")[0])
    return str((channel.get("channelvars") or {}).get(CALL_VARIABLE) or "")
