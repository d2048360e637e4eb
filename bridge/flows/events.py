"""What happens to a call: one frozen dataclass per thing, published by the flows.

Each event is plain data (its call, when, and typed fields). `kind` is the step it is
stored as in the call's record and `text` the line logged and stored with it; both are
what the string steps before them were, word for word. Subscribers choose events by
type (bridge/flows/call_log.py), a base class taking in all its subclasses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypedDict, TypeVar

from bridge.gateway import CallState, LegState

H = TypeVar("H")
Queue = tuple[str | None, str | None]  # (queue id, queue type) of the group being hunted


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RecordOrigin:
    """Who called what, for the call's record (the event that opens it)."""

    caller: str
    dialled: str
    tenant_id: int | None = None
    ring_group_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class CallEvent:
    kind: ClassVar[str]
    # The call id was made for this event a moment ago: no record can have it yet.
    new_call: ClassVar[bool] = False
    call_id: str
    at: datetime = field(default_factory=_now)

    @property
    def text(self) -> str:
        raise NotImplementedError

    @property
    def target(self) -> str:
        """The party or recording the step is about, in the call's record."""
        return ""

    def origin(self) -> RecordOrigin | None:
        """Who called what, when this event may be the first of its call's record."""
        return None

    @property
    def read_back(self) -> bool:
        """Whether the engine reads this step back from the database at once: the
        call-record writer then writes it without lingering for the steps that follow."""
        return False


def subscribed(table: Mapping[type, Sequence[H]], event: CallEvent) -> list[H]:
    """The subscribers in `table` (by event type) for `event`: those of its type and of
    every base class it has, so a subscription to a base takes in all its subclasses."""
    return [handler for kind in type(event).__mro__ for handler in table.get(kind, ())]


# Arrivals.

@dataclass(frozen=True, kw_only=True)
class Arrival(CallEvent):
    kind: ClassVar[str] = "arrived"
    caller: str
    dialled: str
    tenant_id: int | None = None
    ring_group_id: int | None = None

    def origin(self) -> RecordOrigin:
        return RecordOrigin(self.caller, self.dialled, self.tenant_id, self.ring_group_id)


@dataclass(frozen=True, kw_only=True)
class CallArrived(Arrival):
    new_call: ClassVar[bool] = True
    label: str  # what the number is: "ring group 6002 (Sales)", "extension 2001"
    channel_id: str
    strategy: str = ""  # the ring group's (RING_SIMULTANEOUSLY...), "" for a direct call
    created: datetime | None = None  # when Asterisk made the caller's channel (its INVITE)

    @property
    def text(self) -> str:
        return f"{self.caller} -> {self.dialled} ({self.label}, channel {self.channel_id})"


@dataclass(frozen=True, kw_only=True)
class ParkedCallTakenBack(Arrival):
    """A phone (`caller`) dialled a parking slot (`dialled`) to take its call back."""

    @property
    def text(self) -> str:
        return f"{self.caller} takes back the call parked at {self.dialled}"


@dataclass(frozen=True, kw_only=True)
class ParkedCallRingingBack(Arrival):
    """A parked call timed out: it rings its parker (`dialled`) again."""

    @property
    def text(self) -> str:
        return f"the parking time ran out; ringing back {self.dialled}"


@dataclass(frozen=True, kw_only=True)
class UnknownNumber(Arrival):
    kind: ClassVar[str] = "unknown"
    new_call: ClassVar[bool] = True

    @property
    def text(self) -> str:
        return f"{self.caller} -> {self.dialled}: not a number we know; announcing"


# The hunt.

@dataclass(frozen=True, kw_only=True)
class CallerKnown(CallEvent):
    """Dispatch answered the invite with what it knows of the caller."""

    kind: ClassVar[str] = "invited"
    snapshot: dict[str, Any]

    @property
    def text(self) -> str:
        return f"dispatch knows the caller: {self.snapshot}"


