"""The telephony engine: one asyncio loop that owns ARI, AMI and every call flow."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge import logs, metrics
from bridge.asterisk.ami import AmiClient, AmiEvent
from bridge.asterisk.ari import AriClient, AriError
from bridge.config import Settings
from bridge.engine import endpoints
from bridge.engine.call_control import CallControl
from bridge.engine.call_metrics import CallMetrics, sample_forever
from bridge.engine.changes import Changes
from bridge.engine.comebacks import Comebacks
from bridge.engine.directory_follower import follow_directory
from bridge.engine.endpoints import SipEndpoint
from bridge.engine.live_calls import channel_created
from bridge.engine.load_watch import SLOW, WINDOW, LoadWatch
from bridge.engine.other_asterisks import OtherAsterisks
from bridge.engine.parking import (
    CALL_VARIABLE,
    GONE_EVENTS,
    PARK_FAILED,
    PARKED_EVENTS,
    PARKING_TIMEOUT,
    UNPARKED,
    ParkingLots,
)
from bridge.engine.provisioning import Provisioning
from bridge.engine.registrations import Registrations
from bridge.engine.retention import RecordingIndex, RecordingRetention
from bridge.engine.routing import Directory
from bridge.engine.takeover import Takeover, calls_in_asterisk
from bridge.engine.trunk_callers import present_trunk_caller
from bridge.flows.call_log import CallLog
from bridge.flows.calls import (
    ARI_EVENT_TYPES,
    DEPARTURES,
    NORMAL_CLEARING,
    CallFlow,
    Event,
    new_call_id,
    quietly,
)
from bridge.flows.earlier_calls import Closer, EarlierCalls, NoEarlierCalls
from bridge.flows.events import CallArrived, CallEnded, CallEvent, UnknownNumber
from bridge.flows.hunt import Hunt, HuntPlan, Origin
from bridge.flows.waiting_line import SharedLines, WaitingLines
from bridge.gateway import EngineOverview, EngineStatus, PanelView, Positions, Target

log = logging.getLogger(__name__)
DESTINATION_OUT_OF_ORDER = 27  # Q.850: Asterisk answers 502, the edge tries the next node
# Seconds a cluster node closed to its SIP edge goes on taking calls: the edge's next
# probe (every second, 1 s to answer) takes it out of use (kamailio/edge.cfg).
EDGE_DRAIN = 2.0
SUCCESSOR_WAIT = 0.5  # seconds a stopping engine asks whether another waits to take over
LOTS_READ_TIMEOUT = 10.0
# Between reading the calls in Asterisk and closing the records of those not there:
# another engine's call that ended a moment before has its end written by then.
OTHERS_SETTLE = 2.0
UNREADY_CLAIM_DELAY = 0.2  # seconds; the offer waits 1 s (OFFER_MS in the dialplan)
SLOT_WAIT = 3.0  # seconds a phone dialling a slot waits for the lots to be read at a start


class LoopService(Protocol):
    """Something that lives on the engine's loop beside ARI and AMI (dispatch delivery)."""

    outbox: int  # what it holds and has not delivered (or given up) yet

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Engine:
    """Routes ARI events to call flows and starts a flow for each call entering Stasis."""

    def __init__(self, settings: Settings,
                 extension_endpoints: Callable[[], list[SipEndpoint]],
                 directory: Directory, call_log: CallLog | None = None,
                 dispatch: LoopService | None = None,
                 recordings: RecordingIndex | None = None,
                 earlier_calls: EarlierCalls | None = None, app: str = "",
                 shared_lines: SharedLines | None = None,
                 directory_generation: Callable[[], int | None] | None = None,
                 successor_waiting: Callable[[], bool] | None = None) -> None:
        """`extension_endpoints` reads every extension's endpoint from the database;
        `directory` turns dialled numbers into hunt plans; `call_log` records each step;
        `dispatch` sends the dispatch events that the directory's plans ask for;
        `recordings` says which recordings are past their retention (deleted hourly);
        `earlier_calls` reads the records of calls an earlier ringbridge ran; `app` is
        the engine's own ARI application (`ari_app` when not given); `shared_lines`, the
        waiting lines of the engines sharing its Asterisk (None: the lines are its own);
        `directory_generation`, read every second by the one engine of a cluster node
        that follows the other nodes' extension changes (None: not followed);
        `successor_waiting`, whether another node's engine waits to run this one's app
        (blocking: the database; None: no other node could)."""
        self.settings = settings
        self.dispatch = dispatch
        self.call_log = call_log or CallLog()
        self.extension_endpoints = extension_endpoints
        self.directory = directory
        self.app = app or settings.ari_app
        self.load = LoadWatch()
        self._declining = False  # new calls are declined: ARI answers late
        self._declined = 0  # offers declined since the engine fell behind
        self.ari = AriClient(
            settings.ari_url, settings.ari_user, settings.ari_password, self.app,
            on_event=self.on_event, on_connected=self.resync, event_types=ARI_EVENT_TYPES,
            on_answer=self.load.answered,
        )
        self.ami = AmiClient(
            settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
            on_connected=self._ami_connected,
        )
        # With several engines on one Asterisk, each pushes every change: none can note
        # the fingerprint of what Asterisk has (bridge/engine/pushed_mark.py).
        self.provisioning = Provisioning(self.ari, edge=settings.sip_edge,
                                         keeps_mark=settings.engines == 1)
        self.other_asterisks = OtherAsterisks(
            settings.other_ari_urls, settings.ari_user, settings.ari_password
        ) if settings.standby_hosts else None
        self.directory_generation = directory_generation
        self.successor_waiting = successor_waiting
        self._edge_open = False  # the SIP edge's probe endpoint is there (a cluster node)
        self._endpoints_behind = True  # a push or the opening is still to be done
        self._leaving_edge = False  # stopping: closed to the edge for good
        self._closing: asyncio.Task[None] | None = None  # closing to it: Asterisk stops
        self.parking = ParkingLots(self.ami, self.call_log, app=self.app)
        # From Asterisk's AMI Shutdown event until AMI connects again: Asterisk is going
        # away, though its connections may stay open a while yet.
        self._asterisk_stopping = False
        self.ami.on("Shutdown", self._asterisk_shutting_down)
        self.control = CallControl(self, settings.parking_share)
        # Every node's slots (the cluster shares them out); this node's are the control's.
        self.cluster_slots = Positions.parse(settings.parking_positions)
        self.retention = None if recordings is None else RecordingRetention(self.ari,
                                                                            recordings)
        self._flows_by_channel: dict[str, CallFlow] = {}
        self._flows: set[CallFlow] = set()
        # Callers whose call is being planned (database lookups in a worker thread):
        # their events wait here, so planning never holds up other calls' events.
        self._pending: dict[str, list[Event]] = {}
        self._starting: set[asyncio.Task[None]] = set()
        self._workers: dict[CallFlow, asyncio.Task[None]] = {}  # flows with events queued
        self.waiting_lines = WaitingLines(shared=shared_lines)
        self.started_at = datetime.now(UTC)
        self.closer = Closer(earlier_calls or NoEarlierCalls(), self.call_log)
        self.call_metrics = CallMetrics(self.call_log)
        self.comebacks = Comebacks(self.ami, self.call_log, self.closer)
        self._ami_read = asyncio.Event()  # the lots and ring backs were read once
        self.takeover = Takeover(self, self.closer)
        self._asterisk_started: str | None = None
        self._earlier_closing = self._earlier_closed = False
        self.registrations = Registrations(self.ari, hearing=lambda: self.ami.connected)
        self.changes = Changes()
        self._count_changes()

    def _count_changes(self) -> None:
        """What live views show: calls, parking lots, registrations (a waiting line
        changes with its calls' events)."""
        self.call_log.subscribe(CallEvent, self.changes.note)
        for name in (*PARKED_EVENTS, *GONE_EVENTS):  # after the lots' own handlers
            self.ami.on(name, self.changes.note)
        self.ami.on("ContactStatus", self.registrations.changed)
        self.ami.on("ContactStatus", self.changes.note)

    def status(self) -> EngineStatus:
        up = not self._asterisk_stopping
        return EngineStatus(ari=self.ari.ready and up, ami=self.ami.ready and up)

    def overview(self) -> EngineOverview:
        """Read on the engine's loop, so that its parts agree."""
        return EngineOverview(
            status=self.status(), started_at=self.started_at, calls_up=len(self._flows),
            parked=len(self.parking.all()), lines=self.waiting_lines.lengths(),
            outbox=self.dispatch.outbox if self.dispatch is not None else 0)

    async def panel(self, domain: str) -> PanelView:
        """The tenant's calls, lines, lots and registrations, read in one piece."""
        registered = await self.registrations.online(domain)
        calls = self.control.live_calls(domain)
        return PanelView(
            calls=tuple(calls), registered=registered,
            lines=self.waiting_lines.waiting({call.call_id for call in calls}),
            time_left={parked.channel_id: self.parking.time_left(parked.channel_id)
                       for parked in self.parking.in_lot(domain)})

    async def run(self) -> None:
        if self.dispatch is not None:
            await self.dispatch.start()
        jobs = [self.ari.run(), self.ami.run(),
                sample_forever(self.overview)]
        if self.retention is not None:
            jobs.append(self.retention.run())
        if self.directory_generation is not None:
            jobs.append(follow_directory(self.directory_generation, self._refresh_endpoints,
                                         lambda: self.ari.ready,
                                         lambda: self._endpoints_behind))
        await asyncio.gather(*jobs)

    async def _refresh_endpoints(self) -> None:
        """Engine 1 of a cluster node: the extensions other nodes changed pushed here,
        then, once all are, the node opened to the SIP edge."""
        complete = await self.provisioning.refresh(self.extension_endpoints)
        if (complete and not self._edge_open and not self._leaving_edge
                and not self._asterisk_stopping):
            self._edge_open = await endpoints.open_to_edge(self.ari)
        self._endpoints_behind = not (complete and self._edge_open)

    async def leave_edge(self) -> None:
        """Stopping cleanly: a cluster node opened to the SIP edge is closed to it, then
        runs its calls until the edge has noticed (its probes: EDGE_DRAIN). With another
        node's engine waiting to run this app, it stays open: that engine takes the app
        over a moment after this one stops (callers wait in the dialplan meanwhile), and
        the edge keeps sending the node calls."""
        self._leaving_edge = True  # the follower opens it no more
        if not self._edge_open:
            return
        if await self._handed_over():
            log.info("another node's engine waits to run this app: handing this Asterisk "
                     "node over, open to the SIP edge")
            return
        self._edge_open = False
        await endpoints.close_to_edge(self.ari)
        await asyncio.sleep(EDGE_DRAIN)

    async def _handed_over(self) -> bool:
        if self.successor_waiting is None:
            return False
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.successor_waiting),
                                          SUCCESSOR_WAIT)
        except Exception as exc:  # the database away or slow: leave the edge, as alone
            log.warning("whether another node waits to take over is unknown (%s); leaving "
                        "the SIP edge", exc)
            return False

    def stop_calls(self) -> None:
        """ringbridge is stopping: calls stay up in Asterisk, for the next ringbridge to
        adopt or take up (see resync), so no flow acts on Asterisk any more."""
        self.ari.refuse_requests()

    async def close(self) -> None:
        await self.waiting_lines.close()
        self.provisioning.close()
        await asyncio.gather(self.ari.close(), self.ami.close())
        if self.other_asterisks is not None:
            await self.other_asterisks.close()
        if self.dispatch is not None:
            await self.dispatch.close()

    # Flows' view of the engine.
    def claim(self, channel_id: str, flow: CallFlow) -> None:
        self._flows_by_channel[channel_id] = flow
        self._flows.add(flow)

    def finished(self, flow: CallFlow) -> None:
        self._flows.discard(flow)
        for channel_id in flow.claimed:
            if self._flows_by_channel.get(channel_id) is flow:
                del self._flows_by_channel[channel_id]
        self.waiting_lines.wake()  # the call's phones may be free for a waiting call now
        if not self._earlier_closed:  # an adopted call ending before they are looked at
            self.closer.closed_by_its_flow(flow.call_id)

    @property
    def active_calls(self) -> int:
        return len(self._flows)

    @property
    def flows(self) -> list[CallFlow]:
        return list(self._flows)

    def _asterisk_shutting_down(self, event: AmiEvent) -> None:
        log.warning("Asterisk is shutting down (%s, restart: %s): not ready until it is back",
                    event.get("Shutdown", "?"), event.get("Restart", "?"))
        self._asterisk_stopping = True
        if self._edge_open:  # a shutting-down Asterisk still answers probes, not calls
            self._edge_open = False
            self._closing = asyncio.get_running_loop().create_task(
                endpoints.close_to_edge(self.ari))

    async def _ami_connected(self) -> None:
        metrics.ASTERISK_CONNECTS.labels("ami").inc()
        self._asterisk_stopping = False
        self.registrations.unheard()
        await self.parking.reload()
        await self.comebacks.record()
        self._ami_read.set()

    async def on_event(self, event: Event) -> None:
        """Hand the event to its call's flow and return at once: each flow works through
        its own events in order, so one call waiting on an ARI request never holds up
        another call's events."""
        channel_id = _channel_of(event)
        if event["type"] == "CallBroadcast":
            self._spawn(self._claim(channel_id))
            return
        args = event.get("args") or [""]
        if event["type"] == "StasisStart" and args[0] == PARK_FAILED:
            if not self.parking.failed(channel_id):  # else the flow parking it puts it back
                self._spawn(self._nowhere_to_park(channel_id, [*args, ""][1]))
            return
        flow = self._flows_by_channel.get(channel_id)
        if flow is not None:
            self.enqueue(flow, event)
        elif channel_id in self._pending:
            self._pending[channel_id].append(event)
        elif event["type"] == "StasisStart":
            self._pending[channel_id] = []
            self._spawn(self._start_call(event))

    async def _claim(self, channel_id: str) -> None:
        """Asterisk offers each new call to every engine (dialplan [stasis-wait]); the
        first claim gets the call's StasisStart, the others are refused (409). An engine
        gets no event before its resync is over; one without its parking lots read yet
        (AMI connecting: a phone dialling a slot would not find its call) claims a moment
        later, so that a ready one takes the call."""
        if not self._ami_read.is_set():
            await asyncio.sleep(UNREADY_CLAIM_DELAY)
        if not self._keeps_up(channel_id):
            return
        try:
            await self.ari.post("/events/claim", {"channelId": channel_id,
                                                  "application": self.app})
        except AriError as exc:
            log.debug("channel %s: not claimed (%s)", channel_id, exc)

    def _keeps_up(self, channel_id: str) -> bool:
        """False while ARI answers late (bridge/engine/load_watch.py): the offer of
        `channel_id` is declined, and the calls in progress keep the engine."""
        late = self._lateness()
        if late and not self._declining:
            log.warning("%s: new calls are declined until the engine catches up; Asterisk "
                        "offers them again, then falls back after STASIS_WAIT", late)
        elif self._declining and not late:
            log.warning("the engine caught up with Asterisk: %d offers of new calls "
                        "were declined meanwhile", self._declined)
            self._declined = 0
        self._declining = bool(late)
        if late:
            self._declined += 1
            metrics.CALLS_DECLINED.inc()
            log.debug("channel %s: its call is declined: ARI answers late", channel_id)
        return not late

    def declines_ringout(self, ringout_id: str) -> bool:
        """True while ARI answers late: a RingOut is a new call, and the API tells its
        client to retry (any thread may ask)."""
        late = self._lateness()
        if late:
            metrics.CALLS_DECLINED.inc()
            log.warning("RingOut %s declined: %s; its client is told to retry",
                        ringout_id, late)
        return bool(late)

    def _lateness(self) -> str:
        """How late ARI answers, as the log says it, while the engine is behind; ""
        while it keeps up."""
        if not self.load.behind():
            return ""
        return (f"ARI answers late ({100 * self.load.late_share():.0f}% of the requests "
                f"of the last {WINDOW:.0f} s took over {SLOW:.1f} s)")

    def _started(self, task: asyncio.Task[None]) -> None:
        self._starting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a call could not be started", exc_info=task.exception())

    def enqueue(self, flow: CallFlow, event: Event) -> None:
        """Add an event to a flow's queue (ARI's, or one the flow sends itself)."""
        flow.inbox.append(event)
        if flow not in self._workers:
            self._workers[flow] = asyncio.create_task(self._work_through(flow))

    async def _work_through(self, flow: CallFlow) -> None:
        logs.in_call(flow.call_id, **flow.log_fields())  # this task is the call's
        try:
            while flow.inbox:
                await self.deliver(flow, flow.inbox.popleft())
        finally:
            del self._workers[flow]

    async def settled(self) -> None:
        """Wait until every queued event is handled and every starting call started."""
        while self._workers or self._starting:
            await asyncio.gather(*self._workers.values(), *self._starting,
                                 return_exceptions=True)

    async def deliver(self, flow: CallFlow, event: Event) -> None:
        """Handle an event now (queued ones, and those that came while a flow was set up)."""
        try:
            await flow.handle(event)
        except Exception as exc:
            if self.ari.refusing:  # stopping: the call is left as it is in Asterisk
                log.info("call %s: left to the next ringbridge (stopping while handling "
                         "%s: %s)", flow.call_id, event["type"], exc)
                return
            await self._failed(flow, event, exc)

    async def _failed(self, flow: CallFlow, event: Event, exc: Exception) -> None:
        """The flow cannot go on as planned: it ends and hangs up what is left. A request
        on a hunt's caller that ARI answers 404 raced the caller's hangup: the call ends
        as that hangup would end it (the caller gave up, or hung up)."""
        if isinstance(exc, AriError) and isinstance(flow, Hunt) and _on_channel(
                exc, flow.caller_id):
            log.info("call %s: the caller's channel was gone while handling %s (%s)",
                     flow.call_id, event["type"], exc)
            await flow.caller_gone()
        elif isinstance(exc, AriError):  # usually a race with a hangup ("Channel not found")
            log.warning("call %s: %s while handling %s; ending the call", flow.call_id, exc,
                        event["type"])
            await flow.end(f"ARI request failed: {exc.message}")
        else:
            log.error("call %s: handling %s failed; ending the call", flow.call_id,
                      event["type"], exc_info=exc)
            await flow.end(f"internal error while handling {event['type']}")

    async def _start_call(self, event: Event) -> None:
        channel = event["channel"]
        try:
            await self._plan_and_start(channel, event.get("args") or [])
        except Exception:
            log.exception("channel %s: the call could not be started; hanging up", channel["id"])
            self._pending.pop(channel["id"], None)
            await self.ari.delete(f"/channels/{channel['id']}", {"reason_code": 41})

    async def _plan_and_start(self, channel: dict[str, Any], args: list[str]) -> None:
        purpose, number = [*args, "", ""][:2]
        if purpose in (PARKING_TIMEOUT, UNPARKED):
            await self._take_back(channel, args)
            return
        if purpose not in ("dial", "inbound") or not number:
            self._pending.pop(channel["id"], None)
            log.warning("channel %s entered Stasis with unexpected args %s; hanging up",
                        channel["id"], args)
            await self.ari.delete(f"/channels/{channel['id']}")
            return
        caller = channel.get("caller", {}).get("number", "")
        if purpose == "dial" and number in self.control.positions:
            await self._lots_read(channel["id"], number)
        parked = self.parking.at(_caller_domain(channel.get("name", "")), number)
        if purpose == "dial" and parked is not None:
            early = self._pending.pop(channel["id"])
            if any(e["type"] in DEPARTURES for e in early):
                log.info("channel %s dialled parking slot %s and hung up before its call "
                         "was taken back; the call stays in the lot", channel["id"], number)
                return
            await self.control.retrieve(channel, parked, early)
            return
        if purpose == "dial" and self._parked_elsewhere(number):
            await self._to_the_next_node(channel, caller, number)
            return
        call_id = new_call_id()
        logs.in_call(call_id, channel=channel["id"])  # this task starts the call
        plan, _ = await asyncio.gather(self._plan(purpose, channel, number, caller),
                                       self._label(channel["id"], call_id))
        waiting = self._pending.pop(channel["id"])
        if plan is None:
            self.call_log.publish(UnknownNumber(call_id=call_id, caller=caller, dialled=number))
            await self.ari.post(f"/channels/{channel['id']}/continue", {
                "context": "unknown-number", "extension": number, "priority": 1,
            })
            return
        name = channel.get("caller", {}).get("name", "")
        if purpose == "inbound":
            caller = plan.caller_number
            name = await present_trunk_caller(self.ari, call_id, channel, caller)
        self.call_log.publish(CallArrived(
            call_id=call_id, caller=caller, dialled=number, label=plan.label,
            channel_id=channel["id"], tenant_id=plan.tenant_id, ring_group_id=plan.group_id,
            strategy=plan.strategy, created=channel_created(channel)))
        hunt = self.new_hunt(call_id, channel["id"], plan)
        hunt.caller_notes_legs = True  # labelled above, offered through [stasis-wait]
        hunt.origin = Origin(number=caller, name=name, dialled=number,
                             inbound=purpose == "inbound",
                             endpoint=_caller_endpoint(channel.get("name", "")))
        await self._run(hunt, waiting)

    async def _lots_read(self, channel_id: str, slot: str) -> None:
        """A phone dialling a slot as the engine starts (AMI, which reads the lots,
        connects a moment after ARI): its parked call is found once they are read."""
        if self._ami_read.is_set():
            return
        log.info("channel %s dialled parking slot %s before the lots were read; waiting "
                 "for them", channel_id, slot)
        try:
            await asyncio.wait_for(self._ami_read.wait(), SLOT_WAIT)
        except TimeoutError:
            log.warning("channel %s: the parking lots were not read within %.0f s; slot %s "
                        "is looked up without them", channel_id, SLOT_WAIT, slot)

    async def _nowhere_to_park(self, channel_id: str, call_id: str) -> None:
        """A call going back to the lot found it full: nobody can take it any more."""
        log.warning("call %s: the parking lot is full; %s, which was going back to it, "
                    "is hung up", call_id, channel_id)
        await quietly(self.ari.delete(f"/channels/{channel_id}"))
        if call_id:
            self.call_log.publish(CallEnded(
                call_id=call_id, why="the parking lot was full when the call went back to "
                "it: hung up", cause=NORMAL_CLEARING))

    def _parked_elsewhere(self, number: str) -> bool:
        """A slot of the cluster's that another Asterisk node parks calls in."""
        return (self.other_asterisks is not None and number in self.cluster_slots
                and number not in self.control.positions)

    async def _to_the_next_node(self, channel: dict[str, Any], caller: str,
                                number: str) -> None:
        """A phone dialled a slot another node parks calls in: refused with 502 (Q.850
        27, destination out of order), on which the SIP edge sends the same INVITE to
        the next node (kamailio/edge.cfg), until the one with the slot has it."""
        self._pending.pop(channel["id"], None)
        log.info("%s dialled parking slot %s, another Asterisk node's: the SIP edge tries "
                 "the next node", caller, number)
        await quietly(self.ari.delete(f"/channels/{channel['id']}",
                                      {"reason_code": DESTINATION_OUT_OF_ORDER}))

    def new_hunt(self, call_id: str, caller_id: str, plan: HuntPlan) -> Hunt:
        """Every hunt this engine runs, made here: its ARI, call log and directory (for
        dispatch redirects) are the engine's."""
        return Hunt(self.ari, self, call_id, caller_id, plan, self.directory, self.call_log,
                    pauses=self.directory, other_nodes=self.other_asterisks,
                    registrations=self.registrations)

    async def _label(self, channel_id: str, call_id: str) -> None:
        """Name the call on its caller's channel (RB_CALL), so that a restarted ringbridge
        can close this call's record when it takes the caller up again."""
        try:
            await self.ari.post(f"/channels/{channel_id}/variable",
                                {"variable": CALL_VARIABLE, "value": call_id})
        except AriError as exc:  # the caller hung up already: the flow will see it
            log.debug("call %s: RB_CALL not set on %s: %s", call_id, channel_id, exc)

    async def _take_back(self, channel: dict[str, Any], args: list[str]) -> None:
        """A parked call timed out, or is being taken back (bridge/engine/call_control)."""
        waiting = self._pending.pop(channel["id"])
        hunt = await self.control.start(channel, args)
        if hunt is not None:
            await self._run(hunt, waiting)

    async def _run(self, hunt: Hunt, waiting: list[Event]) -> None:
        for early in waiting:  # e.g. the caller hung up while the call was being planned
            await self.deliver(hunt, early)
        if not hunt.done:
            await hunt.start()

    async def _plan(self, purpose: str, channel: dict[str, Any], number: str,
                    caller: str) -> HuntPlan | None:
        if purpose == "inbound":
            return await asyncio.to_thread(self.directory.route_did, number, caller)
        domain = _caller_domain(channel.get("name", ""))
        if domain:
            return await asyncio.to_thread(self.directory.route_dial, domain, number, caller)
        return await self._demo_plan(number)

    async def _demo_plan(self, number: str) -> HuntPlan | None:
        """Demo extensions (pjsip.conf, no tenant): a direct call when the endpoint exists."""
        try:
            await self.ari.get(f"/endpoints/PJSIP/{number}")
        except AriError as exc:
            if exc.status == 404:
                return None
            raise
        # PJSIP/<user>@<endpoint>: the same form as tenants' `<number>@<domain>` endpoints.
        target = Target(key=0, dial=f"PJSIP/{number}@{number}", label=number)
        return HuntPlan(label=f"extension {number}", waves=((target,),),
                        ring_time=self.settings.dial_timeout)

    async def resync(self) -> None:
        """After every (re)connect: push the extensions Asterisk lacks, reconcile calls
        with Asterisk, then push again those it had (bridge/engine/provisioning.py)."""
        metrics.ASTERISK_CONNECTS.labels("ari").inc()
        # A cluster node's Asterisk may have started afresh, without the edge's probe
        # endpoint: the follower opens it again once every extension is there.
        self._edge_open, self._endpoints_behind = False, True
        await self.provisioning.resync(self.extension_endpoints)
        await self._resync_calls()
        self.provisioning.push_again(self.extension_endpoints)

    async def _resync_calls(self) -> None:
        """Drop flows whose channels vanished while we were away, then take over what
        no flow runs (bridge/engine/takeover.py). After the first connect, the
        records the earlier process left open are closed (calls that ended while no
        ringbridge ran)."""
        channels = await self.ari.get("/channels")
        restarted = await self._asterisk_restarted()
        live = {channel["id"] for channel in channels}
        for flow in list(self._flows):
            await flow.resync(live, restarted)
        outcome = await self.takeover.run(channels)
        log.info("ARI connected: %d live channels, %d calls in progress, %s", len(live),
                 len(self._flows), ", ".join(f"{n} {what}" for what, n in
                                             sorted(outcome.items()) if n)
                 or "nothing to take over")
        if not self._earlier_closing:
            self._earlier_closing = True
            self._spawn(self._close_earlier())

    async def _asterisk_restarted(self) -> bool:
        """Whether Asterisk started again since the last connect (it lost every call)."""
        try:
            info = await self.ari.get("/asterisk/info", {"only": "status"})
        except AriError:
            return False
        started = str((info or {}).get("status", {}).get("startup_time", ""))
        restarted = self._asterisk_started not in (None, started)
        self._asterisk_started = started
        return restarted

    async def _close_earlier(self) -> None:
        """Parked calls are calls too: their records stay open, and those whose ring back
        Asterisk made are closed with it (the lots and ring backs are read on AMI's
        connect, which may come a moment after ARI's). A call with a channel or bridge
        in Asterisk goes on, run by this engine or another: its record stays open."""
        try:
            await asyncio.wait_for(self._ami_read.wait(), LOTS_READ_TIMEOUT)
        except TimeoutError:
            log.warning("the parking lots were not read within %.0f s: calls parked "
                        "while ringbridge was down may be recorded as ended",
                        LOTS_READ_TIMEOUT)
        try:
            in_asterisk = calls_in_asterisk(await self.ari.get("/channels"),
                                            await self.ari.get("/bridges"))
        except AriError as exc:
            log.warning("the calls in Asterisk were not read (%s): the records left open "
                        "are closed on the next connect", exc)
            self._earlier_closing = False
            return
        await asyncio.sleep(OTHERS_SETTLE)
        running = {flow.call_id for flow in self._flows} | {
            call.call_id for call in self.parking.all()} | in_asterisk
        closed = await self.closer.close_open(self.started_at, running)
        self._earlier_closed = True
        if closed:
            log.info("%d calls of the earlier ringbridge had ended while it was down; "
                     "their records are closed", closed)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._starting.add(task)
        task.add_done_callback(self._started)

    @property
    def legs_hung_up(self) -> set[str]:
        """The legs its takeovers hung up (bridge/engine/takeover.py)."""
        return self.takeover.hung_up_legs

    def owned_channels(self) -> set[str]:
        return set(self._flows_by_channel)

    def pending_channels(self) -> set[str]:
        """Callers whose call is being planned."""
        return set(self._pending)


def _channel_of(event: Event) -> str:
    """The channel an event is about: Dial's peer, a playback's or recording's target."""
    if event["type"] == "Dial":
        return str(event.get("peer", {}).get("id", ""))
    if "channel" in event:
        return str(event["channel"]["id"])
    operation = event.get("recording") or event.get("playback") or {}
    target = str(operation.get("target_uri", ""))
    return target.removeprefix("channel:") if target.startswith("channel:") else ""


def _caller_endpoint(channel_name: str) -> str:
    """`PJSIP/1001@acme.example-0000002a` → `1001@acme.example`."""
    return channel_name.split("/", 1)[-1].rsplit("-", 1)[0]


def _caller_domain(channel_name: str) -> str:
    """`PJSIP/1001@acme.example-0000002a` → `acme.example`; demo endpoints have none."""
    resource = _caller_endpoint(channel_name)
    return resource.split("@", 1)[1] if "@" in resource else ""


def _on_channel(error: AriError, channel_id: str) -> bool:
    """ARI answered 404 to a request on that channel (`/channels/<id>/...`)."""
    parts = error.path.split("/")
    return error.status == 404 and parts[1:3] == ["channels", channel_id]
