"""Snapshots of live calls, for the phone calls API.

Built on the engine's loop from the engine's own state (its hunt flows and the parking
lots), then handed to other threads: every object here is frozen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bridge.telephony.hunt import Hunt, Leg
from bridge.telephony.parking import ParkedCall


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


@dataclass(frozen=True)
class LiveCall:
    call_id: str
    domain: str  # the tenant's SIP domain
    published: datetime
    answered: datetime | None
    inbound: bool  # from the carrier
    dialled: str
    parties: tuple[Party, ...]

    def party(self, view: str) -> Party | None:
        return next((p for p in self.parties if p.view == view), None)


def snapshot(domain: str, flows: Iterable[object], parked: Iterable[ParkedCall]
             ) -> list[LiveCall]:
    """The tenant's calls: those the engine is hunting or has bridged, and parked ones."""
    calls = [_from_hunt(flow) for flow in flows
             if isinstance(flow, Hunt) and not flow.done and flow.plan.domain == domain]
    calls += [_from_parked(call) for call in parked]
    return sorted(calls, key=lambda call: call.published)


def _from_hunt(hunt: Hunt) -> LiveCall:
    ringing = any(leg.ringing_at for leg in hunt.legs.values())
    caller_state = (PartyState.UP if hunt.connected else
                    PartyState.OTHER_SIDE_RINGING if ringing else PartyState.TRYING)
    parties = []
    if hunt.caller_id in hunt.channels:
        parties.append(Party(
            view="00", channel_id=hunt.caller_id, number=hunt.origin.number,
            name=hunt.origin.name, external=hunt.origin.inbound, caller=True,
            state=caller_state, answered_at=hunt.answered_at))
    parties += [_leg_party(leg) for leg in hunt.legs.values()]
    return LiveCall(call_id=hunt.call_id, domain=hunt.plan.domain or "",
                    published=hunt.started_at, answered=hunt.answered_at,
                    inbound=hunt.origin.inbound, dialled=hunt.origin.dialled,
                    parties=tuple(parties))


def _leg_party(leg: Leg) -> Party:
    state = (PartyState.UP if leg.up else
             PartyState.RINGING if leg.ringing_at else PartyState.TRYING)
    return Party(view=leg.view, channel_id=leg.channel_id, number=leg.target.label,
                 name="", external=leg.target.dial.endswith("@carrier"), caller=False,
                 state=state, ringing_at=leg.ringing_at, answered_at=leg.answered_at)


def _from_parked(call: ParkedCall) -> LiveCall:
    called_out = call.direction == "out" and call.external  # the one we rang outside
    party = Party(view="00", channel_id=call.channel_id, number=call.number, name=call.name,
                  external=call.external, caller=not called_out, state=PartyState.UP,
                  parked=call)
    return LiveCall(call_id=call.call_id or call.channel_id, domain=call.domain,
                    published=call.parked_at, answered=call.parked_at,
                    inbound=call.direction == "in", dialled=call.slot, parties=(party,))
