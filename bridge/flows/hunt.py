"""The hunt: ring a call's targets wave by wave; the first to answer gets the caller.

One flow covers every way the bridge rings phones for a caller in Stasis: a direct
call to an extension is a hunt of one target, a ring group is a hunt of its members in
the order of its strategy (bridge/flows/hunt_order.py). Legs are created with ids
we choose, claimed before creation and dialled on their StasisStart, so no early
event is lost. Asterisk times each leg out (`dial` timeout = ring_time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.flows import hunt_pick_up, hunt_recordings
from bridge.flows.call_events import CallEvents, GuardedEvents, Queue, tell_dispatch
from bridge.flows.call_log import CallLog
from bridge.flows.calls import (
    DIAL_STATUS_CAUSE,
    HANGUP_HANDLER,
    HUNT_LEG,
    LEGS_MADE,
    NORMAL_CLEARING,
    Ari,
    CallFlow,
    Event,
    Flows,
    departure_note,
    note_departure,
    note_departures,
)
from bridge.flows.events import (
    CallEnded,
    CallerKnown,
    CallEvent,
    CallParked,
    Ending,
    HuntMemoryKeys,
    HuntRepeated,
    HuntStarted,
    MemberAnswered,
    MemberDialled,
    MemberNotAnswered,
    MemberRinging,
    MemberSkipped,
    PageAnswered,
    PartyHeld,
    PartyResumed,
)
from bridge.flows.hunt_line import HuntLine
from bridge.flows.hunt_redirects import HuntRedirects, NoRedirects, Redirects
from bridge.flows.pauses import Pauses
from bridge.flows.strategies import strategy_named
from bridge.gateway import ParkedCall, Target

log = logging.getLogger(__name__)

ANSWERED_ELSEWHERE = 26  # Q.850: CANCEL carries Reason "call completed elsewhere"
NO_ANSWER = 19
MAX_REPEAT_ROUNDS = 3
ALERTING_DIAL_STATUSES = ("RINGING", "PROGRESS")  # 180, and 183 from phones that never 180




def presented(target: Target) -> str:
    """The target's caller id as CONNECTEDLINE(all) reads it: `"name" <number>`. The
    name was checked for what cannot stand in quotes (bridge/surfaces/voipnow/caller_ids.py)."""
    name = f'"{target.caller_name}" ' if target.caller_name else ""
    return f"{name}<{target.caller_number}>"


@dataclass(frozen=True)
class HuntPlan:
    """What to ring and how; built by the router from the database (or for a direct call)."""

    label: str
    waves: tuple[tuple[Target, ...], ...]
    ring_time: int
    headers: dict[str, str] = field(default_factory=dict)
    paging: bool = False
    skip_busy: bool = False
    tenant_id: int | None = None
    domain: str | None = None  # the tenant's SIP domain (its calls and parking lot)
    group_id: int | None = None
    queue_id: str | None = None
    queue_type: str | None = None
    caller_number: str = ""
    no_answer: Callable[[Hunt], Awaitable[None]] | None = None
    events: CallEvents | None = None  # dispatch events, for ring group calls
    max_wait: float = 0  # seconds a call may wait for a free member (the group's line)
    record: bool = False  # record the answered call (the group's record_calls)
    strategy: str = ""  # the ring group's, for metrics ("" for a direct call)
    # A ring group's paused extensions, read with the plan: its first wave passes them
    # over without a read (and a worker thread's round trip) of its own.
    paused: Mapping[int, str] | None = None

    @property
    def queue(self) -> Queue:
        return (self.queue_id, self.queue_type)

    @property
    def routes_by_memory(self) -> bool:
        """Whether the group's strategy orders its members by the hunt memory."""
        return bool(self.strategy) and strategy_named(self.strategy).uses_memory


