"""RingOut: ring the user's own phone (leg 1), then the destination (leg 2), connect them.

Both legs are created with ids we choose (`rb-<call>-1`, `rb-<call>-2`), claimed before
creation and dialled on their StasisStart, like the hunt's legs. The bridge is named
`rb-<call>`, so after a restart of ringbridge the engine's resync adopts a connected
RingOut like any other bridged call. Each change is published as a
`RingOutStatusChanged` event with the neutral states of the call and of each leg (a
surface names them in its own vocabulary: bridge/surfaces/ringcentral/statuses.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from bridge.flows.call_log import CallLog
from bridge.flows.calls import (
    NORMAL_CLEARING,
    RINGOUT_LEG,
    Ari,
    CallFlow,
    Event,
    Flows,
    note_departures,
)
from bridge.flows.events import (
    Ending,
    RingOutCalleeRinging,
    RingOutCallerAnswered,
    RingOutCancelled,
    RingOutConnected,
    RingOutEnded,
    RingOutHungUp,
    RingOutLegFailed,
    RingOutNotConfirmed,
    RingOutStarted,
    RingOutStatusChanged,
)
from bridge.gateway import CallState, CancelOutcome, LegPlan, LegState, RingOutPlan, RingOutStates

log = logging.getLogger(__name__)

PROMPT = ("sound:vm-press", "sound:digits/1")  # "press ... one"
RINGBACK = "tone:ring"
LEG_FORMATS = "ulaw,alaw,gsm"
BACKSTOP_SECONDS = 5

# Dial statuses (the Dial event) and Q.850 causes (the hangup) → a leg's failure.
DIAL_STATUS = {"BUSY": LegState.BUSY, "NOANSWER": LegState.NO_ANSWER,
               "CHANUNAVAIL": LegState.UNREACHABLE, "CONGESTION": LegState.UNREACHABLE}
CAUSE_STATUS = {17: LegState.BUSY, 21: LegState.BUSY, 18: LegState.NO_ANSWER,
                19: LegState.NO_ANSWER}

Change = TypeVar("Change", bound=RingOutStatusChanged)


def leg_failure(dial_status: str, cause: int | None) -> LegState:
    """Why a leg that never answered failed."""
    if dial_status in DIAL_STATUS:
        return DIAL_STATUS[dial_status]
    return CAUSE_STATUS.get(cause or 0, LegState.UNREACHABLE)


class RingOut(CallFlow):
    def __init__(self, ari: Ari, flows: Flows, plan: RingOutPlan,
                 call_log: CallLog | None = None) -> None:
        super().__init__(ari, flows, plan.call_id, call_log)
        self.plan = plan
        self.status = RingOutStates()
        self.caller_leg = self.new_channel_id()
        self.callee_leg = ""
        self.up: set[str] = set()
        self.dial_status: dict[str, str] = {}
        self.connected = False
        self.awaiting_key = False
        self._timers: list[asyncio.TimerHandle] = []
        self._running: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        self._report(RingOutStarted, caller_number=self.plan.caller.label,
                     callee_number=self.plan.callee.label, tenant_id=self.plan.tenant_id,
                     owner=self.plan.owner)
        await self._create(self.caller_leg, self.plan.caller, {"formats": LEG_FORMATS})

    async def cancel(self) -> CancelOutcome:
        """DELETE: end the attempt unless both legs are connected."""
        if self.connected:
            return CancelOutcome(connected=True)
        if not self.done:
            for leg in (self.caller_leg, self.callee_leg):
                if leg and leg in self.channels:
                    self._set(leg, LegState.CANCELLED)
            self.status.call = CallState.NOT_REACHED
            self._report(RingOutCancelled)
            await self.end("cancelled through the API")
        return CancelOutcome(states=replace(self.status))

    # Events.

    async def handle(self, event: Event) -> None:
        match event["type"]:
            case "StasisStart":
                await self._dial(event["channel"]["id"])
            case "ChannelStateChange" if event["channel"]["state"] == "Up":
                await self._answered(event["channel"]["id"])
            case "ChannelDtmfReceived":
                await self._key(event["channel"]["id"], event.get("digit", ""))
            case "Dial":
                self._on_dial(event)
            case "ChannelHangupRequest" | "StasisEnd" | "ChannelDestroyed":
                await self._gone(event["channel"]["id"], event.get("cause"))

    async def _create(self, channel_id: str, leg: LegPlan, extra: dict[str, str]) -> None:
        try:
            # The leg's From comes from its connected line, set as Asterisk creates it.
            await self.ari.post("/channels/create", {
                "endpoint": leg.dial, "app": self.flows.app, "channelId": channel_id,
                "appArgs": f"{RINGOUT_LEG},{self.call_id}", **extra,
            }, json={"variables": {"CONNECTEDLINE(all,i)": f"<{leg.presented}>"}})
        except Exception as exc:  # an endpoint Asterisk cannot reach at all
            log.warning("call %s: cannot ring %s: %s", self.call_id, leg.label, exc)
            self.channels.discard(channel_id)
            await self._failed(channel_id, LegState.UNREACHABLE)

    async def _dial(self, channel_id: str) -> None:
        # Ours is the no-answer decision (Asterisk's own timeout, a backstop, reports
        # neither a cause nor a dial status we could tell apart).
        await self.ari.post(f"/channels/{channel_id}/dial",
                            {"timeout": self.plan.ring_time + BACKSTOP_SECONDS})
        self._after(self.plan.ring_time, lambda: self._ring_timeout(channel_id))

    async def _ring_timeout(self, channel_id: str) -> None:
        if channel_id in self.channels and channel_id not in self.up and not self.done:
            await self._failed(channel_id, LegState.NO_ANSWER)  # the end hangs the leg up

    async def _answered(self, channel_id: str) -> None:
        if channel_id in self.up or self.done:
            return
        self.up.add(channel_id)
        self._set(channel_id, LegState.ANSWERED)
        if channel_id == self.caller_leg:
            await self._caller_answered()
            return
        self.connected = True
        self.status.call = CallState.CONNECTED
        self._report(RingOutConnected, leg=self.plan.callee.label)
        await self._quietly(f"/playbacks/{self.call_id}-ringback", "DELETE")
        self.bridge_id = f"rb-{self.call_id}"
        await self.ari.post(f"/bridges/{self.bridge_id}", {"type": "mixing"})
        await self.ari.post(f"/bridges/{self.bridge_id}/addChannel",
                            {"channel": f"{self.caller_leg},{self.callee_leg}"})
        await note_departures(self.ari, self.caller_leg, self.callee_leg)

    async def _caller_answered(self) -> None:
        self._report(RingOutCallerAnswered, leg=self.plan.caller.label)
        if not self.plan.play_prompt:
            await self._ring_callee()
            return
        self.awaiting_key = True
        await self.ari.post(f"/channels/{self.caller_leg}/play/{self.call_id}-prompt",
                            {"media": ",".join(PROMPT)})
        self._after(self.plan.prompt_timeout, self._prompt_expired)

    async def _prompt_expired(self) -> None:
        if not self.awaiting_key or self.done:
            return
        self.awaiting_key = False
        # The user did not confirm (a voicemail may have answered): a leg not answered.
        self.status.caller, self.status.call = LegState.NO_ANSWER, CallState.NOT_REACHED
        self._report(RingOutNotConfirmed, prompt_timeout=self.plan.prompt_timeout)
        await self.end("no key pressed")

    async def _key(self, channel_id: str, digit: str) -> None:
        if channel_id != self.caller_leg or not self.awaiting_key or digit != "1":
            return
        self.awaiting_key = False
        await self._quietly(f"/playbacks/{self.call_id}-prompt", "DELETE")
        await self._ring_callee()

    async def _ring_callee(self) -> None:
        self.callee_leg = self.new_channel_id()
        self._report(RingOutCalleeRinging, leg=self.plan.callee.label)
        await self._quietly(f"/channels/{self.caller_leg}/play/{self.call_id}-ringback",
                            "POST", {"media": RINGBACK})
        await self._create(self.callee_leg, self.plan.callee,
                           {"originator": self.caller_leg})

    def _on_dial(self, event: Event) -> None:
        peer = event.get("peer", {}).get("id", "")
        status = event.get("dialstatus", "")
        if peer in self.channels and status:
            self.dial_status[peer] = status

    async def _gone(self, channel_id: str, cause: int | None) -> None:
        if channel_id not in self.channels or self.done:
            return
        self.channels.discard(channel_id)
        if channel_id in self.up:
            await self._hung_up(channel_id)
        else:
            await self._failed(channel_id, leg_failure(self.dial_status.get(channel_id, ""),
                                                       cause))

    async def _hung_up(self, channel_id: str) -> None:
        """An answered leg hung up: afterwards, or before leg 2 answered."""
        who = "caller" if channel_id == self.caller_leg else "callee"
        if self.connected:
            self.status.caller = self.status.callee = LegState.HUNG_UP
        else:
            self.status.caller = LegState.HUNG_UP
            if self.callee_leg in self.channels:
                self.status.callee = LegState.CANCELLED
            self.status.call = CallState.NOT_REACHED
        self._report(RingOutHungUp, party=who)
        await self.end(f"{who} hung up")

    async def _failed(self, channel_id: str, status: LegState) -> None:
        """A leg ended before answering: the attempt cannot reach its target."""
        self._set(channel_id, status)
        self.status.call = CallState.NOT_REACHED
        label = self.plan.caller.label if channel_id == self.caller_leg else self.plan.callee.label
        self._report(RingOutLegFailed, leg=label, failure=status)
        await self.end(f"{label} not reached ({status})")

    # Bookkeeping.

    async def end(self, why: str, cause: int | None = NORMAL_CLEARING) -> None:
        for timer in self._timers:
            timer.cancel()
        await super().end(why, cause)

    def log_fields(self) -> dict[str, int | None]:
        return {"tenant": self.plan.tenant_id}

    def ending(self, why: str, cause: int | None) -> Ending:
        return RingOutEnded(call_id=self.call_id, why=why, cause=cause,
                            received=self.started_at)

    def _after(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` on the loop in `seconds` unless the call ends first."""
        def fire() -> None:
            task = asyncio.ensure_future(action())
            self._running.add(task)
            task.add_done_callback(self._ran)

        self._timers.append(asyncio.get_running_loop().call_later(seconds, fire))

    def _ran(self, task: asyncio.Future[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s: a timer failed", self.call_id, exc_info=task.exception())

    def _set(self, channel_id: str, status: LegState) -> None:
        if channel_id == self.caller_leg:
            self.status.caller = status
        else:
            self.status.callee = status

    def _report(self, change: type[Change], **fields: Any) -> None:
        """Publish `change` with the states as they are now."""
        self.publish(change(call_id=self.call_id, call=self.status.call,
                            caller=self.status.caller, callee=self.status.callee, **fields))

    async def _quietly(self, path: str, method: str, params: dict[str, Any] | None = None
                       ) -> None:
        """Ringback and prompt playbacks are best effort: the call goes on without them."""
        try:
            if method == "DELETE":
                await self.ari.delete(path)
            else:
                await self.ari.post(path, params)
        except Exception as exc:
            log.debug("call %s: %s %s failed: %s", self.call_id, method, path, exc)
