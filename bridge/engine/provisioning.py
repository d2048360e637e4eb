"""Extension endpoints kept in step with the database, on the engine's loop.

The database is the truth: the API commits a change, then asks for the push (or the
removal) of that extension's endpoint. A push or removal that fails while ARI is
connected is retried with capped backoff until it works, until a newer one for the same
endpoint replaces it, or until a full resync (every ARI connect: all extensions from the
database, the missing ones before any call is taken over, the others after) supersedes
it. With ARI down nothing is retried: the resync on reconnect does the work. One failed
DELETE therefore never leaves a destroyed extension registered.

Once Asterisk has every extension as the database has it and no change is on its way,
a fingerprint of them is noted there (bridge/engine/pushed_mark.py): the next start
finding it pushes none again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from bridge import metrics
from bridge.asterisk.ari import AriClient, AriError
from bridge.asterisk.backoff import Backoff
from bridge.engine import endpoints
from bridge.engine.endpoints import SipEndpoint
from bridge.engine.pushed_mark import PushedMark
from bridge.store.db import DATABASE_AWAY, why_away

log = logging.getLogger(__name__)
Step = Callable[[], Awaitable[None]]
SETTLE = 1.0  # seconds with no change on its way before the fingerprint is noted


@dataclass(frozen=True)
class Change:
    """How a pass's change of an endpoint is told: in its own line (done elsewhere, doing
    it here) and, when Asterisk refuses it, by endpoints.alone (what, action)."""

    done: str
    doing: str
    what: str
    action: str


REMOVAL = Change("removed", "removing", "removed from", "removal")
PUSH = Change("changed", "pushing", "pushed to", "push")


def retry_backoff() -> Backoff:
    return Backoff(initial=1.0, maximum=60.0)


class Provisioning:
    """One job per endpoint at a time; jobs and passes take turns on Asterisk, a resync
    holds the turn throughout, a pass (push again, refresh) one endpoint at a time."""

    def __init__(self, ari: AriClient, backoff: Callable[[], Backoff] = retry_backoff,
                 edge: str = "", keeps_mark: bool = True, settle: float = SETTLE) -> None:
        """`edge`: the SIP edge the phones reach Asterisk through (endpoints.push);
        `keeps_mark`: this engine notes the fingerprint (PushedMark.keeps), after
        `settle` seconds with nothing left to change."""
        self.ari = ari
        self._mark = PushedMark(ari, edge, keeps_mark)
        self._settle_after = settle
        self._marking: asyncio.Task[None] | None = None
        self._read: Callable[[], list[SipEndpoint]] | None = None  # the last resync's
        # Endpoints whose last change was not known to be made (refused, cut short,
        # cancelled): Asterisk may have anything of them, so the next pass changes them
        # again, and no fingerprint is noted meanwhile.
        self._doubtful: set[str] = set()
        self._backoff = backoff
        self._edge = edge
        self._turn = asyncio.Lock()  # one change on Asterisk at a time
        self._passing = asyncio.Lock()  # one pass at a time: each reads after the last
        self._jobs: dict[str, asyncio.Task[None]] = {}
        # What this engine last asked Asterisk to have, by endpoint id (refresh). Changed
        # in the turn only: a refresh reading the database from before a change the API
        # pushes meanwhile must not see the change half made (and undo it).
        self._asked: dict[str, SipEndpoint] = {}
        self._had = False  # the last resync found extensions in Asterisk (push_again)
        self._resyncs = 0  # a pass begun before the last resync stops at its next endpoint
        # The endpoints whose jobs started since the running pass began: it leaves
        # those newer changes to their jobs.
        self._started: set[str] = set()
        self._again: asyncio.Task[None] | None = None

    @property
    def pending(self) -> list[str]:
        """Endpoints with a job still running (being tried, or waiting to retry)."""
        return sorted(self._jobs)

    async def push(self, endpoint: SipEndpoint) -> None:
        """Push an extension's endpoint; returns after the first attempt."""
        async def step() -> None:
            self._asked[endpoint.endpoint_id] = endpoint
            await self._change(endpoint.endpoint_id,
                               lambda: endpoints.push(self.ari, endpoint, self._edge))

        await self._start(endpoint.endpoint_id, "push", step)

    async def remove(self, endpoint_id: str) -> None:
        """Remove an endpoint; returns after the first attempt."""
        async def step() -> None:
            self._asked.pop(endpoint_id, None)
            await self._change(endpoint_id, lambda: endpoints.remove(self.ari, endpoint_id))

        await self._start(endpoint_id, "removal", step)

    async def resync(self, read: Callable[[], list[SipEndpoint]]) -> None:
        """Every extension from the database (`read`, in a worker thread) exists in
        Asterisk when this returns: the missing ones pushed, the stale ones removed.
        Those Asterisk already had are left to `push_again`.

        Those are current when Asterisk has the fingerprint of the extensions read
        (PushedMark): nothing is left to `push_again` then.

        Jobs started before this are dropped: their changes were committed before the
        read, so the resync carries them.
        """
        self._resyncs += 1  # a running pass stops at its next endpoint
        async with self._turn:
            self.close()
            self._read, self._doubtful = read, set()  # Asterisk listed again below
            wanted = await asyncio.to_thread(read)
            current = await self._mark.matches(wanted)
            pushed, had = await endpoints.sync_missing(self.ari, wanted, self._edge)
            if current:
                pushed |= {e.endpoint_id for e in had}
                log.info("extension endpoints Asterisk already had: %d, as pushed before "
                         "(its fingerprint is the database's); none pushed again", len(had))
            # Only what Asterisk took counts as asked for: a refresh pushes the rest.
            self._asked = {e.endpoint_id: e for e in wanted if e.endpoint_id in pushed}
            self._had = bool(had) and not current
        self._settle()

    def push_again(self, read: Callable[[], list[SipEndpoint]]) -> None:
        """The extensions Asterisk had at the last resync pushed again, in a task of
        their own (a fresh read, as a refresh), once the engine has taken its calls
        over: no call waits for a large directory (a ringbridge restart, a cluster
        standby's takeover), and a change made while no engine ran reaches Asterisk all
        the same."""
        if self._had:
            self._had = False
            self._again = asyncio.create_task(self._push_again(read))

    async def refresh(self, read: Callable[[], list[SipEndpoint]]) -> bool:
        """Push what the database (`read`, in a worker thread) has that this engine has
        not asked for, and remove what it no longer has: in a cluster, another node's
        API changed it (docs/cluster.md), and that node pushed it to its own Asterisk
        only. Jobs go on between its steps (the newer change is theirs), and a resync
        stops it; True when every step worked (else the caller tries again)."""
        if self._again is not None:  # what Asterisk had first: no change made elsewhere
            await asyncio.wait([self._again])
        return await self._catch_up(read, "elsewhere")

    async def _push_again(self, read: Callable[[], list[SipEndpoint]]) -> None:
        """After a resync: the extensions Asterisk already had, pushed again."""
        try:
            await self._catch_up(read, None)
        except DATABASE_AWAY as exc:  # the next connect (or a cluster's refresh) does it
            log.warning("extensions Asterisk already had not pushed again (%s)",
                        why_away(exc))
        except Exception:  # a bug: said, not left in a task nobody awaits
            log.exception("extensions Asterisk already had not pushed again")

    async def _catch_up(self, read: Callable[[], list[SipEndpoint]], where: str | None
                        ) -> bool:
        """Asterisk brought in line with the database for what this engine has not
        asked for; True when every step worked. Each step is logged when it changed
        `where`, else one line says how many. The turn is taken for each endpoint, not
        for the whole pass: the API's changes go on meanwhile (a push again of 5,000
        extensions takes some 8 s)."""
        async with self._passing:
            self._started.clear()  # the last pass's: older than this one's read
            resyncs = self._resyncs
            async with self._turn:
                wanted = {e.endpoint_id: e for e in await asyncio.to_thread(read)}
                gone = sorted((self._asked.keys() | self._doubtful) - wanted.keys())
                stale = [i for i, e in wanted.items()
                         if self._asked.get(i) != e or i in self._doubtful]
            removed, newer_removals = await self._each(gone, self._remove_here, REMOVAL,
                                                       where, resyncs)
            pushed, newer_pushes = await self._each(
                stale, lambda i: self._push_here(wanted[i]), PUSH, where, resyncs)
        done, newer = removed + pushed, newer_removals + newer_pushes
        self._settle()
        if where is None:
            log.info("extension endpoints Asterisk already had: %d of %d pushed again%s%s",
                     done, len(gone) + len(stale),
                     f", {newer} left to the API's newer changes" if newer else "",
                     endpoints.why_cut_short(self.ari))
        return done == len(gone) + len(stale)

    def _cut_short(self, resyncs: int) -> bool:
        """Whether a pass stops: ARI lost, ringbridge stopping, or a resync since (which
        cancels a push again: a refresh is left to stop here)."""
        return self._resyncs != resyncs or endpoints.cut_short(self.ari)

    async def _each(self, endpoint_ids: list[str], step: Callable[[str], Awaitable[None]],
                    change: Change, where: str | None, resyncs: int) -> tuple[int, int]:
        """`step` for each endpoint, each in a turn of its own; how many worked, and how
        many were left to a newer job (these did not: the caller tries again later).
        `resyncs`: the resyncs done when the pass began."""
        done = newer = 0
        for endpoint_id in endpoint_ids:
            async with self._turn:
                if self._cut_short(resyncs):
                    break
                if endpoint_id in self._started:  # a newer change: its job's
                    newer += 1
                    continue
                if where:
                    log.info("endpoint %s: %s %s; %s it here too", endpoint_id, change.done,
                             where, change.doing)
                self._drop_job(endpoint_id)
                if await endpoints.alone(step(endpoint_id), endpoint_id, change.what,
                                         change.action):
                    done += 1
        return done, newer

    async def _remove_here(self, endpoint_id: str) -> None:
        await self._change(endpoint_id, lambda: endpoints.remove(self.ari, endpoint_id))
        # An older job's removal, its first attempt made after this pass's read, may have
        # taken it out already.
        self._asked.pop(endpoint_id, None)

    async def _push_here(self, endpoint: SipEndpoint) -> None:
        await self._change(endpoint.endpoint_id,
                           lambda: endpoints.push(self.ari, endpoint, self._edge))
        self._asked[endpoint.endpoint_id] = endpoint

    def _drop_job(self, endpoint_id: str) -> None:
        """A job still retrying an older change of the endpoint: the refresh supersedes it."""
        job = self._jobs.pop(endpoint_id, None)
        if job is not None:
            job.cancel()

    def close(self) -> None:
        for job in self._jobs.values():
            job.cancel()
        self._jobs.clear()
        if self._again is not None:
            self._again.cancel()
            self._again = None
        if self._marking is not None:
            self._marking.cancel()
            self._marking = None

    async def _change(self, endpoint_id: str, change: Step) -> None:
        """One endpoint changed in Asterisk, the fingerprint cleared first; doubtful
        until the change is known to be made."""
        self._doubtful.add(endpoint_id)
        await self._mark.before_change()
        await change()
        self._doubtful.discard(endpoint_id)

    def _settle(self) -> None:
        """Note the fingerprint `settle` seconds after the last change (`_mark_settled`)."""
        if self._mark.keeps and self._read is not None:
            if self._marking is not None:
                self._marking.cancel()
            self._marking = asyncio.create_task(self._mark_settled(self._read))

    async def _mark_settled(self, read: Callable[[], list[SipEndpoint]]) -> None:
        """After `settle` seconds: the fingerprint of the database's extensions, when
        Asterisk has each as the database has it and no change is on its way (a job or
        a pass still running settles again when it ends). The database is read outside
        the turn: a change committed after the read either reaches Asterisk before the
        turn (it differs, nothing is noted) or clears the fingerprint first."""
        await asyncio.sleep(self._settle_after)
        if self._changing():
            return
        try:
            wanted = await asyncio.to_thread(read)
        except DATABASE_AWAY as exc:  # the next start pushes them again
            log.info("fingerprint of the extensions not noted (%s)", why_away(exc))
            return
        async with self._turn:
            if self._changing() or {e.endpoint_id: e for e in wanted} != self._asked:
                return
            try:
                await self._mark.write(wanted)
            except AriError as exc:
                log.info("fingerprint of the extensions not noted in Asterisk (%s)", exc)

    def _changing(self) -> bool:
        """Whether a change is on its way, or one may have been left half made."""
        return (bool(self._doubtful) or self._passing.locked() or endpoints.cut_short(self.ari)
                or any(not job.done() for job in self._jobs.values()))

    async def _start(self, endpoint_id: str, what: str, step: Step) -> None:
        self._drop_job(endpoint_id)
        if self._passing.locked():
            self._started.add(endpoint_id)
        tried: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        job = asyncio.create_task(self._until_done(endpoint_id, what, step, tried))
        self._jobs[endpoint_id] = job
        job.add_done_callback(partial(self._finished, endpoint_id))
        await asyncio.wait([job, tried], return_when=asyncio.FIRST_COMPLETED)

    def _finished(self, endpoint_id: str, job: asyncio.Task[None]) -> None:
        if self._jobs.get(endpoint_id) is job:
            del self._jobs[endpoint_id]

    async def _until_done(self, endpoint_id: str, what: str, step: Step,
                          tried: asyncio.Future[None]) -> None:
        backoff = self._backoff()
        attempts = 0
        while self.ari.connected:
            attempts += 1
            async with self._turn:
                error = await _error_of(step)
            if not tried.done():
                tried.set_result(None)
            metrics.EXTENSION_CHANGES.labels(what, "failed" if error else "done").inc()
            if error is None:
                if attempts > 1:
                    log.info("endpoint %s: %s done at attempt %d", endpoint_id, what, attempts)
                self._settle()
                return
            delay = backoff.next_delay()
            log.warning("endpoint %s: %s failed (%s); retrying in %.1f s", endpoint_id, what,
                        error, delay)
            await asyncio.sleep(delay)
        log.warning("endpoint %s: ARI is down; its %s is left to the resync on reconnect",
                    endpoint_id, what)


async def _error_of(step: Step) -> AriError | None:
    try:
        await step()
    except AriError as exc:
        return exc
    return None