@dataclass
class Leg:
    target: Target
    channel_id: str
    view: str = ""  # the party's id in the phone calls API ("01", "02"...)
    up: bool = False
    alerting: bool = False
    status: str = ""  # the Dial status, when Asterisk gave one
    existing: bool = False  # a channel that is up already (a parked call taken back)
    external: bool = False  # reached through the carrier
    ringing_at: datetime | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True)
class Origin:
    """Who called what: the caller's number and name, the number dialled, from where."""

    number: str = ""
    name: str = ""
    dialled: str = ""
    inbound: bool = False  # from the carrier
    endpoint: str = ""  # the caller's PJSIP endpoint ("2101@acme.example"), never rung


class OtherNodes(Protocol):
    """The cluster's other Asterisk nodes (bridge/engine/other_asterisks.py)."""

    async def on_a_call(self, endpoint_id: str) -> bool:
        """Whether the endpoint has a channel on any of them."""


class Registered(Protocol):
    """Which phones are registered, as far as known without a request
    (bridge/engine/registrations.py)."""

    def surely_online(self, endpoint: str) -> bool:
        """True only when the endpoint's phone is surely registered."""


class Hunt(CallFlow):
    """The hunt itself; its waiting line, redirects, pick-up and recordings are
    collaborators beside this module."""

    def __init__(self, ari: Ari, flows: Flows, call_id: str, caller_id: str, plan: HuntPlan,
                 redirects: Redirects | None = None, call_log: CallLog | None = None,
                 pauses: Pauses | None = None, other_nodes: OtherNodes | None = None,
                 registrations: Registered | None = None) -> None:
        super().__init__(ari, flows, call_id, call_log)
        self.caller_id = caller_id
        self.plan = plan
        self.pauses = pauses
        self._paused_with_plan = plan.paused
        self.other_nodes = other_nodes  # in a cluster: a member busy through another node
        self.registrations = registrations
        self.adopt(caller_id)
        self.legs: dict[str, Leg] = {}
        self.wave_index = -1
        self.rounds = 1
        self.connected = False
        self.answered_at: datetime | None = None
        self.origin = Origin()
        self.last_cause = NO_ANSWER
        self.events = GuardedEvents(plan.events) if plan.events is not None else None
        if self.events is not None:
            tell_dispatch(self.call_log, call_id, self.events)
        self.answered_by: Target | None = None
        self.alerted_in_round = False  # a phone rang in this round of the waves
        self._caller_ringing = False
        self.line = HuntLine(self)
        self.redirector = HuntRedirects(self, redirects or NoRedirects())
        # A call taken back from the lot goes on as the call it was (its id, views and
        # times): `before` is what it was when parked.
        self.before: ParkedCall | None = None
        self.caller_view = "00"
        self.parking = False  # its end is a park: the call goes on in the lot
        self.holding: dict[str, datetime] = {}  # channels holding the others, since when
        # The caller came through dialplan [stasis-wait] and carries this call's id
        # (RB_CALL): its own hangup handler notes its hangup on every leg.
        self.caller_notes_legs = False

    def resume(self, parked: ParkedCall) -> None:
        """Go on as the parked call: views are numbered on from the last it gave."""
        self.before = parked
        self.number_views_from(parked.views)

    def number_views_from(self, views: int) -> None:
        """Number views, and legs with them, on from `views`: the call gave those."""
        self._next_leg = max(self._next_leg, views)

    # The hunt's progress.

    async def start(self) -> None:
        if self.events is not None:
            snapshot = await self.events.invite(self.call_id, self.plan.queue)
            if snapshot is not None:
                self.line.take_priority(snapshot)
                self.publish(CallerKnown(call_id=self.call_id, snapshot=snapshot))
            if self.done or self.wave_index != -1:
                return  # the caller hung up, or a pick-up took the call, while dispatch was asked
        self.publish(HuntStarted(call_id=self.call_id, label=self.plan.label,
                                 waves=len(self.plan.waves), ring_time=self.plan.ring_time))
        if await self.line.others_waiting():
            await self.line.wait("callers are waiting already")
            return
        await self.next_wave()

    async def next_wave(self) -> None:
        self.wave_index += 1
        if self.wave_index == 0:
            self.alerted_in_round = False
        if self.wave_index >= len(self.plan.waves) or self.plan.ring_time <= 0:
            await self._nobody_answered()
            return
        await self.ring_wave(self.plan.waves[self.wave_index])

    async def ring_wave(self, targets: tuple[Target, ...]) -> None:
        """Ring the wave's free targets; when none is free and nothing rings, go on to
        the next wave. Every endpoint is read before anything is decided, so a busy
        member answering first never ends a wave whose other member is free."""
        if self.plan.ring_time <= 0:  # a redirect to a group that rings nobody
            if not self.legs:
                await self._nobody_answered()
            return
        free = await self._free(targets)
        if self.connected or self.done:
            return
        if not free and not self.legs:
            await self.next_wave()
            return
        await asyncio.gather(*(self._ring(target) for target in free))

    async def _free(self, targets: tuple[Target, ...]) -> list[Target]:
        """The targets to ring: never the caller, no paused member, only registered
        phones, and with skip_busy only those not on a call. The others are passed over
        before any request to ring them (a step saying why; the cause the caller would
        get)."""
        not_caller = [t for t in targets if not self._is_caller(t)]
        for target in (t for t in targets if t not in not_caller):
            self._try_publish(MemberSkipped(call_id=self.call_id, member=target.label,
                                            why="it is the caller"))
        paused = await self._paused()
        found = await asyncio.gather(*(self._unavailable(t, paused) for t in not_caller))
        free = []
        for target, (why, cause) in zip(not_caller, found, strict=True):
            if why:
                self._pass_over(target, why, cause)
            else:
                free.append(target)
        return free

    def _pass_over(self, target: Target, why: str, cause: int) -> None:
        self._try_publish(MemberSkipped(call_id=self.call_id, member=target.label, why=why))
        self.last_cause = cause

    def _is_caller(self, target: Target) -> bool:
        """An extension of the tenant that is calling (a trunk is never "the caller": a
        call from the carrier may be forwarded out through it)."""
        return bool(target.key) and _endpoint_of(target) == self.origin.endpoint

    async def _paused(self) -> Mapping[int, str]:
        """The paused extensions, when this is a ring group's hunt: a direct call, a
        pick-up or a forward rings the phone it names, paused or not."""
        if self.pauses is None or self.plan.group_id is None:
            return {}
        known, self._paused_with_plan = self._paused_with_plan, None
        if known is not None:  # read a moment ago, with the plan
            return known
        try:
            return await asyncio.to_thread(self.pauses.paused)
        except Exception as exc:  # the database: ring them rather than nobody
            log.warning("call %s: paused members not read (%s); none passed over",
                        self.call_id, exc)
            return {}

    async def _unavailable(self, target: Target, paused: Mapping[int, str]
                           ) -> tuple[str, int]:
        """Why `target` cannot be rung now ("" when it can), and the Q.850 cause of that:
        it is paused, its phone is not registered (no contact: Asterisk says `offline`),
        or it is on a call and the plan skips busy members. An endpoint that cannot be
        read is tried; one surely registered is not read when busy members are rung."""
        if target.key in paused:
            reason = paused[target.key]
            return (f"paused ({reason})" if reason else "paused",
                    DIAL_STATUS_CAUSE["CHANUNAVAIL"])
        if not self.plan.skip_busy and self.registrations is not None \
                and self.registrations.surely_online(_endpoint_of(target)):
            return "", 0
        return await self._endpoint_unavailable(target)

    async def _endpoint_unavailable(self, target: Target) -> tuple[str, int]:
        """Why `target` cannot be rung, by its endpoint as Asterisk has it now."""
        try:
            endpoint = await self.ari.get(f"/endpoints/PJSIP/{_endpoint_of(target)}")
        except Exception as exc:
            log.debug("call %s: endpoint of %s not read (%s); ringing it", self.call_id,
                      target.label, exc)
            return "", 0
        if endpoint.get("state") == "offline":
            return "not registered", DIAL_STATUS_CAUSE["CHANUNAVAIL"]
        if self.plan.skip_busy and (endpoint.get("channel_ids")
                                    or await self._on_a_call_elsewhere(target)):
            return "already on a call", DIAL_STATUS_CAUSE["BUSY"]
        return "", 0

    async def _on_a_call_elsewhere(self, target: Target) -> bool:
        return self.other_nodes is not None and await self.other_nodes.on_a_call(
            _endpoint_of(target))

    async def repeat(self) -> bool:
        """Hunt the same waves again (the REPEAT rule); False when rounds are used up."""
        if self.rounds >= MAX_REPEAT_ROUNDS:
            return False
        self.rounds += 1
        self.wave_index = -1
        self.publish(HuntRepeated(call_id=self.call_id, round=self.rounds,
                                  rounds=MAX_REPEAT_ROUNDS))
        await self.next_wave()
        return True

    async def pick_up(self, target: Target, wait: int) -> bool:
        return await hunt_pick_up.pick_up(self, target, wait)

    async def ring_targets(self, label: str, targets: tuple[Target, ...], ring_time: int) -> None:
        """Replace what is left of the hunt with one wave (a forward, a pick-up); the
        call stays the tenant's, and leaves any waiting line."""
        self.line.leave()
        self.plan = replace(self.plan, label=label, waves=(targets,), ring_time=ring_time,
                            headers={}, paging=False, skip_busy=False,
                            group_id=None, no_answer=None, max_wait=0)
        self.wave_index = -1
        await self.next_wave()

    async def redirect(self, location: str) -> None:
        await self.redirector.redirect(location)

    async def end(self, why: str, cause: int | None = NORMAL_CLEARING) -> None:
        if self.done:
            return
        self.line.leave()
        await super().end(why, cause)

    def log_fields(self) -> dict[str, int | None]:
        return {"tenant": self.plan.tenant_id, "group": self.plan.group_id}

    def ending(self, why: str, cause: int | None) -> Ending:
        agent = self.answered_by.agent_id if self.answered_by else None
        kind = CallParked if self.parking else CallEnded
        return kind(call_id=self.call_id, why=why, cause=cause,
                         received=self.started_at, answered_at=self.answered_at,
                         queue=self.plan.queue, agent_id=agent,
                         recorded=self.recording is not None)

    async def take_message(self, recording: str) -> None:
        await hunt_recordings.take_message(self, recording)

    async def _nobody_answered(self) -> None:
        """The no-answer rule decides (forward, repeat, hang up); without one, hang up.

        When no phone even rang (every member busy or unreachable) and the group keeps a
        waiting line, the call waits there first."""
        if self.done:
            return
        if self.line.may_wait():
            await self.line.wait("no member is free")
            return
        self.line.leave()
        await self.apply_no_answer_rule()

    async def apply_no_answer_rule(self) -> None:
        if self.plan.no_answer is not None:
            await self.plan.no_answer(self)
        else:
            await self.end(f"nobody answered {self.plan.label}", self.last_cause)

    async def _ring(self, target: Target) -> None:
        channel_id = self.new_channel_id()
        self.legs[channel_id] = Leg(target, channel_id, view=f"{self._next_leg:02d}",
                                    external=target.dial.endswith("@carrier"))
        self._try_publish(MemberDialled(call_id=self.call_id, member=target.label,
                                        channel_id=channel_id))
        try:
            await self.ari.post("/channels/create", {
                "endpoint": target.dial, "app": self.flows.app, "channelId": channel_id,
                "appArgs": f"{HUNT_LEG},{self.call_id}", "originator": self.caller_id,
            }, json={"variables": self._leg_variables(target, channel_id)})
        except Exception as exc:  # an unreachable target is skipped
            await self._not_made(target, channel_id, exc)
            return
        # Should ringbridge die while this rings, the caller hanging up notes when on it:
        # a request of its own unless the caller's handler from the dialplan does it.
        if not self.caller_notes_legs:
            await note_departure(self.ari, self.caller_id, channel_id)

    async def _not_made(self, target: Target, channel_id: str, exc: Exception) -> None:
        """Asterisk did not make the leg. A phone that unregistered a moment ago, before
        the engine heard of it, is passed over as not registered; anything else is a
        warning."""
        why, cause = await self._endpoint_unavailable(target)
        if why:
            self._pass_over(target, why, cause)
        else:
            log.warning("call %s: cannot ring %s: %s", self.call_id, target.label, exc)
            cause = DIAL_STATUS_CAUSE["CHANUNAVAIL"]
        await self._leg_gone(channel_id, cause)

    def _try_publish(self, event: CallEvent) -> None:
        """A step of trying a member. A waiting call tries every 2 s: its retries are
        logged at DEBUG, not recorded, until a phone rings for it (it leaves the line)."""
        if self.line.waiting_in is None:
            self.publish(event)
        else:
            log.debug("call %s: %s (waiting in line)", self.call_id, event.text)

    def take_over(self, channel_id: str, label: str, view: str, external: bool) -> None:
        """Make a channel that is up already (a parked call) this caller's answered leg,
        once it enters Stasis (its StasisStart bridges it); it keeps its view."""
        self.legs[channel_id] = Leg(Target(key=0, dial="", label=label), channel_id,
                                    view=view, existing=True, external=external)
        self.adopt(channel_id)

    def next_view(self) -> str:
        """A view number for a party that is not a leg this hunt rings."""
        self._next_leg += 1
        return f"{self._next_leg:02d}"

    @property
    def views(self) -> int:
        """The last view number given."""
        return self._next_leg

    def release(self, channel_id: str) -> None:
        """Let a channel leave the call without ending it (it is being parked)."""
        self.channels.discard(channel_id)
        self.legs.pop(channel_id, None)

    async def cancel_ringing(self) -> None:
        """Stop ringing the legs not answered yet (the call is picked up elsewhere)."""
        await self.stop_legs([leg for leg in self.legs.values() if not leg.up],
                              ANSWERED_ELSEWHERE)

    # Events.

    async def handle(self, event: Event) -> None:
        match event["type"]:
            case "StasisStart":
                await self._dial_leg(event["channel"]["id"])
            case "ChannelStateChange":
                await self._on_state(event["channel"])
            case "Dial":
                await self._on_dial(event)
            case "ChannelHangupRequest" | "StasisEnd" | "ChannelDestroyed":
                await self._on_gone(event)
            case "ChannelHold" | "ChannelUnhold":
                self._on_hold(event["channel"]["id"], event["type"] == "ChannelHold")
            case "RecordingStarted":
                hunt_recordings.recorded(self, event["recording"]["name"])
            case "RecordingFinished":
                await self.end(f"message {event['recording']['name']} recorded")
            case HuntLine.YOUR_TURN:
                await self.line.try_again()
            case HuntLine.WAIT_OVER:
                await self.line.wait_over()
            case HuntRedirects.REDIRECT:
                await self.redirector.redirected(event["location"], event["plan"])
            case hunt_pick_up.PICK_UP:
                await hunt_pick_up.picked_up(self, event["target"], event["wait"],
                                             event["reply"])

    async def ring_caller(self) -> None:
        """The caller hears ringback (once)."""
        if not self._caller_ringing:
            self._caller_ringing = True
            await self.ari.post(f"/channels/{self.caller_id}/ring")

    async def _dial_leg(self, channel_id: str) -> None:
        leg = self.legs.get(channel_id)
        if leg is None:
            return
        if leg.existing:
            await self._answered(leg)
            return
        dial: dict[str, Any] = {"timeout": self.plan.ring_time}
        if not leg.target.caller_number:  # else its connected line, set at its creation
            dial["caller"] = self.caller_id
        await self.ari.post(f"/channels/{channel_id}/dial", dial)

    def _leg_variables(self, target: Target, channel_id: str) -> dict[str, str]:
        """Set on the leg as Asterisk creates it (no request of their own): the plan's
        SIP headers; the leg's hangup noting when on the caller (docs/restarts.md: a
        later leaver overwrites an earlier one's note, so a leg that never answered
        misleads nobody); the caller's count of legs made (this leg's number, the end of
        its id `rb-<call>-<n>`, which [rb-caller-left] counts up to); and
        the connected line of a leg that presents a number of its own (its From comes
        from it; `caller` on the dial would overwrite it with the caller's number)."""
        variables = {f"PJSIP_HEADER(add,{name})": value
                     for name, value in self.plan.headers.items()}
        variables[HANGUP_HANDLER] = departure_note(self.caller_id)
        variables[LEGS_MADE.format(caller=self.caller_id)] = channel_id.rsplit("-", 1)[1]
        if target.caller_number:
            variables["CONNECTEDLINE(all,i)"] = presented(target)
        return variables

    async def _on_state(self, channel: dict[str, Any]) -> None:
        leg = self.legs.get(channel["id"])
        if leg is None:
            return
        if channel["state"] == "Ringing":
            await self._alerting(leg)
        elif channel["state"] == "Up" and not leg.up:
            await self._answered(leg)

    async def _alerting(self, leg: Leg) -> None:
        """The leg's phone rings (180, or 183 from phones that never send 180); once."""
        if leg.alerting or leg.up:
            return
        leg.alerting = True
        leg.ringing_at = datetime.now(UTC)
        self.alerted_in_round = True
        self.line.leave()
        if self.events is not None and not self.connected:  # first: the pop-up is urgent
            self.events.ringing(self.call_id, self.plan.queue, leg.target.agent_id,
                                self.redirect)
        self.publish(MemberRinging(call_id=self.call_id, member=leg.target.label,
                                   **self._memory(leg)))
        if not self.connected:
            await self.ring_caller()

    async def _answered(self, leg: Leg) -> None:
        leg.up = True
        leg.answered_at = datetime.now(UTC)
        if self.connected:
            if self.plan.paging:
                self.publish(PageAnswered(call_id=self.call_id, member=leg.target.label,
                                          **self._memory(leg)))
                await self._add_to_bridge(leg.channel_id)
            return
        self.connected = True
        self.line.leave()
        self.answered_at = leg.answered_at
        self.answered_by = leg.target
        self.publish(MemberAnswered(call_id=self.call_id, member=leg.target.label,
                                    agent_id=leg.target.agent_id, queue=self.plan.queue,
                                    **self._memory(leg)))
        if not self.plan.paging:
            await self.stop_legs([other for other in self.legs.values() if other is not leg],
                                  ANSWERED_ELSEWHERE)
        # Bridge first, then answer: the caller's 200 OK comes with the path to the
        # member already in place, never with a moment of dead air.
        self.bridge_id = f"rb-{self.call_id}"
        await self.ari.post(f"/bridges/{self.bridge_id}", {"type": "mixing"})
        await self._add_to_bridge(f"{self.caller_id},{leg.channel_id}")
        await self.ari.post(f"/channels/{self.caller_id}/answer")
        if leg.existing:  # a rung leg's notes went on as it was created and rang
            await note_departures(self.ari, self.caller_id, leg.channel_id)
        if self.plan.record:
            await hunt_recordings.record_call(self)

    async def _add_to_bridge(self, channels: str) -> None:
        await self.ari.post(f"/bridges/{self.bridge_id}/addChannel", {"channel": channels})

    async def stop_legs(self, legs: list[Leg], cause: int) -> None:
        """Hang these legs up with `cause`; they are forgotten first, so their hangup
        events do not move the hunt on."""
        for leg in legs:
            self.legs.pop(leg.channel_id)
            self.channels.discard(leg.channel_id)
        await asyncio.gather(*(self.ari.delete(f"/channels/{leg.channel_id}",
                                               {"reason_code": cause})
                               for leg in legs), return_exceptions=True)

    async def _on_dial(self, event: Event) -> None:
        status = event.get("dialstatus", "")
        leg = self.legs.get(event.get("peer", {}).get("id", ""))
        if leg is not None and status in ALERTING_DIAL_STATUSES:
            await self._alerting(leg)
        elif leg is not None and status in DIAL_STATUS_CAUSE:
            self.last_cause = DIAL_STATUS_CAUSE[status]
            leg.status = status

    async def _on_gone(self, event: Event) -> None:
        channel_id = event["channel"]["id"]
        if channel_id == self.caller_id:
            await self._caller_left(f"cause {event.get('cause', NORMAL_CLEARING)}")
        elif channel_id in self.legs and (self.legs[channel_id].up
                                          or event["type"] == "ChannelDestroyed"):
            # A leg that rang is over when it is destroyed: ChannelDestroyed has the cause
            # its SIP side sent or received (ChannelHangupRequest's "cause" is 32 when our
            # own dial timeout ends it, StasisEnd has none).
            await self._leg_gone(channel_id, event.get("cause") or self.last_cause)

    async def caller_gone(self) -> None:
        """ARI answered that the caller's channel is gone before its hangup event came
        (a request raced the hangup): the caller left then."""
        await self._caller_left("its channel was gone")

    async def _caller_left(self, how: str) -> None:
        if self.caller_id in self.channels:
            self.channels.discard(self.caller_id)
            what = "hung up" if self.connected else "gave up"
            await self.end(f"caller {what} ({how})")

    async def _leg_gone(self, channel_id: str, cause: int) -> None:
        leg = self.legs.pop(channel_id)
        self.channels.discard(channel_id)
        if leg.up:
            if not any(other.up for other in self.legs.values()):
                await self.end(f"{leg.target.label} hung up")
            return
        if cause not in (NORMAL_CLEARING, ANSWERED_ELSEWHERE):
            self.last_cause = cause
        # The Dial event (NOANSWER, BUSY...) may come before or after the hangup.
        self._try_publish(MemberNotAnswered(call_id=self.call_id, member=leg.target.label,
                                            dial_status=leg.status, cause=cause))
        if not self.connected and not self.legs and not self.done:
            await self.next_wave()

    def _on_hold(self, channel_id: str, held: bool) -> None:
        """A party's phone put the call on hold (a re-INVITE with sendonly or inactive
        media: Asterisk plays music on hold to the others), or took it off hold."""
        if held == (channel_id in self.holding):
            return
        number = self.number_of(channel_id)
        if held:
            self.holding[channel_id] = datetime.now(UTC)
            self.publish(PartyHeld(call_id=self.call_id, member=number))
        else:
            del self.holding[channel_id]
            self.publish(PartyResumed(call_id=self.call_id, member=number))

    def number_of(self, channel_id: str) -> str:
        """The number of a party of the call."""
        leg = self.legs.get(channel_id)
        return leg.target.label if leg is not None else self.origin.number

    def _memory(self, leg: Leg) -> HuntMemoryKeys:
        """Fields that make a ringing/answered step update the group's hunt memory
        (written with the call's steps, off the event loop); of the group hunted now,
        which a dispatcher's 307 may have changed."""
        if self.plan.group_id is None or not leg.target.key:
            return {}
        return {"group_id": self.plan.group_id, "extension_id": leg.target.key,
                "routes_by_memory": self.plan.routes_by_memory}


def _endpoint_of(target: Target) -> str:
    """`PJSIP/2101@2101@acme.example` → `2101@acme.example`; `PJSIP/+44…@carrier` →
    `carrier`; `PJSIP/1002@1002` → `1002`."""
    return target.dial.split("@", 1)[-1]

