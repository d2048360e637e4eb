"""The engines of one Asterisk, as one EngineGateway for the API.

Each engine is its own ARI application: a call is run by the engine that claimed it,
while Asterisk's configuration and parking lots are shared, so every engine reports
every parked call. Reads merge what the engines that answer say; an action on a live
call goes to the engine that has it; RingOuts are dealt round; provisioning goes to
any engine. With one engine, every answer and error is that engine's.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import ChainMap
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from bridge.engine.changes import Changes
from bridge.flows.waiting_line import rank
from bridge.gateway import (
    CallRefused,
    CancelOutcome,
    EngineGateway,
    EngineNotReached,
    EngineOverview,
    EngineStatus,
    EngineUnavailable,
    LiveCall,
    PanelView,
    ParkedCall,
    RingOutPlan,
    SipEndpoint,
    Target,
    Waiting,
)
from bridge.gateway_client import GatewayClient
from bridge.gateway_link import GatewayLinks

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL = 25.0  # seconds one follower's wait on its engine's changes lasts
RETRY = 1.0  # seconds between a follower's tries while its engine is away
ELSEWHERE = ("call {} is not on the engines that answered; it may be on one that is "
             "restarting: retry shortly")


class EnginesClient:
    @classmethod
    def over(cls, links: GatewayLinks) -> EnginesClient:
        """The engines of the `ringbridge serve` that made `links`."""
        return cls([GatewayClient(link) for link in links.links])

    def __init__(self, engines: Sequence[EngineGateway]) -> None:
        if not engines:
            raise ValueError("EnginesClient needs at least one engine")
        self.engines = tuple(engines)
        self._turns = itertools.count()  # next() on it is atomic: no lock for the deal
        self._changes = Changes()
        self._following = False
        self._follow_lock = threading.Lock()
        self._stopped = threading.Event()

    def close(self) -> None:
        """Stop following the engines' changes (a follower in a wait ends when it
        returns, at most POLL seconds on: they are daemon threads), then close the
        engines' clients."""
        self._stopped.set()
        for engine in self.engines:
            close: Callable[[], None] | None = getattr(engine, "close", None)
            if close is not None:
                close()

    # Reads.

    def statuses(self) -> list[EngineStatus]:
        """Each engine's, in order (health and status screens)."""
        return [engine.status() for engine in self.engines]

    def status(self) -> EngineStatus:
        """Ready when any engine is: new calls go to the engines that are up."""
        return _any_up(self.statuses())

    def overview(self) -> EngineOverview:
        return self._merged(lambda engine: engine.overview(), _overview)

    def panel(self, domain: str) -> PanelView:
        return self._merged(lambda engine: engine.panel(domain), _panel)

    def live_calls(self, domain: str) -> list[LiveCall]:
        return self._merged(lambda engine: engine.live_calls(domain),
                            lambda answers: _unique(itertools.chain.from_iterable(answers)))

    def _merged(self, read: Callable[[EngineGateway], T], merge: Callable[[list[T]], T]) -> T:
        """The answers of the engines that give one, merged (a single answer as it is).
        One that does not answer is left out, with its calls; none answering is the
        first one's error."""
        answers: list[T] = []
        missed: list[EngineUnavailable] = []
        for engine in self.engines:
            try:
                answers.append(read(engine))
            except EngineUnavailable as exc:
                log.debug("an engine left out of a read: %s", exc.message)
                missed.append(exc)
        if not answers:
            raise missed[0]
        return answers[0] if len(answers) == 1 else merge(answers)

    def changes(self, seen: int, wait: float) -> int:
        """One engine's count as it is. With more, a count of this process's, moved
        whenever an engine's count moves, or an engine goes away or comes back (its
        calls leave or join the merged views)."""
        if len(self.engines) == 1:
            return self.engines[0].changes(seen, wait)
        with self._follow_lock:
            if not self._following:
                self._following = True
                for index, engine in enumerate(self.engines):
                    threading.Thread(target=self._follow, args=(engine,), daemon=True,
                                     name=f"engine-{index}-changes").start()
        return self._changes.after(seen, wait)

    def _follow(self, engine: EngineGateway) -> None:
        seen, away = -1, False
        while not self._stopped.is_set():
            try:
                count = engine.changes(seen, POLL)
            except EngineUnavailable as exc:
                if not away:
                    log.debug("engine changes: %s; trying again", exc.message)
                    away = True
                    self._changes.note()
                self._stopped.wait(RETRY)
                continue
            except Exception:  # a bug: the live views must not stop following
                log.exception("engine changes: waiting on an engine failed; trying again")
                self._stopped.wait(RETRY)
                continue
            if count != seen or away:
                seen, away = count, False
                self._changes.note()

    # Asterisk's configuration: shared, so any engine that is running makes it real.

    def push(self, endpoint: SipEndpoint) -> None:
        self._provision(lambda engine: engine.push(endpoint), endpoint.endpoint_id)

    def remove(self, endpoint_id: str) -> None:
        self._provision(lambda engine: engine.remove(endpoint_id), endpoint_id)

    def _provision(self, act: Callable[[EngineGateway], None], endpoint_id: str) -> None:
        """To every engine: each makes it real after its own resync (one resyncing from
        the database as the change commits could undo it otherwise). The database has
        the change: an engine not running makes it real when it connects (each pushes
        every endpoint then)."""
        for engine in self.engines:
            try:
                act(engine)
            except EngineUnavailable as exc:
                log.warning("endpoint %s: %s; pushed when it is back", endpoint_id,
                            exc.message)

    def delete_recordings(self, names: list[str]) -> list[str]:
        return _first_reached(self.engines, lambda engine: engine.delete_recordings(names))

    # RingOuts.

    def start_ringout(self, plan: RingOutPlan) -> None:
        """Dealt round the engines; one that is not running (nothing was delivered)
        passes it to the next."""
        turn = next(self._turns) % len(self.engines)
        _first_reached(self.engines[turn:] + self.engines[:turn],
                       lambda engine: engine.start_ringout(plan))

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        """The engine running the RingOut answers with its states (or that it is
        connected) and is the answer; the others know nothing of it (states None) and
        hang up its legs by id, left over if no engine runs it (the last answer then).
        An engine that is not running runs no RingOut: it is passed over."""
        outcome: CancelOutcome | None = None
        missed: list[EngineNotReached] = []
        for engine in self.engines:
            try:
                outcome = engine.cancel_ringout(call_id)
            except EngineNotReached as exc:
                missed.append(exc)
                continue
            if outcome.connected or outcome.states is not None:
                return outcome
        if outcome is None:
            raise missed[0]
        return outcome

    # Live calls: each runs on one engine; the others refuse it as NO_CALL, doing nothing.

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        return self._on_the_call(
            call_id, lambda engine: engine.park(domain, call_id, view, parker, timeout))

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        return self._on_the_call(
            call_id, lambda engine: engine.unpark(domain, call_id, target, wait))

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        return self._on_the_call(
            call_id, lambda engine: engine.pick_up(domain, call_id, target, wait))

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        return self._on_the_call(
            call_id, lambda engine: engine.hang_up(domain, call_id, view))

    def _on_the_call(self, call_id: str, act: Callable[[EngineGateway], T]) -> T:
        """The first answer other than NO_CALL. With none, an engine not reached may
        have the call: that is EngineNotReached (503, retry), not the call's absence."""
        refusals: list[CallRefused] = []
        missed: list[EngineNotReached] = []
        for engine in self.engines:
            try:
                return act(engine)
            except CallRefused as exc:
                if exc.reason != CallRefused.NO_CALL:
                    raise
                refusals.append(exc)
            except EngineNotReached as exc:
                missed.append(exc)
        if not missed:
            raise refusals[-1]
        if not refusals:
            raise missed[0]
        raise EngineNotReached(ELSEWHERE.format(call_id)) from missed[0]