@dataclass(frozen=True, kw_only=True)
class HuntStarted(CallEvent):
    kind: ClassVar[str] = "hunting"
    label: str
    waves: int
    ring_time: int

    @property
    def text(self) -> str:
        if self.ring_time <= 0:
            return f"not ringing {self.label}: its ring_time is 0"
        return f"hunting {self.label}: {self.waves} wave(s), {self.ring_time} s each"


@dataclass(frozen=True, kw_only=True)
class MemberEvent(CallEvent):
    """About one target of the hunt (`member`: its extension or external number)."""

    member: str

    @property
    def target(self) -> str:
        return self.member


@dataclass(frozen=True, kw_only=True)
class MemberSkipped(MemberEvent):
    kind: ClassVar[str] = "skipped"
    why: str

    @property
    def text(self) -> str:
        return f"passing over {self.member}: {self.why}"


@dataclass(frozen=True, kw_only=True)
class MemberDialled(MemberEvent):
    kind: ClassVar[str] = "dialling"
    channel_id: str

    @property
    def text(self) -> str:
        return f"ringing {self.member} ({self.channel_id})"


@dataclass(frozen=True, kw_only=True)
class MemberNotAnswered(MemberEvent):
    kind: ClassVar[str] = "rang"
    dial_status: str  # Asterisk's (NOANSWER, BUSY...), "" when it gave none
    cause: int

    @property
    def text(self) -> str:
        status = f"{self.dial_status}, " if self.dial_status else ""
        return f"{self.member} did not answer ({status}cause {self.cause})"


@dataclass(frozen=True, kw_only=True)
class HuntMemoryStep:
    """A member's step that the group's hunt memory keeps when `group_id` and
    `extension_id` are set (who rang and who answered, per member per group)."""

    group_id: int | None = None
    extension_id: int | None = None
    # The group's strategy orders its members by the hunt memory: its next call is
    # routed by what this step writes, which must not wait in the writer's linger.
    routes_by_memory: bool = False

    @property
    def read_back(self) -> bool:
        return self.routes_by_memory


@dataclass(frozen=True, kw_only=True)
class MemberRinging(HuntMemoryStep, MemberEvent):
    kind: ClassVar[str] = "ringing"

    @property
    def text(self) -> str:
        return f"{self.member} ringing"


@dataclass(frozen=True, kw_only=True)
class Answer(MemberEvent):
    kind: ClassVar[str] = "answered"


@dataclass(frozen=True, kw_only=True)
class MemberAnswered(HuntMemoryStep, Answer):
    """The first member to answer: the caller is bridged to it."""

    agent_id: str | None = None
    queue: Queue = (None, None)

    @property
    def text(self) -> str:
        return f"{self.member} answered; bridging"


@dataclass(frozen=True, kw_only=True)
class PageAnswered(HuntMemoryStep, Answer):
    """Another member answered a page (everyone who answers joins it)."""

    @property
    def text(self) -> str:
        return f"{self.member} answered the page too"


@dataclass(frozen=True, kw_only=True)
class AnsweredWhileDown(Answer):
    """A member answered while ringbridge was down; the caller is connected now."""

    agent_id: str | None = None
    queue: Queue = (None, None)

    @property
    def text(self) -> str:
        return (f"{self.member} answered while ringbridge was down; connected to the "
                "caller when it came back")


@dataclass(frozen=True, kw_only=True)
class HuntRepeated(CallEvent):
    kind: ClassVar[str] = "repeated"
    round: int
    rounds: int

    @property
    def text(self) -> str:
        return f"nobody answered; round {self.round} of {self.rounds}"


@dataclass(frozen=True, kw_only=True)
class PartyHeld(MemberEvent):
    """A party (`member`: its number) put the others on hold."""

    kind: ClassVar[str] = "hold"

    @property
    def text(self) -> str:
        return f"{self.member} put the call on hold"


@dataclass(frozen=True, kw_only=True)
class PartyResumed(MemberEvent):
    kind: ClassVar[str] = "unhold"

    @property
    def text(self) -> str:
        return f"{self.member} took the call off hold"


