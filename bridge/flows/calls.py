"""Call flows: small state machines driven by ARI events.

A flow owns a set of channels (by id). The engine routes every event that names one
of them to the flow's `handle`. Channel ids are chosen by us (`rb-<call>-<n>`) and
registered with the engine *before* the channel is created, so no early event
(StasisStart, Ringing) can arrive for a channel the engine does not know.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections import deque
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.flows.call_events import tell_dispatch
from bridge.flows.call_log import CallLog
from bridge.flows.earlier_calls import EarlierCall
from bridge.flows.events import CallEnded, CallEvent, Ending, RingOutEnded
from bridge.flows.waiting_line import WaitingLines

log = logging.getLogger(__name__)

Event = dict[str, Any]
_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 20
_ID_SPACE = len(_ALPHABET) ** _ID_LENGTH

# Q.850 causes: what the caller is told (chan_pjsip turns 17 into 486 Busy Here, ...).
NORMAL_CLEARING = 16
HANGUP_HANDLER = "CHANNEL(hangup_handler_push)"  # a channel variable that pushes one
# The caller's shared count of the legs its call made, set by each leg's creation to its
# own number: the caller's dialplan handler [rb-caller-left] notes its hangup on them.
LEGS_MADE = "SHARED(RB_LEGS,{caller})"
DIAL_STATUS_CAUSE = {
    "BUSY": 17,
    "NOANSWER": 19,
    "CHANUNAVAIL": 20,
    "CONGESTION": 34,
}


# Every ARI event type a flow or the engine acts on. Asterisk is asked for these only
# (the application's eventFilter): a flow that handles another type adds it here, or
# never gets it (tests/unit/test_ari_event_types.py looks for types used elsewhere).
ARI_EVENT_TYPES = frozenset({
    "CallBroadcast", "StasisStart", "StasisEnd", "ChannelStateChange", "ChannelHangupRequest",
    "ChannelDestroyed", "ChannelDtmfReceived", "Dial", "RecordingStarted",
    "RecordingFinished", "ChannelHold", "ChannelUnhold",
})


# The events that say a channel has gone (or is going).
DEPARTURES = frozenset({"ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"})

# Set on a bridged party when its peer hangs up (dialplan [rb-left]): "<epoch> <cause>".
PEER_LEFT = "SHARED(RB_PEER_LEFT)"

# The Stasis arguments of the channels the flows create (`appArgs`): `leg,<call id>` for
# a hunt's legs, `ringout,<RingOut id>` for a RingOut's.
HUNT_LEG, RINGOUT_LEG = "leg", "ringout"


def new_call_id() -> str:
    """An opaque, unguessable, URL-safe call id (the dispatch `callId`): 20 letters and
    digits from one draw of the system's randomness (a draw per letter cost a system
    call each, 20 per call)."""
    number = secrets.randbelow(_ID_SPACE)
    letters = []
    for _ in range(_ID_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        letters.append(_ALPHABET[digit])
    return "".join(letters)


class Ari(Protocol):
    """The part of AriClient the flows use (a fake one in unit tests)."""

    async def post(self, path: str, params: dict[str, Any] | None = None,
                   json: Any = None) -> Any: ...

    async def delete(self, path: str, params: dict[str, Any] | None = None) -> Any: ...

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any: ...


class Flows(Protocol):
    """The engine as the flows see it: channel registration, a flow's own event queue,
    ring groups' waiting lines, and the end of a flow."""

    app: str
    waiting_lines: WaitingLines

    def claim(self, channel_id: str, flow: CallFlow) -> None: ...

    def enqueue(self, flow: CallFlow, event: Event) -> None: ...

    def finished(self, flow: CallFlow) -> None: ...