def _first_reached(engines: Sequence[EngineGateway], act: Callable[[EngineGateway], T]) -> T:
    """`act` on the first engine that is running; none is the first one's error."""
    missed: list[EngineNotReached] = []
    for engine in engines:
        try:
            return act(engine)
        except EngineNotReached as exc:
            missed.append(exc)
    raise missed[0]


def _any_up(statuses: list[EngineStatus]) -> EngineStatus:
    return EngineStatus(ari=any(s.ari for s in statuses), ami=any(s.ami for s in statuses))


def _overview(overviews: list[EngineOverview]) -> EngineOverview:
    """Every engine reads the same parking lots: the parked calls are counted once."""
    lines: dict[int, tuple[int, float]] = {}
    for overview in overviews:
        for group, (waiting, longest) in overview.lines.items():
            count, wait = lines.get(group, (0, 0.0))
            lines[group] = (count + waiting, max(wait, longest))
    return EngineOverview(
        status=_any_up([o.status for o in overviews]),
        started_at=min(o.started_at for o in overviews),
        calls_up=sum(o.calls_up for o in overviews),
        parked=max(o.parked for o in overviews),
        lines=lines,
        outbox=sum(o.outbox for o in overviews))


def _panel(views: list[PanelView]) -> PanelView:
    """Parked calls (and their time left) are on every engine: one of each is kept."""
    lines: dict[int, list[Waiting]] = {}
    for view in views:
        for group, line in view.lines.items():
            lines.setdefault(group, []).extend(line)
    return PanelView(
        calls=tuple(_unique(call for view in views for call in view.calls)),
        lines={group: tuple(sorted(line, key=lambda w: (rank(w.priority), w.since)))
               for group, line in lines.items()},
        registered=frozenset(number for view in views for number in view.registered),
        time_left=dict(ChainMap(*(view.time_left for view in views))))


def _unique(calls: Iterable[LiveCall]) -> list[LiveCall]:
    """The first of each call id, in order."""
    first: dict[str, LiveCall] = {}
    for call in calls:
        first.setdefault(call.call_id, call)
    return list(first.values())
