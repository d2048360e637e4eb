"""The engine as the API sees it: one Protocol, plain data in and out, its own errors.

Nothing here knows Asterisk. This is the seam the engine will move across a process
boundary, so every argument and result is a frozen dataclass (or str, int, a list of
them) and every failure one of the errors below: the engine side turns its own
(ARI, AMI, call control, a timeout) into them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Protocol

# What a caller name cannot carry into a PJSIP callerid (`"name" <number>`) and a SIP
# display name: control characters (CR/LF end a header), the quote that closes the
# name, the backslash that escapes inside it, the angle brackets of the address and the
# semicolon that starts a parameter.
UNSAFE_IN_CALLER_NAME = re.compile(r'[\x00-\x1f\x7f-\x9f"\\<>;]')

# No gateway call blocks longer (a park waits for Asterisk's confirmation, 5 s at most).
LONGEST_WAIT = 15.0
DID_NOT_ANSWER = "the telephony engine did not answer in time"
BEHIND = ("the telephony engine is behind Asterisk and takes no new call until it "
          "catches up; retry shortly")


@dataclass(frozen=True)
class SipEndpoint:
    endpoint_id: str  # "<extension number>@<tenant SIP domain>"
    username: str
    password: str
    caller_name: str
    number: str

    @property
    def domain(self) -> str:
        """The tenant's SIP domain: the host of the From of every INVITE to this phone."""
        return self.endpoint_id.partition("@")[2]


@dataclass(frozen=True)
class Target:
    """One phone to ring."""

    key: int  # extension id (hunt memory is kept per extension); 0 for ad hoc targets
    dial: str  # ARI endpoint, e.g. "PJSIP/2002@2002@acme.example" or "PJSIP/+44...@carrier"
    label: str  # for logs: the extension number or external number
    agent_id: str | None = None
    caller_number: str | None = None  # presented on this leg (forwards out of a trunk)
    caller_name: str = ""  # with caller_number: the display name presented


@dataclass(frozen=True)
class Positions:
    """A lot's slots, e.g. 701-720."""

    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> Positions:
        first, _, last = text.partition("-")
        try:
            positions = cls(int(first), int(last or first))
        except ValueError as exc:
            raise ValueError(f"parking positions must look like 701-720, got {text!r}") from exc
        if not 0 < positions.first <= positions.last:
            raise ValueError(f"parking positions {text!r} are not a range")
        return positions

    @property
    def capacity(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, slot: object) -> bool:
        return (isinstance(slot, str) and slot.isascii() and slot.isdigit()
                and self.first <= int(slot) <= self.last)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


@dataclass(frozen=True)
class ParkedCall:
    channel_id: str  # the parked channel's unique id (= its ARI channel id)
    channel: str  # its name, for AMI actions
    lot: str
    slot: str
    number: str  # the parked party's number
    name: str
    parked_at: datetime
    timeout: int  # seconds in the lot before it rings back the parker
    call_id: str  # ringbridge's id of the call it was parked from
    parker: str  # the extension that parked it (rung back at the timeout)
    direction: str = ""  # of the call it was parked from: "in", "out" or "" (local)
    published: datetime | None = None  # when the call it was parked from began
    # What the call was before it was parked, so that it keeps its identity in the lot
    # and when it is taken back: when it was first answered, the parked party's view,
    # the last view number given, its caller's number, the number dialled and the
    # extension charged.
    answered: datetime | None = None
    view: str = ""
    views: int = 0
    source: str = ""
    dialled: str = ""
    charged: str = ""


class PartyState(Enum):
    TRYING = "trying"  # a leg being set up
    RINGING = "ringing"  # a leg whose phone rings
    OTHER_SIDE_RINGING = "other side ringing"  # a caller hearing ringback
    UP = "up"  # talking, or parked


@dataclass(frozen=True)
class Party:
    view: str  # "00" the caller, "01"... the parties rung for it
    channel_id: str
    number: str  # extension number or external (E.164) number
    name: str
    external: bool  # reached through the carrier
    caller: bool
    state: PartyState
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    parked: ParkedCall | None = None
    on_hold_at: datetime | None = None  # when this party was put on hold
    holder: str = ""  # the number of the party that put it on hold


@dataclass(frozen=True)
class LiveCall:
    call_id: str
    domain: str  # the tenant's SIP domain
    published: datetime
    answered: datetime | None
    inbound: bool  # from the carrier
    dialled: str
    parties: tuple[Party, ...]
    source: str = ""  # the number of the call's caller
    charged: str = ""  # the extension charged: the caller's, else the one reached

    def party(self, view: str) -> Party | None:
        return next((p for p in self.parties if p.view == view), None)


@dataclass(frozen=True)
class LegPlan:
    dial: str  # ARI endpoint: "PJSIP/3001@3001@acme.example" or "PJSIP/+4420...@carrier"
    label: str  # extension number or E.164, for logs and call records
    presented: str  # the number this leg's phone sees as the caller (its From)


