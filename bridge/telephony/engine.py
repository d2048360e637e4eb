"""The telephony engine: one asyncio loop that owns ARI, AMI and every call flow."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.config import Settings
from bridge.telephony.ami import AmiClient
from bridge.telephony.ari import AriClient, AriError
from bridge.telephony.call_control import PARK_FAILED, PARKING_TIMEOUT, UNPARKED, CallControl
from bridge.telephony.call_log import CallLog
from bridge.telephony.calls import (
    NORMAL_CLEARING,
    AdoptedCall,
    CallFlow,
    Event,
    new_call_id,
    quietly,
)
from bridge.telephony.endpoints import SipEndpoint
from bridge.telephony.hunt import Hunt, HuntPlan, Origin, Target
from bridge.telephony.orphans import Orphan, find_orphans
from bridge.telephony.parking import CALL_VARIABLE, ParkingLots, Positions
from bridge.telephony.provisioning import Provisioning
from bridge.telephony.ringouts_left import ringouts_left
from bridge.telephony.routing import Directory
from bridge.telephony.waiting_line import WaitingLines

log = logging.getLogger(__name__)


class LoopService(Protocol):
    """Something that lives on the engine's loop beside ARI and AMI (dispatch delivery)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class EngineStatus:
    """Each connection is ready once connected and resynced (endpoints pushed, calls
    adopted; parking lots read)."""

    ari: bool
    ami: bool


