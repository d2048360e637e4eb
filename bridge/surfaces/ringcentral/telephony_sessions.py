"""Calls as RingCentral's telephony sessions: the engine's call events followed, and
each change of a party's status told as a session with all its parties.

A RingOut is a session of two parties: `-1` the phone rung first (`from`; Outbound, as
the user calls out through it), `-2` the number called once it has answered (`to`;
Inbound). Their status follows the RingOut's leg
statuses one for one (`LEG_CODES`), so a subscriber sees what a client polling the
RingOut reads. A hunted call (a ring group's, or an extension's) is a session whose
party `-1` is the caller and whose further parties are the members rung, in the order
they were rung.

Party status codes are RingCentral's: `Proceeding` (ringing), `Answered`,
`Disconnected` (with the reason, in the RingOut statuses' words where there are some).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bridge.api.formats import rfc3339
from bridge.flows.events import (
    Answer,
    CallArrived,
    CallEvent,
    Ending,
    MemberNotAnswered,
    MemberRinging,
    RingOutCalleeRinging,
    RingOutStarted,
    RingOutStatusChanged,
)
from bridge.gateway import LegState
from bridge.surfaces.ringcentral.statuses import LEG_STATUS

PROCEEDING, ANSWERED, DISCONNECTED = "Proceeding", "Answered", "Disconnected"
LEG_CODES = {LegState.CALLING: PROCEEDING, LegState.ANSWERED: ANSWERED}
DIAL_REASONS = {"BUSY": "Busy", "NOANSWER": "NoAnswer", "CANCEL": "Rejected"}
FINISHED = "Finished"


@dataclass(frozen=True)
class Party:
    id: str
    direction: str  # Inbound, Outbound
    number: str  # the party's own number (an extension number, or E.164)
    peer: str  # the number on the other end, as this party sees it
    code: str
    reason: str | None = None


@dataclass
class Session:
    call_id: str
    tenant_id: int
    origin: str  # RingOut, Call
    owner: str | None  # a RingOut's extension number
    parties: list[Party] = field(default_factory=list)
    sequence: int = 0

    def numbers(self) -> set[str]:
        """The numbers of its parties (and its owner): who may subscribe to it."""
        return {party.number for party in self.parties} | (
            {self.owner} if self.owner else set())


@dataclass(frozen=True)
class SessionChange:
    """A session as it stands after a change, and when the change happened."""

    session: Session
    at: datetime
    ended: bool


class SessionTracker:
    """Follows call events; `apply` says how a session changed, if it did."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def apply(self, event: CallEvent) -> SessionChange | None:
        session = self._sessions.get(event.call_id)
        before: list[Party] = []  # a new session: its first parties are a change
        if session is None:
            session = self._started(event)
            if session is None:
                return None
            self._sessions[event.call_id] = session
        else:
            before = list(session.parties)
        ended = isinstance(event, Ending)
        if ended:
            self._sessions.pop(event.call_id, None)
            session.parties = [_ended(party) for party in session.parties]
        elif isinstance(event, RingOutStatusChanged):
            _ringout_change(session, event)
        else:
            _hunt_change(session, event)
        if session.parties == before:
            return None
        session.sequence += 1
        return SessionChange(replace(session, parties=list(session.parties)), event.at, ended)

    def _started(self, event: CallEvent) -> Session | None:
        if isinstance(event, RingOutStarted):
            return Session(event.call_id, event.tenant_id, "RingOut", event.owner or None)
        if isinstance(event, CallArrived) and event.tenant_id is not None:
            return Session(event.call_id, event.tenant_id, "Call", None, [Party(
                f"p-{event.call_id}-1", "Outbound", event.caller, event.dialled,
                PROCEEDING)])
        return None


def _ringout_change(session: Session, event: RingOutStatusChanged) -> None:
    if isinstance(event, RingOutStarted):
        session.parties = [Party(f"p-{event.call_id}-1", "Outbound", event.caller_number,
                                 event.callee_number, PROCEEDING)]
    elif isinstance(event, RingOutCalleeRinging) and len(session.parties) == 1:
        first = session.parties[0]
        session.parties.append(Party(f"p-{event.call_id}-2", "Inbound", first.peer,
                                     first.number, PROCEEDING))
    states = (event.caller, event.callee)
    session.parties = [_leg_status(party, state)
                       for party, state in zip(session.parties, states, strict=False)]


def _leg_status(party: Party, state: LegState) -> Party:
    code = LEG_CODES.get(state, DISCONNECTED)
    return replace(party, code=code,
                   reason=LEG_STATUS[state] if code == DISCONNECTED else None)


def _hunt_change(session: Session, event: CallEvent) -> None:
    caller, *members = session.parties
    if isinstance(event, MemberRinging):
        members.append(Party(f"p-{event.call_id}-{len(session.parties) + 1}", "Inbound",
                             event.member, caller.number, PROCEEDING))
    elif isinstance(event, Answer):
        caller = replace(caller, code=ANSWERED)
        members = [replace(party, code=ANSWERED) if _rung(party, event.member) else party
                   for party in members]
    elif isinstance(event, MemberNotAnswered):
        reason = DIAL_REASONS.get(event.dial_status, "NoAnswer")
        members = [replace(party, code=DISCONNECTED, reason=reason)
                   if _rung(party, event.member) else party for party in members]
    session.parties = [caller, *members]


def _rung(party: Party, member: str) -> bool:
    """The member's party while it rings (a member rung again has a new party)."""
    return party.number == member and party.code == PROCEEDING


def _ended(party: Party) -> Party:
    if party.code == DISCONNECTED:
        return party
    return replace(party, code=DISCONNECTED, reason=FINISHED)


def session_body(change: SessionChange, account_id: str,
                 extension_ids: dict[str, str]) -> dict[str, Any]:
    """The notification's `body`: the session and every party. `extension_ids` gives
    the API ids of the parties that are extensions of the tenant, by number."""
    session = change.session
    return {
        "sequence": session.sequence, "sessionId": session.call_id,
        "telephonySessionId": f"s-{session.call_id}", "serverId": "ringbridge",
        "eventTime": rfc3339(change.at),
        "origin": {"type": session.origin},
        "parties": [_party(party, account_id, extension_ids) for party in session.parties],
    }


def _party(party: Party, account_id: str, extension_ids: dict[str, str]) -> dict[str, Any]:
    own, peer = {"phoneNumber": party.number}, {"phoneNumber": party.peer}
    for side in (own, peer):
        if side["phoneNumber"] in extension_ids:
            side["extensionId"] = extension_ids[side["phoneNumber"]]
    ends = (peer, own) if party.direction == "Inbound" else (own, peer)
    status: dict[str, str] = {"code": party.code}
    if party.reason:
        status["reason"] = party.reason
    body: dict[str, Any] = {"id": party.id, "accountId": account_id,
                            "direction": party.direction, "from": ends[0], "to": ends[1],
                            "status": status, "missedCall": False, "standAlone": False,
                            "muted": False}
    if party.number in extension_ids:
        body["extensionId"] = extension_ids[party.number]
    return body