@dataclass(frozen=True)
class RingOutPlan:
    """Everything the engine needs to run one RingOut (built by the RingOut service)."""

    call_id: str
    tenant_id: int
    caller: LegPlan
    callee: LegPlan
    play_prompt: bool
    ring_time: int
    prompt_timeout: int
    owner: str = ""  # the number of the extension the RingOut is made for


class CallState(StrEnum):
    """A RingOut's call, in neutral words (a surface names them in its own vocabulary:
    bridge/surfaces/ringcentral/statuses.py)."""

    TRYING = "trying"
    CONNECTED = "connected"  # both legs answered
    NOT_REACHED = "not-reached"  # a leg failed, was cancelled, or hung up first


class LegState(StrEnum):
    """A RingOut leg, in neutral words."""

    CALLING = "calling"  # not answered yet (or not dialled yet)
    ANSWERED = "answered"
    HUNG_UP = "hung-up"  # answered, then hung up
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"


@dataclass
class RingOutStates:
    call: CallState = CallState.TRYING
    caller: LegState = LegState.CALLING
    callee: LegState = LegState.CALLING


@dataclass(frozen=True)
class CancelOutcome:
    """What a cancel did: refused (connected), or the states it left (None: no flow
    of this RingOut runs here, e.g. it was started before a restart)."""

    connected: bool = False
    states: RingOutStates | None = None


@dataclass(frozen=True)
class EngineStatus:
    """Each connection is ready once connected and resynced (endpoints pushed, calls
    adopted; parking lots read)."""

    ari: bool
    ami: bool


@dataclass(frozen=True)
class EngineOverview:
    """The engine's state at a glance (`ringbridge status`)."""

    status: EngineStatus
    started_at: datetime
    calls_up: int  # calls the engine runs (hunted, talking, RingOuts; parked calls not)
    parked: int  # calls in ringbridge's parking lots
    lines: dict[int, tuple[int, float]]  # by ring group id: calls waiting, longest wait (s)
    outbox: int  # dispatch events stored and not yet delivered or given up


@dataclass(frozen=True)
class Waiting:
    """A call in a ring group's waiting line."""

    call_id: str
    priority: str  # the dispatcher's (urgent, high, normal, low)
    since: datetime  # when it joined the line


@dataclass(frozen=True)
class PanelView:
    """What the engine knows of one tenant for a live view (the operator panel)."""

    calls: tuple[LiveCall, ...]  # its live calls, parked ones included
    lines: dict[int, tuple[Waiting, ...]]  # by ring group id: its calls waiting, first first
    registered: frozenset[str]  # its extension numbers with a registered phone
    time_left: dict[str, float]  # by parked channel id: seconds until it rings back


class GatewayError(Exception):
    """The engine could not do what it was asked; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallRefused(GatewayError):
    """An action the call's state does not allow; `reason` is one of the constants."""

    NO_CALL = "no_call"
    NO_VIEW = "no_view"
    NOT_CONNECTED = "not_connected"
    ANSWERED = "answered"
    ADOPTED = "adopted"
    LOT_FULL = "lot_full"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type[CallRefused], tuple[str, str]]:
        """Pickled with its reason (it crosses from the engine's process to the API's)."""
        return type(self), (self.reason, self.message)


class CallChanged(GatewayError):
    """Asterisk refused an action on the call, e.g. a party hung up at that very moment."""


class EngineUnavailable(GatewayError):
    """The engine did not answer in time; it may or may not have acted."""


class EngineNotReached(EngineUnavailable):
    """Nothing was done: the call never reached the engine (its process is not
    running), or the engine declined it (BEHIND)."""


class EngineGateway(Protocol):
    """Everything the API asks of the engine. Methods block the calling (API) thread;
    live-call actions raise the errors above."""

    def status(self) -> EngineStatus:
        """Whether the engine is connected to Asterisk and ready for calls."""

    def overview(self) -> EngineOverview:
        """The engine's state now: its links, calls, lots, waiting lines and outbox."""

    def changes(self, seen: int, wait: float) -> int:
        """The count of the engine's changes a live view shows (calls, waiting lines,
        parking lots, registrations), once it is not `seen`; at most `wait` seconds on."""

    def panel(self, domain: str) -> PanelView:
        """The tenant's (SIP domain's) live calls, waiting lines and registrations."""

    def push(self, endpoint: SipEndpoint) -> None:
        """Make a committed extension's endpoint real in Asterisk."""

    def remove(self, endpoint_id: str) -> None:
        """Remove a deleted extension's endpoint from Asterisk."""

    def delete_recordings(self, names: list[str]) -> list[str]:
        """Delete stored recordings from Asterisk; returns those it could not delete."""

    def start_ringout(self, plan: RingOutPlan) -> None:
        """Hand the call to the engine; returns at once."""

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        """End the attempt unless connected; blocks until the engine answers."""

    def live_calls(self, domain: str) -> list[LiveCall]:
        """The tenant's (SIP domain's) live calls, parked ones included."""

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        """Park the call's party `view`; rung back on `parker` after `timeout` seconds."""

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        """Ring `target` for a parked call; returns the id the call continues under."""

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        """Ring `target` for a ringing or parked call; returns the id it continues under."""

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        """Hang up the call (or only its party `view`); returns the views hung up."""