@dataclass(frozen=True, kw_only=True)
class PickedUp(MemberEvent):
    kind: ClassVar[str] = "picked-up"

    @property
    def text(self) -> str:
        return f"picked up for {self.member}"


@dataclass(frozen=True, kw_only=True)
class RedirectIgnored(CallEvent):
    kind: ClassVar[str] = "redirect"
    location: str
    why: str

    @property
    def text(self) -> str:
        return f"dispatch redirect to {self.location} ignored: {self.why}"

    @property
    def target(self) -> str:
        return self.location


@dataclass(frozen=True, kw_only=True)
class Redirected(CallEvent):
    kind: ClassVar[str] = "redirected"
    location: str
    label: str  # what the location rings

    @property
    def text(self) -> str:
        return f"dispatch redirected the call to {self.location} ({self.label})"

    @property
    def target(self) -> str:
        return self.location


@dataclass(frozen=True, kw_only=True)
class CallWaiting(CallEvent):
    kind: ClassVar[str] = "waiting"
    why: str
    label: str
    place: int
    priority: str
    max_wait: float

    @property
    def text(self) -> str:
        return (f"{self.why} in {self.label}: waiting, number {self.place} in line "
                f"(priority {self.priority}), up to {self.max_wait} s")


@dataclass(frozen=True, kw_only=True)
class WaitOver(CallEvent):
    kind: ClassVar[str] = "waited"
    label: str
    max_wait: float

    @property
    def text(self) -> str:
        return f"no member of {self.label} came free in {self.max_wait} s"


@dataclass(frozen=True, kw_only=True)
class Forwarded(MemberEvent):
    kind: ClassVar[str] = "forwarded"
    label: str  # what nobody answered

    @property
    def text(self) -> str:
        return f"nobody answered {self.label}; forwarding to {self.member}"


@dataclass(frozen=True, kw_only=True)
class RecordingEvent(CallEvent):
    name: str  # the recording's

    @property
    def target(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True)
class VoicemailStarted(RecordingEvent):
    kind: ClassVar[str] = "voicemail"
    label: str  # what nobody answered

    @property
    def text(self) -> str:
        return f"nobody answered {self.label}; recording a message as {self.name}"


@dataclass(frozen=True, kw_only=True)
class RecordingStarted(RecordingEvent):
    kind: ClassVar[str] = "recording"

    @property
    def text(self) -> str:
        return f"recording as {self.name}"


@dataclass(frozen=True, kw_only=True)
class RecordingFailed(RecordingEvent):
    kind: ClassVar[str] = "recording-failed"
    error: str

    @property
    def text(self) -> str:
        return f"the call cannot be recorded: {self.error}"


# Parking.

@dataclass(frozen=True, kw_only=True)
class ParkingFailed(CallEvent):
    kind: ClassVar[str] = "park-failed"
    channel_id: str

    @property
    def text(self) -> str:
        return f"{self.channel_id} could not be parked; back in the call"


@dataclass(frozen=True, kw_only=True)
class ParkedCallCameBack(MemberEvent):
    """Asterisk rang a parker back by itself (without the bridge running)."""

    kind: ClassVar[str] = "comeback"
    description: str

    @property
    def text(self) -> str:
        return self.description


# The end.

@dataclass(frozen=True, kw_only=True)
class Ending(CallEvent):
    """A call is over. `received`, `answered_at`, `queue`, `agent_id` (the member that
    answered) and `recorded` are what its dispatch `missed`/`cleared` tell."""

    kind: ClassVar[str] = "ended"
    why: str
    cause: int | None = None  # Q.850; None when not known
    received: datetime | None = None
    answered_at: datetime | None = None
    queue: Queue = (None, None)
    agent_id: str | None = None
    recorded: bool = False


@dataclass(frozen=True, kw_only=True)
class CallEnded(Ending):
    """Its flow ended the call."""

    @property
    def text(self) -> str:
        return f"ending ({self.why})"