class CallFlow:
    """Base of the call flows: owns channels, hangs everything up when it ends."""

    def __init__(self, ari: Ari, flows: Flows, call_id: str,
                 call_log: CallLog | None = None) -> None:
        self.ari = ari
        self.flows = flows
        self.call_id = call_id
        self.call_log = call_log or CallLog()
        self.channels: set[str] = set()
        self.claimed: set[str] = set()
        self.bridge_id: str | None = None
        self.recording: str | None = None  # the stored recording (the call's, a voicemail)
        self.done = False
        self.inbox: deque[Event] = deque()  # events the engine has queued for this flow
        self.started_at = datetime.now(UTC)
        self._next_leg = 0

    def publish(self, event: CallEvent) -> None:
        """Log and record one step of this call's path."""
        self.call_log.publish(event)

    def log_fields(self) -> dict[str, int | None]:
        """What the call's log lines name besides its id (bridge/logs.py)."""
        return {}

    def ending(self, why: str, cause: int | None) -> Ending:
        """The event that ends this call (flows add what their subscribers need)."""
        return CallEnded(call_id=self.call_id, why=why, cause=cause, received=self.started_at)

    def new_channel_id(self) -> str:
        self._next_leg += 1
        channel_id = f"rb-{self.call_id}-{self._next_leg}"
        self.adopt(channel_id)
        return channel_id

    def adopt(self, channel_id: str) -> None:
        """Route this channel's events here (`channels` holds those still up; `claimed`
        every one ever routed, so the engine can forget them all when the call ends)."""
        self.channels.add(channel_id)
        self.claimed.add(channel_id)
        self.flows.claim(channel_id, self)

    async def handle(self, event: Event) -> None:
        raise NotImplementedError

    async def end(self, why: str, cause: int | None = NORMAL_CLEARING) -> None:
        """Hang up every channel still up with `cause` (None: not known, e.g. Asterisk
        lost the call), destroy the bridge; idempotent."""
        if self.done:
            return
        self.done = True
        self.publish(self.ending(why, cause))
        reason = {} if cause is None else {"reason_code": cause}
        for channel_id in list(self.channels):
            await quietly(self.ari.delete(f"/channels/{channel_id}", reason))
        if self.bridge_id:
            await quietly(self.ari.delete(f"/bridges/{self.bridge_id}"))
        self.flows.finished(self)

    async def resync(self, live_channels: set[str], asterisk_restarted: bool = False) -> None:
        """After a reconnect: a flow that lost a channel while we were away ends. When
        Asterisk restarted meanwhile it lost the call: no cause is known."""
        lost = self.channels - live_channels
        if not lost:
            return
        self.channels -= lost
        gone = ", ".join(sorted(lost))
        if asterisk_restarted:
            await self.end(f"Asterisk restarted and lost channels {gone}", None)
        else:
            await self.end(f"channels {gone} gone while disconnected")


class AdoptedCall(CallFlow):
    """A bridged call found in Asterisk after a restart: keep it up, end it as a whole.

    `found` keeps each channel as ARI described it then (for the phone calls list);
    `earlier` is what the database knows of the call, whose dispatch `cleared` the end
    sends."""

    def __init__(self, ari: Ari, flows: Flows, call_id: str,
                 call_log: CallLog | None = None) -> None:
        super().__init__(ari, flows, call_id, call_log)
        self.found: dict[str, dict[str, Any]] = {}
        self.answered_at: datetime | None = None
        self.earlier: EarlierCall | None = None

    def follow(self, earlier: EarlierCall | None) -> None:
        """What the database knows of the call: its dispatcher hears of its answer (if
        still to come) and its end."""
        self.earlier = earlier
        if earlier is not None and earlier.events is not None:
            tell_dispatch(self.call_log, self.call_id, earlier.events, earlier.told)

    def ending(self, why: str, cause: int | None) -> Ending:
        earlier = self.earlier
        if earlier is None:
            return super().ending(why, cause)
        kind = RingOutEnded if earlier.ringout else CallEnded
        return kind(call_id=self.call_id, why=why, cause=cause, received=earlier.received,
                    answered_at=earlier.answered or self.answered_at, queue=earlier.queue,
                    agent_id=earlier.agent_id,
                    recorded=earlier.recorded or self.recording is not None)

    async def handle(self, event: Event) -> None:
        if event["type"] in DEPARTURES:
            channel_id = event["channel"]["id"]
            if channel_id in self.channels:
                self.channels.discard(channel_id)
                await self.end(f"{channel_id} hung up")


async def note_departures(ari: Ari, first: str, second: str) -> None:
    """Each party's hangup notes when and why on the other (dialplan [rb-left] sets
    PEER_LEFT), so a ringbridge that was down then can close the call at that time."""
    await asyncio.gather(note_departure(ari, first, second),
                         note_departure(ari, second, first))


async def note_departure(ari: Ari, party: str, peer: str) -> None:
    """`party`'s hangup notes when and why on `peer` (PEER_LEFT), if `peer` is still
    there then: a phone ringing for a caller learns when the caller left."""
    await quietly(ari.post(f"/channels/{party}/variable", {
        "variable": HANGUP_HANDLER, "value": departure_note(peer)}))


def departure_note(peer: str) -> str:
    """The hangup handler (HANGUP_HANDLER's value) that notes a departure on `peer`."""
    return f"rb-left,s,1({peer})"


async def quietly(request: Awaitable[Any]) -> None:
    """Cleanup requests race with Asterisk's own teardown: a 404 there is expected."""
    try:
        await request
    except Exception as exc:
        log.debug("cleanup request failed: %s", exc)
