"""The panel's state: what the engine sees of a tenant's calls, with what the database
knows of its agents and groups, as the one JSON object the page renders
(docs/panel.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.api.formats import rfc3339
from bridge.gateway import LiveCall, PanelView, Party, PartyState
from bridge.panel.office import Agent, Group, Office
from bridge.store.ids import encode_id

# When an agent is in several calls, the one shown: talking before ringing before the
# rest.
RANKS = {"talking": 0, "ringing": 1, "calling": 2, "parked": 3, "idle": 4}


@dataclass(frozen=True)
class Me:
    username: str
    admin: bool
    extensions: tuple[str, ...]  # the numbers of the user's own extensions


@dataclass(frozen=True)
class Activity:
    state: str
    peer: str = ""
    group: str = ""
    since: datetime | None = None
    call_id: str = ""


def panel_state(office: Office, view: PanelView, me: Me, now: datetime) -> dict[str, Any]:
    labels = _group_labels(office.groups)
    activities = _activities(view.calls, labels)
    waiting = {w.call_id for line in view.lines.values() for w in line}
    return {
        "now": rfc3339(now),
        "me": {"username": me.username, "admin": me.admin,
               "extensions": list(me.extensions)},
        "agents": [_agent(agent, activities.get(agent.number, Activity("idle")),
                          agent.number in view.registered, me)
                   for agent in office.agents],
        "groups": [_group(group, office, view, now) for group in office.groups],
        "parked": [_parked(call, party, view, now) for call in view.calls
                   for party in call.parties if party.parked is not None],
        "calls": [_call(call, labels, waiting, me) for call in view.calls],
    }


def _group_labels(groups: tuple[Group, ...]) -> dict[str, str]:
    """What a call dialled (a group's number or one of its DIDs) to the group's label."""
    labels = {}
    for group in groups:
        label = f"{group.number} {group.name}".strip()
        labels[group.number] = label
        labels.update(dict.fromkeys(group.dids, label))
    return labels


def _activities(calls: tuple[LiveCall, ...], labels: dict[str, str]) -> dict[str, Activity]:
    """Each extension's part in the calls: the busiest one when it has several."""
    found: dict[str, Activity] = {}
    for call in calls:
        for number, activity in _parts(call, labels.get(call.dialled, "")):
            known = found.get(number)
            if known is None or RANKS[activity.state] < RANKS[known.state]:
                found[number] = activity
    return found


def _parts(call: LiveCall, group: str) -> list[tuple[str, Activity]]:
    shown = _caller(call)
    parts = []
    for party in call.parties:
        if party.parked is not None:
            parts.append((party.parked.parker, Activity("parked", _shown(party),
                                                        call_id=call.call_id)))
        elif not party.external:
            activity = _activity(call, party, shown, group)
            if activity is not None:
                parts.append((party.number, activity))
    return parts


def _activity(call: LiveCall, party: Party, caller: str, group: str) -> Activity | None:
    if party.state is PartyState.RINGING and not party.caller:
        return Activity("ringing", caller, group, party.ringing_at, call.call_id)
    if party.state is PartyState.UP and party.answered_at is not None:
        peer = next((p for p in call.parties if p is not party and p.parked is None
                     and p.state is PartyState.UP), None)
        if peer is not None:  # since the one who answered (last) did
            answered = peer.answered_at if party.caller else party.answered_at
            return Activity("talking", _shown(peer), "" if party.caller else group,
                            answered or call.answered, call.call_id)
    if party.caller:
        return Activity("calling", call.dialled, group, call.published, call.call_id)
    return None


def _shown(party: Party) -> str:
    return party.number or party.name


def _agent(agent: Agent, activity: Activity, registered: bool, me: Me) -> dict[str, Any]:
    return {"id": encode_id(agent.id), "number": agent.number, "name": agent.name,
            "registered": registered, "paused": agent.paused_at is not None,
            "pause_reason": agent.pause_reason,
            "paused_at": rfc3339(agent.paused_at) if agent.paused_at else None,
            "state": activity.state, "peer": activity.peer, "group": activity.group,
            "since": rfc3339(activity.since) if activity.since else None,
            "call_id": activity.call_id, "mine": agent.number in me.extensions}


def _group(group: Group, office: Office, view: PanelView, now: datetime) -> dict[str, Any]:
    names = {agent.number: agent.name for agent in office.agents}
    callers = {call.call_id: _caller(call) for call in view.calls}
    today = office.today.get(group.id)
    return {
        "id": encode_id(group.id), "number": group.number, "name": group.name,
        "strategy": group.strategy,
        "members": [{"number": number, "name": names.get(number, "")}
                    for number in group.members],
        "waiting": [{"call_id": w.call_id, "caller": callers.get(w.call_id, ""),
                     "priority": w.priority, "since": rfc3339(w.since)}
                    for w in view.lines.get(group.id, ())],
        "answered_today": today.answered if today else 0,
        "missed_today": today.missed if today else 0,
        "longest_wait": today.longest_wait if today else None,
    }


def _caller_party(call: LiveCall) -> Party | None:
    return next((p for p in call.parties if p.caller), None)


def _caller(call: LiveCall) -> str:
    """The caller's number (its name without one); the call's source with no caller."""
    caller = _caller_party(call)
    return _shown(caller) if caller is not None else call.source


def _parked(call: LiveCall, party: Party, view: PanelView, now: datetime) -> dict[str, Any]:
    parked = party.parked
    assert parked is not None
    left = view.time_left.get(parked.channel_id, 0.0)
    # To the whole second: the same from read to read, so the state sent stays the same.
    rings_back = datetime.fromtimestamp(round(now.timestamp() + left), UTC)
    return {"call_id": call.call_id, "slot": parked.slot, "caller": parked.number,
            "caller_name": parked.name, "parked_by": parked.parker,
            "parked_at": rfc3339(parked.parked_at),
            "rings_back_at": rfc3339(rings_back)}


def _call(call: LiveCall, labels: dict[str, str], waiting: set[str],
          me: Me) -> dict[str, Any]:
    caller = _caller_party(call)
    agents = [p for p in call.parties if not p.caller and not p.external
              and p.parked is None]
    answered = [p for p in agents if p.state is PartyState.UP]
    shown = answered or [p for p in agents if p.state is PartyState.RINGING]
    return {
        "call_id": call.call_id, "caller": _caller(call),
        "caller_name": caller.name if caller is not None else "",
        "group": labels.get(call.dialled, ""),
        "agent": ", ".join(p.number for p in shown),
        "state": _call_state(call, waiting),
        "since": rfc3339(call.published),
        "answered": rfc3339(call.answered) if call.answered else None,
        "mine": any((not p.external and p.number in me.extensions)
                    or (p.parked is not None and p.parked.parker in me.extensions)
                    for p in call.parties),
    }


def _call_state(call: LiveCall, waiting: set[str]) -> str:
    if any(p.parked is not None for p in call.parties):
        return "parked"
    if call.call_id in waiting:
        return "waiting"
    return "talking" if call.answered is not None else "ringing"