@dataclass(frozen=True, kw_only=True)
class CallParked(CallEnded):
    """A party was parked (or went back to the lot): the call the parties had is over,
    for dispatch and subscribers, but the call itself goes on in the lot; its record
    stays open until the parked party hangs up or a call that takes it back ends."""

    kind: ClassVar[str] = "parked"

    @property
    def text(self) -> str:
        return self.why


@dataclass(frozen=True, kw_only=True)
class ParkedCallerLeft(Ending):
    """The parked party hung up while it waited in the lot."""

    @property
    def text(self) -> str:
        return self.why


@dataclass(frozen=True, kw_only=True)
class EndedWhileDown(Ending):
    """The call ended while no ringbridge ran it; `at` is when, as far as known."""

    @property
    def text(self) -> str:
        return self.why


@dataclass(frozen=True, kw_only=True)
class RingOutEnded(CallEnded):
    """A RingOut's flow ended it (its status row closes)."""


@dataclass(frozen=True, kw_only=True)
class RingOutEndedWhileDown(EndedWhileDown):
    """A RingOut ended while no ringbridge ran it (its status row closes)."""


class HuntMemoryKeys(TypedDict, total=False):
    """Set on the events of a member whose group keeps a hunt memory."""

    group_id: int
    extension_id: int
    routes_by_memory: bool




# The words a failed leg's step has always shown in call records.
_FAILED_LEG_WORDS = {LegState.BUSY: "Busy", LegState.NO_ANSWER: "NoAnswer",
                     LegState.UNREACHABLE: "GenericError"}


@dataclass(frozen=True, kw_only=True)
class RingOutStatusChanged(CallEvent):
    """A RingOut moved on: the states of the call and of each leg after the change."""

    kind: ClassVar[str] = "ringout"
    call: CallState
    caller: LegState
    callee: LegState


@dataclass(frozen=True, kw_only=True)
class RingOutStarted(RingOutStatusChanged):
    caller_number: str
    callee_number: str
    tenant_id: int
    owner: str = ""  # the number of the extension the RingOut is made for

    @property
    def text(self) -> str:
        return f"ringing {self.caller_number} first, then {self.callee_number}"

    def origin(self) -> RecordOrigin:
        return RecordOrigin(self.caller_number, self.callee_number, self.tenant_id)


@dataclass(frozen=True, kw_only=True)
class RingOutLegEvent(RingOutStatusChanged):
    leg: str  # the leg's extension number or E.164

    @property
    def target(self) -> str:
        return self.leg


@dataclass(frozen=True, kw_only=True)
class RingOutCallerAnswered(RingOutLegEvent):
    @property
    def text(self) -> str:
        return f"{self.leg} answered"


@dataclass(frozen=True, kw_only=True)
class RingOutCalleeRinging(RingOutLegEvent):
    @property
    def text(self) -> str:
        return f"ringing {self.leg}"


@dataclass(frozen=True, kw_only=True)
class RingOutConnected(RingOutLegEvent):
    @property
    def text(self) -> str:
        return f"{self.leg} answered; connecting"


@dataclass(frozen=True, kw_only=True)
class RingOutLegFailed(RingOutLegEvent):
    failure: LegState

    @property
    def text(self) -> str:
        return f"{self.leg}: {_FAILED_LEG_WORDS.get(self.failure, self.failure)}"


@dataclass(frozen=True, kw_only=True)
class RingOutNotConfirmed(RingOutStatusChanged):
    prompt_timeout: int

    @property
    def text(self) -> str:
        return f"no key pressed within {self.prompt_timeout} s"


@dataclass(frozen=True, kw_only=True)
class RingOutHungUp(RingOutStatusChanged):
    party: str  # "caller" or "callee"

    @property
    def text(self) -> str:
        return f"{self.party} hung up"


@dataclass(frozen=True, kw_only=True)
class RingOutCancelled(RingOutStatusChanged):
    @property
    def text(self) -> str:
        return "cancelled through the API"