class Engine:
    """Routes ARI events to call flows and starts a flow for each call entering Stasis."""

    def __init__(self, settings: Settings,
                 extension_endpoints: Callable[[], list[SipEndpoint]],
                 directory: Directory, call_log: CallLog | None = None,
                 dispatch: LoopService | None = None,
                 open_ringouts: Callable[[datetime], list[str]] | None = None) -> None:
        """`extension_endpoints` reads every extension's endpoint from the database;
        `directory` turns dialled numbers into hunt plans; `call_log` records each step;
        `dispatch` sends the dispatch events that the directory's plans ask for;
        `open_ringouts` reads the ids of the RingOuts not ended, created before a time."""
        self.open_ringouts = open_ringouts
        self.started_at = datetime.now(UTC)
        self._ringouts_left_closed = False
        self.settings = settings
        self.dispatch = dispatch
        self.call_log = call_log or CallLog()
        self.extension_endpoints = extension_endpoints
        self.directory = directory
        self.app = settings.ari_app
        self.ari = AriClient(
            settings.ari_url, settings.ari_user, settings.ari_password, settings.ari_app,
            on_event=self.on_event, on_connected=self.resync,
        )
        self.ami = AmiClient(
            settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret,
            on_connected=self._ami_connected,
        )
        self.provisioning = Provisioning(self.ari)
        self.parking = ParkingLots(self.ami)
        self.control = CallControl(self, Positions.parse(settings.parking_positions))
        self._flows_by_channel: dict[str, CallFlow] = {}
        self._flows: set[CallFlow] = set()
        # Callers whose call is being planned (database lookups in a worker thread):
        # their events wait here, so planning never holds up other calls' events.
        self._pending: dict[str, list[Event]] = {}
        self._starting: set[asyncio.Task[None]] = set()
        self._workers: dict[CallFlow, asyncio.Task[None]] = {}  # flows with events queued
        self.waiting_lines = WaitingLines()

    def status(self) -> EngineStatus:
        return EngineStatus(ari=self.ari.ready, ami=self.ami.ready)

    async def run(self) -> None:
        if self.dispatch is not None:
            await self.dispatch.start()
        await asyncio.gather(self.ari.run(), self.ami.run())

    def stop_calls(self) -> None:
        """ringbridge is stopping: calls stay up in Asterisk, for the next ringbridge to
        adopt or take up (see resync), so no flow acts on Asterisk any more."""
        self.ari.refuse_requests()

    async def close(self) -> None:
        await self.waiting_lines.close()
        self.provisioning.close()
        await asyncio.gather(self.ari.close(), self.ami.close())
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

    @property
    def active_calls(self) -> int:
        return len(self._flows)

    @property
    def flows(self) -> list[CallFlow]:
        return list(self._flows)

    async def _ami_connected(self) -> None:
        await self.parking.reload()

    async def on_event(self, event: Event) -> None:
        """Hand the event to its call's flow and return at once: each flow works through
        its own events in order, so one call waiting on an ARI request never holds up
        another call's events."""
        channel_id = _channel_of(event)
        if event["type"] == "StasisStart" and (event.get("args") or [""])[0] == PARK_FAILED:
            self.parking.failed(channel_id)  # the flow parking it puts it back
            return
        flow = self._flows_by_channel.get(channel_id)
        if flow is not None:
            self.enqueue(flow, event)
        elif channel_id in self._pending:
            self._pending[channel_id].append(event)
        elif event["type"] == "StasisStart":
            self._pending[channel_id] = []
            task = asyncio.create_task(self._start_call(event))
            self._starting.add(task)
            task.add_done_callback(self._started)

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
        """The flow cannot go on as planned: it ends and hangs up what is left."""
        if isinstance(exc, AriError):  # usually a race with a hangup ("Channel not found")
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
        parked = self.parking.at(_caller_domain(channel.get("name", "")), number)
        if purpose == "dial" and parked is not None:
            await self.control.retrieve(channel, parked, self._pending.pop(channel["id"]))
            return
        call_id = new_call_id()
        plan, _ = await asyncio.gather(self._plan(purpose, channel, number, caller),
                                       self._label(channel["id"], call_id))
        waiting = self._pending.pop(channel["id"])
        if plan is None:
            self.call_log.step(call_id, "unknown", f"{caller} -> {number}: not a number we "
                               "know; announcing", caller=caller, dialled=number)
            await self.ari.post(f"/channels/{channel['id']}/continue", {
                "context": "unknown-number", "extension": number, "priority": 1,
            })
            return
        self.call_log.step(call_id, "arrived", f"{caller} -> {number} ({plan.label}, channel "
                           f"{channel['id']})", caller=caller, dialled=number,
                           tenant_id=plan.tenant_id, ring_group_id=plan.group_id)
        hunt = Hunt(self.ari, self, call_id, channel["id"], plan, self.directory,
                    self.call_log)
        hunt.origin = Origin(number=caller, name=channel.get("caller", {}).get("name", ""),
                             dialled=number, inbound=purpose == "inbound")
        await self._run(hunt, waiting)

    async def _label(self, channel_id: str, call_id: str) -> None:
        """Name the call on its caller's channel (RB_CALL), so that a restarted ringbridge
        can close this call's record when it takes the caller up again."""
        try:
            await self.ari.post(f"/channels/{channel_id}/variable",
                                {"variable": CALL_VARIABLE, "value": call_id})
        except AriError as exc:  # the caller hung up already: the flow will see it
            log.debug("call %s: RB_CALL not set on %s: %s", call_id, channel_id, exc)

    async def _take_back(self, channel: dict[str, Any], args: list[str]) -> None:
        """A parked call timed out, or is being taken back (bridge/telephony/call_control)."""
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
        """After every (re)connect: push extensions, then reconcile calls with Asterisk."""
        await self.provisioning.resync(self.extension_endpoints)
        await self._resync_calls()

    async def _resync_calls(self) -> None:
        """Drop flows whose channels vanished while we were away, adopt bridged calls and
        take up the calls that were being set up (bridge/telephony/orphans.py)."""
        channels = await self.ari.get("/channels")
        live = {channel["id"]: channel for channel in channels}
        for flow in list(self._flows):
            await flow.resync(set(live))
        adopted = await self._adopt_bridged(live)
        orphans = find_orphans(channels, {*self._flows_by_channel, *self._pending}, self.app)
        await self._take_up(orphans)
        await self._close_ringouts_left(live, orphans)
        log.info("ARI connected: %d live channels, %d calls in progress, %d adopted, "
                 "%d channels taken up again", len(live), len(self._flows), adopted,
                 len(orphans))

    async def _adopt_bridged(self, live: dict[str, dict[str, Any]]) -> int:
        """Keep up the bridged calls of an earlier ringbridge (bridges `rb-<call id>`)."""
        known = set(self._flows_by_channel)
        adopted = 0
        for bridge in await self.ari.get("/bridges"):
            members = [c for c in bridge.get("channels", []) if c in live and c not in known]
            if bridge["id"].startswith("rb-") and members:
                call = AdoptedCall(self.ari, self, bridge["id"].removeprefix("rb-"),
                                   self.call_log)
                call.bridge_id = bridge["id"]
                for channel_id in members:
                    call.adopt(channel_id)
                    call.found[channel_id] = live[channel_id]
                adopted += 1
        return adopted

    async def _take_up(self, orphans: list[Orphan]) -> None:
        """Calls that were being set up when ringbridge stopped. First their legs are
        hung up (the phones stop ringing for nobody, and are free for the new calls);
        then each caller starts again as a new call, as though it had just entered
        Stasis. A caller that cannot be put back where it was (already answered by
        voicemail or a prompt; a park that failed) is hung up. The old calls' records
        are closed."""
        legs = [orphan for orphan in orphans if orphan.args is None]
        for leg in legs:
            log.info("channel %s: a leg of call %s, which no flow runs any more; hanging up",
                     leg.id, leg.leg_of)
        await asyncio.gather(*(self._hang_up(leg.id) for leg in legs))
        old_calls = {leg.leg_of for leg in legs}
        for caller in (orphan for orphan in orphans if orphan.args is not None):
            call_id = await self._call_of(caller.id)
            if call_id is None:
                continue  # it hung up meanwhile
            old_calls.add(call_id)
            what = " ".join(caller.args or ())
            if caller.starts_again:
                log.info("channel %s: a caller (%s) no flow runs any more; starting its "
                         "call again", caller.id, what)
                await self.on_event({"type": "StasisStart", "channel": caller.channel,
                                     "args": list(caller.args or ())})
            else:
                log.info("channel %s: a caller (%s, %s) no flow runs any more and that "
                         "cannot start again; hanging up", caller.id, what, caller.state)
                await self._hang_up(caller.id)
        for call_id in old_calls - {""}:
            self.call_log.step(call_id, "ended", "ringbridge restarted while the call was "
                               "being set up; its caller was taken up again as a new call "
                               "(or hung up when that could not be)")

    async def _close_ringouts_left(self, live: dict[str, dict[str, Any]],
                                   orphans: list[Orphan]) -> None:
        """On the first connect only: end the RingOuts an earlier ringbridge left that
        nothing else closes (bridge/telephony/ringouts_left.py). Their `ended` step ends
        a ringing one as NoAnsweringMachine, a connected one as Finished; the bridge of a
        connected one, empty now, is destroyed."""
        if self.open_ringouts is None or self._ringouts_left_closed:
            return
        open_ids = await asyncio.to_thread(self.open_ringouts, self.started_at)
        bridges = {bridge["id"] for bridge in await self.ari.get("/bridges")}
        self._ringouts_left_closed = True
        closed_elsewhere = {flow.call_id for flow in self._flows} | {
            orphan.leg_of for orphan in orphans if orphan.args is None}
        for call_id in ringouts_left(open_ids, live, closed_elsewhere):
            self.call_log.step(call_id, "ended", "ringbridge restarted while the RingOut "
                               "was up; Asterisk had none of its channels left")
            if f"rb-{call_id}" in bridges:
                await quietly(self.ari.delete(f"/bridges/rb-{call_id}"))

    async def _call_of(self, channel_id: str) -> str | None:
        """The call id on a caller's channel ("" when it has none); None when the channel
        is gone."""
        try:
            answer = await self.ari.get(f"/channels/{channel_id}/variable",
                                        {"variable": CALL_VARIABLE})
        except AriError as exc:
            return None if exc.status == 404 else ""
        return str(answer.get("value", ""))

    async def _hang_up(self, channel_id: str) -> None:
        await quietly(self.ari.delete(f"/channels/{channel_id}",
                                      {"reason_code": NORMAL_CLEARING}))


def _channel_of(event: Event) -> str:
    """The channel an event is about: Dial's peer, a playback's or recording's target."""
    if event["type"] == "Dial":
        return str(event.get("peer", {}).get("id", ""))
    if "channel" in event:
        return str(event["channel"]["id"])
    operation = event.get("recording") or event.get("playback") or {}
    target = str(operation.get("target_uri", ""))
    return target.removeprefix("channel:") if target.startswith("channel:") else ""


def _caller_domain(channel_name: str) -> str:
    """`PJSIP/1001@acme.example-0000002a` → `acme.example`; demo endpoints have none."""
    resource = channel_name.split("/", 1)[-1].rsplit("-", 1)[0]
    return resource.split("@", 1)[1] if "@" in resource else ""
