"""Snapshots of live calls, for the phone calls API.

Built on the engine's loop from the engine's own state (its hunt flows and the parking
lots), then handed to other threads: every object here is frozen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from bridge.engine.parking import parked_domain, parked_outside
from bridge.engine.trunks import is_trunk
from bridge.flows.calls import AdoptedCall
from bridge.flows.hunt import Hunt, Leg
from bridge.gateway import LiveCall, ParkedCall, Party, PartyState

CALLER_VIEW = "00"


def snapshot(domain: str, flows: Iterable[object], parked: Iterable[ParkedCall]
             ) -> list[LiveCall]:
    """The tenant's calls: those the engine is hunting or has bridged (or adopted after a
    restart), and parked ones."""
    calls = [_from_hunt(flow) for flow in flows
             if isinstance(flow, Hunt) and not flow.done and flow.plan.domain == domain]
    calls += [call for flow in flows if isinstance(flow, AdoptedCall) and not flow.done
              and (call := _from_adopted(flow)).domain == domain]
    calls += [_from_parked(call) for call in parked]
    return sorted(calls, key=lambda call: call.published)


def _from_hunt(hunt: Hunt) -> LiveCall:
    ringing = any(leg.ringing_at for leg in hunt.legs.values())
    caller_state = (PartyState.UP if hunt.connected else
                    PartyState.OTHER_SIDE_RINGING if ringing else PartyState.TRYING)
    before = hunt.before
    answered = before.answered if before is not None and before.answered else \
        hunt.answered_at
    parties = []
    if hunt.caller_id in hunt.channels:
        parties.append(Party(
            view=hunt.caller_view, channel_id=hunt.caller_id, number=hunt.origin.number,
            name=hunt.origin.name, external=_caller_outside(hunt),
            caller=hunt.caller_view == CALLER_VIEW, state=caller_state,
            answered_at=_kept_answer(hunt, hunt.caller_view) or hunt.answered_at))
    parties += [_leg_party(leg, _kept_answer(hunt, leg.view)) for leg in hunt.legs.values()]
    parties = sorted((_held(party, hunt) for party in parties), key=lambda party: party.view)
    published, inbound, dialled, source, kept_charge = (
        (hunt.started_at, hunt.origin.inbound, hunt.origin.dialled, hunt.origin.number, "")
        if before is None else (before.published or hunt.started_at,
                                before.direction == "in", before.dialled, before.source,
                                before.charged))
    return LiveCall(call_id=hunt.call_id, domain=hunt.plan.domain or "",
                    published=published, answered=answered, inbound=inbound,
                    dialled=dialled, parties=tuple(parties), source=source,
                    charged=kept_charge or charged(parties))


def _held(party: Party, hunt: Hunt) -> Party:
    """A party another party holds: since when, and by whom."""
    holder = next(((channel, since) for channel, since in hunt.holding.items()
                   if channel != party.channel_id), None)
    if holder is None:
        return party
    return replace(party, on_hold_at=holder[1], holder=hunt.number_of(holder[0]))


def _caller_outside(hunt: Hunt) -> bool:
    """The hunt's caller came from the carrier (or, taken back, was an outside party)."""
    if hunt.before is not None and hunt.caller_view == hunt.before.view:
        return parked_outside(hunt.before)
    return hunt.origin.inbound


def _kept_answer(hunt: Hunt, view: str) -> datetime | None:
    """When the parked party of a call taken back was first answered."""
    before = hunt.before
    return before.answered if before is not None and view == before.view else None


def charged(parties: Iterable[Party]) -> str:
    """The extension charged: the caller's on local and outgoing calls, else the one
    reached (the first party that is not outside)."""
    return next((p.number for p in parties if not p.external), "")


def _leg_party(leg: Leg, answered: datetime | None) -> Party:
    state = (PartyState.UP if leg.up else
             PartyState.RINGING if leg.ringing_at else PartyState.TRYING)
    return Party(view=leg.view, channel_id=leg.channel_id, number=leg.target.label,
                 name="", external=leg.external, caller=leg.view == CALLER_VIEW,
                 state=state, ringing_at=leg.ringing_at,
                 answered_at=answered or leg.answered_at)


def _from_adopted(call: AdoptedCall) -> LiveCall:
    """What ARI told about the channels when the call was adopted: the caller's channel
    is Asterisk's (a unique id), the others are legs ringbridge made (`rb-<call>-<n>`)."""
    found = {cid: channel for cid, channel in call.found.items() if cid in call.channels}
    parties = tuple(sorted((_adopted_party(cid, ch, call.answered_at)
                            for cid, ch in found.items()),
                           key=lambda party: party.view))
    caller = next((ch for cid, ch in found.items() if not cid.startswith("rb-")), {})
    domains = [channel_resource(ch)[1] for ch in found.values() if channel_resource(ch)[1]]
    return LiveCall(call_id=call.call_id, domain=domains[0] if domains else "",
                    published=channel_created(caller) or call.started_at,
                    answered=call.answered_at,
                    inbound=bool(caller) and is_trunk(channel_resource(caller)[0]),
                    dialled=caller.get("dialplan", {}).get("exten", ""), parties=parties,
                    source=next((p.number for p in parties if p.caller), ""),
                    charged=charged(parties))


def _adopted_party(channel_id: str, channel: dict[str, Any],
                   answered: datetime | None) -> Party:
    user, _ = channel_resource(channel)
    is_caller = not channel_id.startswith("rb-")
    external = is_trunk(user)
    side = "caller" if is_caller else "connected"
    number = channel.get(side, {}).get("number", "") if external else user
    return Party(view="00" if is_caller else f"{int(channel_id.rsplit('-', 1)[1]):02d}",
                 channel_id=channel_id, number=number,
                 name=channel.get("caller", {}).get("name", "") if is_caller else "",
                 external=external, caller=is_caller, state=PartyState.UP,
                 answered_at=answered)


def channel_resource(channel: dict[str, Any]) -> tuple[str, str]:
    """`PJSIP/4001@acme.example-0000002a` → ("4001", "acme.example"); demo and carrier
    endpoints have no domain."""
    resource = str(channel.get("name", "")).split("/", 1)[-1].rsplit("-", 1)[0]
    user, _, domain = resource.partition("@")
    return user, domain


def channel_created(resource: dict[str, Any]) -> datetime | None:
    """ARI's `creationtime` of a channel or bridge (`2026-12-07T08:00:00.123+0000`).
    Read once per call: fromisoformat costs a fiftieth of strptime with a format."""
    try:
        return datetime.fromisoformat(str(resource.get("creationtime")))
    except ValueError:
        return None


def _from_parked(call: ParkedCall) -> LiveCall:
    """A parked call, as the call it was parked from (its id, times, caller, number
    dialled and charged extension, kept on the parked channel); one parked by another
    means than ringbridge has only what Asterisk tells."""
    outside = parked_outside(call)
    view = call.view or CALLER_VIEW
    called_out = call.direction == "out" and outside  # the one we rang outside
    party = Party(view=view, channel_id=call.channel_id, number=call.number, name=call.name,
                  external=outside, caller=view == CALLER_VIEW if call.view else not called_out,
                  state=PartyState.UP, answered_at=call.answered, parked=call)
    return LiveCall(call_id=call.call_id or call.channel_id, domain=parked_domain(call),
                    published=call.published or call.parked_at, answered=call.answered,
                    inbound=call.direction == "in", dialled=call.dialled or call.slot,
                    parties=(party,), source=call.source or (call.number if party.caller
                                                             else ""),
                    charged=call.charged or charged((party,)))
