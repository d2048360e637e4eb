"""The hunt: ring a call's targets wave by wave; the first to answer gets the caller.

One flow covers every way the bridge rings phones for a caller in Stasis: a direct
call to an extension is a hunt of one target, a ring group is a hunt of its members in
the order of its strategy (bridge/telephony/hunt_order.py). Legs are created with ids
we choose, claimed before creation and dialled on their StasisStart, so no early
event is lost. Asterisk times each leg out (`dial` timeout = ring_time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.gateway import Target
from bridge.telephony.call_events import CallEvents, GuardedEvents, Queue
from bridge.telephony.call_log import CallLog
from bridge.telephony.calls import (
    DIAL_STATUS_CAUSE,
    HUNT_LEG,
    NORMAL_CLEARING,
    Ari,
    CallFlow,
    Event,
    Flows,
    note_departures,
)
from bridge.telephony.waiting_line import DEFAULT_PRIORITY, PRIORITIES, known_priority

log = logging.getLogger(__name__)

ANSWERED_ELSEWHERE = 26  # Q.850: CANCEL carries Reason "call completed elsewhere"
NO_ANSWER = 19
MAX_REPEAT_ROUNDS = 3
MAX_MESSAGE_SECONDS = 180
MAX_REDIRECTS = 3  # dispatch 307s acted on per call: a redirect loop ends here
ALERTING_DIAL_STATUSES = ("RINGING", "PROGRESS")  # 180, and 183 from phones that never 180


class OwnEvent:
    """Events a hunt sends itself through its own queue (the waiting line's), so a
    waiting call's turn never runs beside the handling of its caller's hangup."""

    YOUR_TURN = "RingbridgeWaitingTurn"
    WAIT_OVER = "RingbridgeWaitOver"
    PICK_UP = "RingbridgePickUp"  # fields: target, wait, reply (see Hunt.pick_up)
    REDIRECT = "RingbridgeRedirect"  # fields: location, plan (see Hunt.redirect)


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

    @property
    def queue(self) -> Queue:
        return (self.queue_id, self.queue_type)


class Redirects(Protocol):
    """Where a hunt asks what a dispatcher's redirect target means (the database)."""

    def route_redirect(self, tenant_id: int, location: str,
                       caller_number: str) -> HuntPlan | None: ...


class NoRedirects:
    """For hunts outside ring groups (direct calls)."""

    def route_redirect(self, tenant_id: int, location: str,
                       caller_number: str) -> HuntPlan | None:
        """No redirects outside ring groups."""
        return None


@dataclass
class Leg:
    target: Target
    channel_id: str
    view: str = ""  # the party's id in the phone calls API ("01", "02"...)
    up: bool = False
    alerting: bool = False
    status: str = ""  # the Dial status, when Asterisk gave one
    existing: bool = False  # a channel that is up already (a parked call taken back)
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


class Hunt(CallFlow):
    def __init__(self, ari: Ari, flows: Flows, call_id: str, caller_id: str, plan: HuntPlan,
                 redirects: Redirects | None = None, call_log: CallLog | None = None) -> None:
        super().__init__(ari, flows, call_id, call_log)
        self.caller_id = caller_id
        self.plan = plan
        self.redirects = redirects or NoRedirects()
        self.adopt(caller_id)
        self.legs: dict[str, Leg] = {}
        self.wave_index = -1
        self.rounds = 1
        self.connected = False
        self.answered_at: datetime | None = None
        self.origin = Origin()
        self.last_cause = NO_ANSWER
        self.events = GuardedEvents(plan.events) if plan.events is not None else None
        self.answered_by: Target | None = None
        self.redirected = 0  # dispatch redirects acted on
        self.priority = DEFAULT_PRIORITY  # the dispatcher's, orders waiting calls
        self.waiting_in: int | None = None  # the group whose waiting line holds the call
        self.waited_out = False  # max_wait is over: the no-answer rule applies
        self._alerted_in_round = False
        self._wait_timer: asyncio.TimerHandle | None = None
        self._caller_ringing = False
        self.recording: str | None = None  # the stored recording (the call's, a voicemail)

    # The hunt's progress.

    async def start(self) -> None:
        if self.events is not None:
            snapshot = await self.events.invite(self.call_id, self.plan.queue)
            if snapshot is not None:
                self.priority = self._priority_in(snapshot)
                self.step("invited", f"dispatch knows the caller: {snapshot}",
                          snapshot=snapshot)
            if self.done or self.wave_index != -1:
                return  # the caller hung up, or a pick-up took the call, while dispatch was asked
        if self.plan.ring_time <= 0:
            self.step("hunting", f"not ringing {self.plan.label}: its ring_time is 0")
        else:
            self.step("hunting", f"hunting {self.plan.label}: {len(self.plan.waves)} "
                      f"wave(s), {self.plan.ring_time} s each")
        if self._others_waiting():
            await self._wait_in_line("callers are waiting already")
            return
        await self.next_wave()

    def _priority_in(self, snapshot: dict[str, Any]) -> str:
        """The invite's `priority`; one that is none of the known ones counts as normal
        (logged here, so once per call)."""
        given = snapshot.get("priority")
        priority = known_priority(given)
        if priority is None and given is not None:
            log.info("call %s: dispatch priority %r is none of %s; counted as normal",
                     self.call_id, given, ", ".join(PRIORITIES))
        return priority or DEFAULT_PRIORITY

    async def next_wave(self) -> None:
        self.wave_index += 1
        if self.wave_index == 0:
            self._alerted_in_round = False
        if self.wave_index >= len(self.plan.waves) or self.plan.ring_time <= 0:
            await self._nobody_answered()
            return
        await self._ring_wave(self.plan.waves[self.wave_index])

    async def _ring_wave(self, targets: tuple[Target, ...]) -> None:
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
        """The targets to ring: never the caller, only registered phones, and with
        skip_busy only those not on a call. The others are passed over before any
        request to ring them (a step saying why; the cause the caller would get)."""
        not_caller = [t for t in targets if not self._is_caller(t)]
        for target in (t for t in targets if t not in not_caller):
            self._try_step("skipped", f"passing over {target.label}: it is the caller",
                           target=target.label)
        found = await asyncio.gather(*(self._unavailable(t) for t in not_caller))
        free = []
        for target, (why, cause) in zip(not_caller, found, strict=True):
            if why:
                self._try_step("skipped", f"passing over {target.label}: {why}",
                               target=target.label)
                self.last_cause = cause
            else:
                free.append(target)
        return free

    def _is_caller(self, target: Target) -> bool:
        """An extension of the tenant that is calling (a trunk is never "the caller": a
        call from the carrier may be forwarded out through it)."""
        return bool(target.key) and _endpoint_of(target) == self.origin.endpoint

    async def _unavailable(self, target: Target) -> tuple[str, int]:
        """Why `target` cannot be rung now ("" when it can), and the Q.850 cause of that:
        its phone is not registered (no contact: Asterisk says `offline`), or it is on a
        call and the plan skips busy members. An endpoint that cannot be read is tried."""
        try:
            endpoint = await self.ari.get(f"/endpoints/PJSIP/{_endpoint_of(target)}")
        except Exception as exc:
            log.debug("call %s: endpoint of %s not read (%s); ringing it", self.call_id,
                      target.label, exc)
            return "", 0
        if endpoint.get("state") == "offline":
            return "not registered", DIAL_STATUS_CAUSE["CHANUNAVAIL"]
        if self.plan.skip_busy and endpoint.get("channel_ids"):
            return "already on a call", DIAL_STATUS_CAUSE["BUSY"]
        return "", 0

    async def repeat(self) -> bool:
        """Hunt the same waves again (the REPEAT rule); False when rounds are used up."""
        if self.rounds >= MAX_REPEAT_ROUNDS:
            return False
        self.rounds += 1
        self.wave_index = -1
        self.step("repeated", f"nobody answered; round {self.rounds} of {MAX_REPEAT_ROUNDS}")
        await self.next_wave()
        return True

    async def pick_up(self, target: Target, wait: int) -> bool:
        """Stop ringing the call's targets and ring `target` instead, on the call's own
        queue (after the events queued before it); False when the call was answered or
        ended by then."""
        reply: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.flows.enqueue(self, {"type": OwnEvent.PICK_UP, "target": target, "wait": wait,
                                  "reply": reply})
        return await reply

    async def _picked_up(self, target: Target, wait: int, reply: asyncio.Future[bool]) -> None:
        if self.connected or self.done:
            _answer(reply, False)
            return
        try:
            await self.cancel_ringing()
            self.step("picked-up", f"picked up for {target.label}", target=target.label)
            await self.ring_targets(f"pick-up by {target.label}", (target,), wait)
        except Exception as exc:
            if not reply.done():
                reply.set_exception(exc)
            raise
        _answer(reply, True)

    async def ring_targets(self, label: str, targets: tuple[Target, ...], ring_time: int) -> None:
        """Replace what is left of the hunt with one wave (a forward, a pick-up); the
        call stays the tenant's, and leaves any waiting line."""
        self._leave_line()
        self.plan = replace(self.plan, label=label, waves=(targets,), ring_time=ring_time,
                            headers={}, paging=False, skip_busy=False,
                            group_id=None, no_answer=None, max_wait=0)
        self.wave_index = -1
        await self.next_wave()

    async def redirect(self, location: str) -> None:
        """Dispatch answered `307 Location: <agent or queue id>`: ring that instead.

        A leg already ringing at the new target keeps ringing; the others stop. The
        group's no-answer rule still applies after an agent redirect. A queue whose
        line holds callers is never overtaken: the call stops ringing and joins the line
        at its priority, with the new group's whole max_wait ahead of it.
        """
        if self.connected or self.done:
            self.step("redirect", f"dispatch redirect to {location} ignored: the call is "
                      "already answered or over", target=location)
            return
        if self.redirected >= MAX_REDIRECTS or self.plan.tenant_id is None:
            self.step("redirect", f"dispatch redirect to {location} ignored: "
                      f"{MAX_REDIRECTS} redirects already", target=location)
            return
        plan = await asyncio.to_thread(self.redirects.route_redirect, self.plan.tenant_id,
                                       location, self.plan.caller_number)
        if plan is None:
            self.step("redirect", f"dispatch redirect to {location} ignored: no agent or "
                      "queue has that id", target=location)
            return
        # The lookup ran beside the call; the change runs in its turn among its events.
        self.flows.enqueue(self, {"type": OwnEvent.REDIRECT, "location": location,
                                  "plan": plan})

    async def _redirected(self, location: str, plan: HuntPlan) -> None:
        if self.connected or self.done or self.redirected >= MAX_REDIRECTS:
            self.step("redirect", f"dispatch redirect to {location} ignored: the call was "
                      "answered, ended or redirected meanwhile", target=location)
            return
        self.redirected += 1
        self.step("redirected", f"dispatch redirected the call to {location} ({plan.label})",
                  target=location)
        self._leave_line()
        self.waited_out = False
        # The group the call came to keeps its rules: its no-answer rule, queue and
        # recording go with the call unless the new group has its own.
        self.plan = replace(plan, no_answer=plan.no_answer or self.plan.no_answer,
                            queue_id=plan.queue_id or self.plan.queue_id,
                            queue_type=plan.queue_type or self.plan.queue_type,
                            record=plan.record or self.plan.record)
        if self._others_waiting():
            await self._stop_legs(list(self.legs.values()), NORMAL_CLEARING)
            await self._wait_in_line("callers are waiting already")
            return
        first = plan.waves[0] if plan.waves else ()
        keys = {target.key for target in first if target.key}
        await self._stop_legs([leg for leg in self.legs.values()
                               if leg.target.key not in keys], NORMAL_CLEARING)
        ringing = {leg.target.key for leg in self.legs.values()}
        self.wave_index = 0
        self._alerted_in_round = any(leg.alerting for leg in self.legs.values())
        await self._ring_wave(tuple(target for target in first if target.key not in ringing))

    async def end(self, why: str, cause: int | None = NORMAL_CLEARING) -> None:
        if self.done:
            return
        self._leave_line()
        await super().end(why, cause)
        if self.events is not None:
            agent = self.answered_by.agent_id if self.answered_by else None
            self.events.ended(self.call_id, self.plan.queue, agent, self.started_at,
                              self.answered_at, datetime.now(UTC),
                              answered=self.answered_by is not None,
                              recorded=self.recording is not None)

    async def take_message(self, recording: str) -> None:
        """Voicemail: answer, prompt, beep, record until the caller hangs up.

        Stasis runs a channel's operations in order, so the recording starts when the
        prompt has finished.
        """
        self.connected = True
        caller = f"/channels/{self.caller_id}"
        await self.ari.post(f"{caller}/answer")
        await self.ari.post(f"{caller}/play", {"media": "sound:vm-intro"})
        await self.ari.post(f"{caller}/record", {
            "name": recording, "format": "wav", "beep": True,
            "maxDurationSeconds": MAX_MESSAGE_SECONDS, "ifExists": "fail",
            "terminateOn": "#",
        })

    async def _nobody_answered(self) -> None:
        """The no-answer rule decides (forward, repeat, hang up); without one, hang up.

        When no phone even rang (every member busy or unreachable) and the group keeps a
        waiting line, the call waits there first."""
        if self.done:
            return
        if self._may_wait():
            await self._wait_in_line("no member is free")
            return
        self._leave_line()
        await self._apply_no_answer_rule()

    async def _apply_no_answer_rule(self) -> None:
        if self.plan.no_answer is not None:
            await self.plan.no_answer(self)
        else:
            await self.end(f"nobody answered {self.plan.label}", self.last_cause)

    async def _ring(self, target: Target) -> None:
        channel_id = self.new_channel_id()
        self.legs[channel_id] = Leg(target, channel_id, view=f"{self._next_leg:02d}")
        self._try_step("dialling", f"ringing {target.label} ({channel_id})",
                       target=target.label)
        try:
            await self.ari.post("/channels/create", {
                "endpoint": target.dial, "app": self.flows.app, "channelId": channel_id,
                "appArgs": f"{HUNT_LEG},{self.call_id}", "originator": self.caller_id,
            })
        except Exception as exc:  # an unreachable target is skipped
            log.warning("call %s: cannot ring %s: %s", self.call_id, target.label, exc)
            await self._leg_gone(channel_id, DIAL_STATUS_CAUSE["CHANUNAVAIL"])

    def _try_step(self, kind: str, text: str, *, target: str, **fields: Any) -> None:
        """A step of trying a member. A waiting call tries every 2 s: its retries are
        logged at DEBUG, not recorded, until a phone rings for it (it leaves the line)."""
        if self.waiting_in is None:
            self.step(kind, text, target=target, **fields)
        else:
            log.debug("call %s: %s (waiting in line)", self.call_id, text)

    def take_over(self, channel_id: str, label: str) -> None:
        """Make a channel that is up already (a parked call) this caller's answered leg,
        once it enters Stasis (its StasisStart bridges it)."""
        self._next_leg += 1
        self.legs[channel_id] = Leg(Target(key=0, dial="", label=label), channel_id,
                                    view=f"{self._next_leg:02d}", existing=True)
        self.adopt(channel_id)

    def release(self, channel_id: str) -> None:
        """Let a channel leave the call without ending it (it is being parked)."""
        self.channels.discard(channel_id)
        self.legs.pop(channel_id, None)

    async def cancel_ringing(self) -> None:
        """Stop ringing the legs not answered yet (the call is picked up elsewhere)."""
        await self._stop_legs([leg for leg in self.legs.values() if not leg.up],
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
            case "RecordingStarted":
                self._recorded(event["recording"]["name"])
            case "RecordingFinished":
                await self.end(f"message {event['recording']['name']} recorded")
            case OwnEvent.YOUR_TURN:
                await self._try_again()
            case OwnEvent.WAIT_OVER:
                await self._wait_over()
            case OwnEvent.PICK_UP:
                await self._picked_up(event["target"], event["wait"], event["reply"])
            case OwnEvent.REDIRECT:
                await self._redirected(event["location"], event["plan"])

    # The waiting line (bridge/telephony/waiting_line.py).

    def _others_waiting(self) -> bool:
        """A call for a group whose line is not empty joins it: it never overtakes."""
        return (self.plan.max_wait > 0 and self.plan.group_id is not None
                and self.flows.waiting_lines.occupied(self.plan.group_id))

    def _may_wait(self) -> bool:
        return (self.plan.max_wait > 0 and self.plan.ring_time > 0
                and self.plan.group_id is not None and not self._alerted_in_round
                and not self.waited_out and not self.connected)

    async def _wait_in_line(self, why: str) -> None:
        if self.waiting_in is not None:
            return  # tried again, still nobody free: stay where the call is in line
        assert self.plan.group_id is not None
        self.waiting_in = self.plan.group_id
        place = self.flows.waiting_lines.join(self.waiting_in, self.call_id, self.priority,
                                              self._your_turn)
        self._wait_timer = asyncio.get_running_loop().call_later(
            self.plan.max_wait, self.flows.enqueue, self, {"type": OwnEvent.WAIT_OVER})
        self.step("waiting", f"{why} in {self.plan.label}: waiting, number {place} in line "
                  f"(priority {self.priority}), up to {self.plan.max_wait} s")
        if not self._caller_ringing:
            self._caller_ringing = True
            await self.ari.post(f"/channels/{self.caller_id}/ring")

    def _your_turn(self) -> None:
        self.flows.enqueue(self, {"type": OwnEvent.YOUR_TURN})

    async def _try_again(self) -> None:
        """First in line: ring the members again. A turn that comes when the call is no
        longer first (one more urgent came meanwhile), has left the line, or is trying
        already, passes."""
        if self.waiting_in is None or self.legs or self.connected or self.done:
            return
        if self.flows.waiting_lines.first(self.waiting_in) != self.call_id:
            return
        self.wave_index = -1
        await self.next_wave()

    async def _wait_over(self) -> None:
        self.waited_out = True
        if self.waiting_in is None or self.legs or self.done:
            return  # a round is on: its end applies the rule
        self._leave_line()
        self.step("waited", f"no member of {self.plan.label} came free in "
                  f"{self.plan.max_wait} s")
        await self._apply_no_answer_rule()

    def _leave_line(self) -> None:
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None
        if self.waiting_in is not None:
            self.flows.waiting_lines.leave(self.waiting_in, self.call_id)
            self.waiting_in = None

    async def _dial_leg(self, channel_id: str) -> None:
        leg = self.legs.get(channel_id)
        if leg is None:
            return
        if leg.existing:
            await self._answered(leg)
            return
        variables = {f"PJSIP_HEADER(add,{name})": value
                     for name, value in self.plan.headers.items()}
        dial: dict[str, Any] = {"timeout": self.plan.ring_time}
        if leg.target.caller_number:
            # The leg's From comes from its connected line; `caller` would overwrite it
            # with the caller's own number.
            variables["CONNECTEDLINE(all,i)"] = presented(leg.target)
        else:
            dial["caller"] = self.caller_id
        for name, value in variables.items():
            await self.ari.post(f"/channels/{channel_id}/variable",
                                {"variable": name, "value": value})
        await self.ari.post(f"/channels/{channel_id}/dial", dial)

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
        self._alerted_in_round = True
        self._leave_line()
        if self.events is not None and not self.connected:  # first: the pop-up is urgent
            self.events.ringing(self.call_id, self.plan.queue, leg.target.agent_id,
                                self.redirect)
        self.step("ringing", f"{leg.target.label} ringing", target=leg.target.label,
                  **self._memory(leg))
        if not self._caller_ringing and not self.connected:
            self._caller_ringing = True
            await self.ari.post(f"/channels/{self.caller_id}/ring")

    async def _answered(self, leg: Leg) -> None:
        leg.up = True
        leg.answered_at = datetime.now(UTC)
        if self.connected:
            if self.plan.paging:
                self.step("answered", f"{leg.target.label} answered the page too",
                          target=leg.target.label, **self._memory(leg))
                await self._add_to_bridge(leg.channel_id)
            return
        self.connected = True
        self._leave_line()
        self.answered_at = leg.answered_at
        self.answered_by = leg.target
        self.step("answered", f"{leg.target.label} answered; bridging",
                  target=leg.target.label, **self._memory(leg))
        if self.events is not None:
            self.events.connected(self.call_id, self.plan.queue, leg.target.agent_id)
        if not self.plan.paging:
            await self._stop_legs([other for other in self.legs.values() if other is not leg],
                                  ANSWERED_ELSEWHERE)
        # Bridge first, then answer: the caller's 200 OK comes with the path to the
        # member already in place, never with a moment of dead air.
        self.bridge_id = f"rb-{self.call_id}"
        await self.ari.post(f"/bridges/{self.bridge_id}", {"type": "mixing"})
        await self._add_to_bridge(f"{self.caller_id},{leg.channel_id}")
        await self.ari.post(f"/channels/{self.caller_id}/answer")
        await note_departures(self.ari, self.caller_id, leg.channel_id)
        if self.plan.record:
            await self._record_bridge()

    async def _record_bridge(self) -> None:
        """Record the call from its bridge: one WAV per call, stored by this node's
        Asterisk, finished when the bridge goes. A recording that cannot start is
        logged; the call goes on."""
        name = f"call-{self.call_id}"
        try:
            await self.ari.post(f"/bridges/{self.bridge_id}/record", {
                "name": name, "format": "wav", "ifExists": "fail"})
        except Exception as exc:
            self.step("recording-failed", f"the call cannot be recorded: {exc}", target=name)
            return
        self._recorded(name)

    def _recorded(self, name: str) -> None:
        """A recording of this call has started (the call's, or a voicemail's)."""
        self.recording = name
        self.step("recording", f"recording as {name}", target=name)

    async def _add_to_bridge(self, channels: str) -> None:
        await self.ari.post(f"/bridges/{self.bridge_id}/addChannel", {"channel": channels})

    async def _stop_legs(self, legs: list[Leg], cause: int) -> None:
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
            if self.caller_id in self.channels:
                self.channels.discard(self.caller_id)
                what = "hung up" if self.connected else "gave up"
                await self.end(f"caller {what} (cause {event.get('cause', NORMAL_CLEARING)})")
        elif channel_id in self.legs and (self.legs[channel_id].up
                                          or event["type"] == "ChannelDestroyed"):
            # A leg that rang is over when it is destroyed: ChannelDestroyed has the cause
            # its SIP side sent or received (ChannelHangupRequest's "cause" is 32 when our
            # own dial timeout ends it, StasisEnd has none).
            await self._leg_gone(channel_id, event.get("cause") or self.last_cause)

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
        status = f"{leg.status}, " if leg.status else ""
        self._try_step("rang", f"{leg.target.label} did not answer ({status}cause {cause})",
                       target=leg.target.label, cause=cause)
        if not self.connected and not self.legs and not self.done:
            await self.next_wave()

    def _memory(self, leg: Leg) -> dict[str, int]:
        """Fields that make a ringing/answered step update the group's hunt memory
        (written with the call's steps, off the event loop)."""
        if self.plan.group_id is None or not leg.target.key:
            return {}
        return {"group_id": self.plan.group_id, "extension_id": leg.target.key}


def _endpoint_of(target: Target) -> str:
    """`PJSIP/2101@2101@acme.example` → `2101@acme.example`; `PJSIP/+44…@carrier` →
    `carrier`; `PJSIP/1002@1002` → `1002`."""
    return target.dial.split("@", 1)[-1]


def _answer(reply: asyncio.Future[bool], value: bool) -> None:
    """Answer whoever waits for `reply`, unless it stopped waiting."""
    if not reply.done():
        reply.set_result(value)
