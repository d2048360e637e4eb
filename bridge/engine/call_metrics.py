"""The engine's metrics: call counts and times from its call events, and its state
sampled every second (bridge/metrics.py defines them; docs/metrics.md lists them).

Runs on the engine's loop: each event costs a few dictionary operations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter

from bridge import metrics
from bridge.flows.call_log import CallLog
from bridge.flows.events import (
    Answer,
    CallArrived,
    CallEvent,
    CallParked,
    Ending,
    MemberDialled,
    MemberEvent,
    MemberNotAnswered,
    MemberRinging,
    ParkedCallRingingBack,
    ParkedCallTakenBack,
    RingOutStarted,
    RingOutStatusChanged,
)
from bridge.gateway import CallState, EngineOverview

SAMPLE_EVERY = 1.0
ABANDONED = "caller gave up"  # how a hunt ends when its caller hangs up before an answer


@dataclass
class Counted:
    """A call that arrived: its labels, when, and whether a phone answered it yet."""

    labels: tuple[str, str, str]  # tenant, group, strategy
    arrived: datetime
    created: datetime  # the caller's channel
    answered: bool = False
    dialled: bool = False  # a phone was rung for it


class CallMetrics:
    def __init__(self, call_log: CallLog) -> None:
        self._calls: dict[str, Counted] = {}  # until they end (a park is no end)
        self._ringing: dict[str, dict[str, datetime]] = {}  # call: {member: since}
        call_log.subscribe(CallArrived, self._arrived)
        call_log.subscribe(MemberDialled, self._dialled)
        call_log.subscribe(MemberRinging, self._rings)
        call_log.subscribe(Answer, self._answered)
        call_log.subscribe(MemberNotAnswered, self._stopped_ringing)
        call_log.subscribe(Ending, self._ended)
        call_log.subscribe(ParkedCallRingingBack, self._counter(metrics.PARK_COMEBACKS))
        call_log.subscribe(ParkedCallTakenBack, self._counter(metrics.PARK_PICKUPS))
        self._ringouts: dict[str, tuple[str, str]] = {}  # id: its tenant, its call's state
        call_log.subscribe(RingOutStatusChanged, self._ringout_moved)

    def _arrived(self, event: CallArrived) -> None:
        labels = (_id(event.tenant_id), _id(event.ring_group_id), event.strategy)
        self._calls[event.call_id] = Counted(labels, event.at, event.created or event.at)
        metrics.CALLS_ARRIVED.labels(*labels).inc()
        # The group's and the tenant's series exist from their first call, at 0:
        # Prometheus' increase() misses a counter's first step when the series is born
        # at 1.
        for outcome in (metrics.CALLS_ANSWERED, metrics.CALLS_MISSED,
                        metrics.CALLS_ABANDONED):
            outcome.labels(*labels)
        for parking in (metrics.PARKS, metrics.PARK_COMEBACKS, metrics.PARK_PICKUPS):
            parking.labels(labels[0])

    def _dialled(self, event: MemberDialled) -> None:
        call = self._calls.get(event.call_id)
        if call is not None and not call.dialled:
            call.dialled = True
            metrics.CALL_SETUP.labels(*call.labels).observe(
                max(0.0, (event.at - call.created).total_seconds()))

    def _rings(self, event: MemberRinging) -> None:
        self._ringing.setdefault(event.call_id, {}).setdefault(event.member, event.at)

    def _answered(self, event: Answer) -> None:
        self._stopped_ringing(event)
        call = self._calls.get(event.call_id)
        if call is None or call.answered:  # a paged member joining, a call taken back
            return
        self._all_stopped_ringing(event)  # the others are cancelled as it answers
        call.answered = True
        metrics.CALLS_ANSWERED.labels(*call.labels).inc()
        metrics.CALLER_WAIT.labels(*call.labels).observe(
            (event.at - call.arrived).total_seconds())

    def _stopped_ringing(self, event: MemberEvent) -> None:
        since = self._ringing.get(event.call_id, {}).pop(event.member, None)
        if since is not None:
            self._rang(event.call_id, since, event.at)

    def _all_stopped_ringing(self, event: CallEvent) -> None:
        """Every phone still ringing for the call stopped at `event`."""
        for since in self._ringing.pop(event.call_id, {}).values():
            self._rang(event.call_id, since, event.at)

    def _rang(self, call_id: str, since: datetime, until: datetime) -> None:
        call = self._calls.get(call_id)
        if call is not None:
            metrics.MEMBER_RINGING.labels(*call.labels).observe(
                (until - since).total_seconds())

    def _ringout_moved(self, event: RingOutStatusChanged) -> None:
        if isinstance(event, RingOutStarted):
            tenant = str(event.tenant_id)
            for ended_in in (CallState.CONNECTED, CallState.NOT_REACHED):
                metrics.RINGOUTS.labels(tenant, ended_in.value)  # at 0, as calls' outcomes
        else:
            tenant = self._ringouts.get(event.call_id, ("", ""))[0]
        self._ringouts[event.call_id] = (tenant, event.call.value)

    def _ended(self, event: Ending) -> None:
        ringout = self._ringouts.pop(event.call_id, None)
        if ringout is not None:
            metrics.RINGOUTS.labels(*ringout).inc()
        self._all_stopped_ringing(event)
        if isinstance(event, CallParked):
            metrics.PARKS.labels(self._tenant(event.call_id)).inc()
            return
        call = self._calls.pop(event.call_id, None)
        if call is None or call.answered:
            return
        missed = metrics.CALLS_ABANDONED if event.why.startswith(ABANDONED) \
            else metrics.CALLS_MISSED
        missed.labels(*call.labels).inc()

    def _tenant(self, call_id: str) -> str:
        call = self._calls.get(call_id)
        return call.labels[0] if call is not None else ""

    def _counter(self, counter: Counter) -> Callable[[CallEvent], None]:
        return lambda event: counter.labels(self._tenant(event.call_id)).inc()


async def sample_forever(overview: Callable[[], EngineOverview]) -> None:
    """Every second: the engine's state, and how late the loop ran the timer."""
    loop = asyncio.get_running_loop()
    shown: set[int] = set()  # the groups whose line the gauges show
    while True:
        due = loop.time() + SAMPLE_EVERY
        await asyncio.sleep(SAMPLE_EVERY)
        metrics.LOOP_LAG.observe(max(0.0, loop.time() - due))
        now = overview()
        metrics.ASTERISK_CONNECTED.labels("ari").set(int(now.status.ari))
        metrics.ASTERISK_CONNECTED.labels("ami").set(int(now.status.ami))
        metrics.CALLS_UP.set(now.calls_up)
        metrics.PARKED_NOW.set(now.parked)
        shown = _show_lines(now.lines, shown)


def _show_lines(lines: dict[int, tuple[int, float]], shown: set[int]) -> set[int]:
    """The waiting lines' gauges; a line that emptied shows 0."""
    for group in shown | lines.keys():
        waiting, oldest = lines.get(group, (0, 0.0))
        metrics.WAITING.labels(str(group)).set(waiting)
        metrics.OLDEST_WAITING.labels(str(group)).set(oldest)
    return set(lines)


def _id(value: int | None) -> str:
    return "" if value is None else str(value)
