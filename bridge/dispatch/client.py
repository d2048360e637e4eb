"""Sends dispatch events from the engine's loop; never holds up a call.

`invite` and `ringing` are tried once, with the short deadlines the call can afford
(the call goes on without them). `connected`, `cleared` and `missed` are stored before
their first attempt and retried with backoff until the tenant's retry window closes,
in order per call, and resumed after a restart. Every attempt lands in the log.

Nodes sharing one database each send only the deliveries they claim: their own, whose
claims they renew, and those whose node stopped renewing (looked for at start and on
every renewal).

Each tenant has its own connection pool, so a dispatcher that never answers holds up
only its own tenant's events, and every request is cut at `delivery_timeout` as a whole
(httpx's timeout bounds each read, not a dispatcher trickling bytes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bridge import metrics
from bridge.asterisk.backoff import Backoff
from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.deliveries import (
    CLAIM_LEASE,
    READ_LIMIT,
    Delivery,
    DeliveryStore,
    Outcome,
)
from bridge.dispatch.signing import signature_headers, signed_content
from bridge.store.db import DATABASE_AWAY, why_away

log = logging.getLogger(__name__)
STORE_GRACE = 3.0  # seconds close() waits for events still being stored
TENANT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


class DispatchClient:
    def __init__(self, store: DeliveryStore, retry_initial: float = 1.0,
                 retry_maximum: float = 60.0, renew_every: float = CLAIM_LEASE / 3) -> None:
        self.store = store
        self.renew_every = renew_every
        self.retry_initial = retry_initial
        self.retry_maximum = retry_maximum
        self._http: dict[int, httpx.AsyncClient] = {}  # per tenant, made on first use
        # Loading the CA certificates takes tens of ms: done once here, never on the
        # engine's loop when a tenant's first event goes out.
        self._tls = httpx.create_ssl_context()
        self._tails: dict[str, asyncio.Task[None]] = {}  # the last delivery queued per call
        self._tasks: set[asyncio.Future[Any]] = set()
        self._storing = asyncio.Lock()
        self._stores: set[asyncio.Task[None]] = set()
        self.outbox = 0  # reliable deliveries not yet delivered or given up

    async def start(self) -> None:
        """Resume stored deliveries no live node claims, then keep claims up to date."""
        await self._resume()
        self.spawn(self._keep_claims())

    async def _resume(self) -> None:
        pending = await asyncio.to_thread(self.store.pending)
        if pending:
            log.info("dispatch: resuming %d stored deliveries", len(pending))
        for delivery, config in pending:
            self._in_order(delivery.chain, self._deliver(delivery, config))

    async def _keep_claims(self) -> None:
        """Renew this node's claims, and take over those of nodes that stopped renewing."""
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await asyncio.to_thread(self.store.renew)
                await self._resume()
            except DATABASE_AWAY as exc:  # restarting, say: try again at the next turn
                log.warning("dispatch: claims on stored deliveries not renewed: the database "
                            "is unavailable (%s); trying again in %g s",
                            why_away(exc), self.renew_every)
            except Exception:
                log.exception("dispatch: could not renew claims on stored deliveries")

    async def close(self) -> None:
        """Finish storing what is being stored (so a restart resumes it), cancel the rest,
        and give up this node's claims."""
        if self._stores:
            await asyncio.wait(self._stores, timeout=STORE_GRACE)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await asyncio.to_thread(self.store.release)
        except Exception:  # the claims lapse by themselves; another node resumes them then
            log.exception("dispatch: claims not given up at stop")
        await asyncio.gather(*(http.aclose() for http in self._http.values()))
        self._http.clear()

    async def once(self, config: DispatchConfig, delivery: Delivery,
                   deadline: float) -> Outcome | None:
        """Try a delivery once; the outcome if it comes within `deadline` seconds, else None.

        A late answer is still awaited (up to the delivery timeout) and logged.
        """
        attempt = self.spawn(self._logged(config, delivery))
        try:
            return await asyncio.wait_for(asyncio.shield(attempt), deadline)
        except TimeoutError:
            return None

    def reliably(self, config: DispatchConfig, delivery: Delivery) -> None:
        """Store at once, then deliver with retries after the call's earlier events;
        returns at once."""
        stored = self.spawn(self._store(delivery))
        self._stores.add(stored)
        stored.add_done_callback(self._stores.discard)
        self._in_order(delivery.chain, self._deliver_stored(stored, delivery, config))

    async def _logged(self, config: DispatchConfig, delivery: Delivery) -> Outcome:
        delivery.attempts = 1
        outcome = await self._attempt(config, delivery)
        state = "delivered" if outcome.delivered or outcome.location else "failed"
        _counted(delivery, outcome, state)
        self.spawn(asyncio.to_thread(self.store.log, delivery, outcome, state))
        return outcome

    async def _store(self, delivery: Delivery) -> None:
        """Stored in the order the events happened (the lock is first come, first served),
        so a restart resumes them in that order too. An event the outbox cannot take (the
        database away) is still delivered, from memory only."""
        async with self._storing:
            try:
                delivery.id = await asyncio.to_thread(self.store.add, delivery)
            except Exception as exc:  # the database may be restarting: deliver all the same
                log.warning("dispatch %s for call %s not stored (%s): delivered from memory "
                            "only, lost if ringbridge stops before it is", delivery.event,
                            delivery.call_id, _describe(exc))

    async def _deliver_stored(self, stored: asyncio.Task[None], delivery: Delivery,
                              config: DispatchConfig) -> None:
        await stored
        await self._deliver(delivery, config)

    async def _deliver(self, delivery: Delivery, config: DispatchConfig) -> None:
        """Until delivered, refused for good (4xx) or out of its retry window."""
        backoff = Backoff(self.retry_initial, self.retry_maximum)
        while True:
            delivery.attempts += 1
            outcome = await self._attempt(config, delivery)
            delay = backoff.next_delay()
            next_at = datetime.now(UTC) + timedelta(seconds=delay)
            if outcome.delivered:
                state, next_at_or_none = "delivered", None
            elif outcome.worth_retrying and next_at < delivery.give_up_at:
                state, next_at_or_none = "pending", next_at
            else:
                state, next_at_or_none = "failed", None
            _counted(delivery, outcome, state)
            if delivery.id is not None:
                await self._note_attempt(delivery, outcome, state, next_at_or_none)
            if state != "pending":
                if state == "failed":
                    log.warning("dispatch %s for call %s not delivered after %d attempt(s): %s",
                                delivery.event, delivery.call_id, delivery.attempts,
                                outcome.error or outcome.http_status)
                return
            await asyncio.sleep(delay)

    async def _note_attempt(self, delivery: Delivery, outcome: Outcome, state: str,
                            next_at: datetime | None) -> None:
        """The attempt in the outbox; the delivery goes on when it cannot be noted there
        (the stored row stays pending, so a restart sends it again: at least once)."""
        try:
            await asyncio.to_thread(self.store.attempted, delivery, outcome, state, next_at)
        except Exception as exc:  # the database may be restarting
            log.warning("dispatch %s for call %s: attempt %d (%s) not noted in the outbox "
                        "(%s)", delivery.event, delivery.call_id, delivery.attempts, state,
                        _describe(exc))

    def _client_for(self, tenant_id: int) -> httpx.AsyncClient:
        http = self._http.get(tenant_id)
        if http is None:
            http = self._http[tenant_id] = httpx.AsyncClient(
                verify=self._tls,
                follow_redirects=False,  # a 307 to `ringing` is an instruction, not a redirect
                limits=TENANT_LIMITS)
        return http

    async def _attempt(self, config: DispatchConfig, delivery: Delivery) -> Outcome:
        headers = dict(config.headers)
        if delivery.body is not None:
            headers["Content-Type"] = "application/json"
        if config.signing_secret:
            headers.update(signature_headers(config.signing_secret, delivery.webhook_id,
                                             signed_content(delivery.url, delivery.body)))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(config.delivery_timeout), \
                    self._client_for(config.tenant_id).stream(
                        delivery.method, delivery.url, content=delivery.body,
                        headers=headers, timeout=config.delivery_timeout) as response:
                body, oversized = await _read_capped(response, READ_LIMIT)
        except TimeoutError:
            return Outcome(None, _ms_since(started),
                           error=f"no whole answer within {config.delivery_timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, _ms_since(started), error=_describe(exc))
        except httpx.InvalidURL as exc:  # a URL stored before base_url was checked strictly
            return Outcome(None, _ms_since(started), error=_describe(exc), final=True)
        except Exception as exc:  # the request could not be made: no retry helps
            log.exception("dispatch %s for call %s: the request could not be made",
                          delivery.event, delivery.call_id)
            return Outcome(None, _ms_since(started), error=_describe(exc), final=True)
        answer = body.decode(response.encoding or "utf-8", errors="replace")
        return Outcome(response.status_code, _ms_since(started), answer=answer or None,
                       location=response.headers.get("location"), oversized=oversized)

    def _in_order(self, chain: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the previous reliable delivery of its chain has finished; until
        it has finished too, it counts in the outbox (waiting behind another included)."""
        previous = self._tails.get(chain)
        self._count_in_outbox(1)
        task = self.spawn(_after(previous, work))
        self._tails[chain] = task

        def forget(done: asyncio.Future[Any]) -> None:
            self._count_in_outbox(-1)
            if self._tails.get(chain) is done:
                del self._tails[chain]
        task.add_done_callback(forget)

    def _count_in_outbox(self, step: int) -> None:
        self.outbox += step
        metrics.DISPATCH_OUTBOX.inc(step)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `work` in the background; `close()` cancels what is still running."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatch delivery failed unexpectedly", exc_info=task.exception())


async def _after(previous: asyncio.Task[None] | None,
                 work: Coroutine[Any, Any, None]) -> None:
    try:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
    except asyncio.CancelledError:
        work.close()  # closing down: the work stays stored and is resumed next start
        raise
    await work


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The body's first `limit` bytes, and whether there was more (not read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _describe(exc: Exception) -> str:
    kind = type(exc).__name__
    return f"{kind}: {exc}" if str(exc) else kind


def _counted(delivery: Delivery, outcome: Outcome, state: str) -> None:
    """An attempt in the metrics: `pending` is an attempt to be retried."""
    metrics.DISPATCH_ATTEMPTS.labels(delivery.event,
                                     "retried" if state == "pending" else state).inc()
    metrics.DISPATCH_LATENCY.labels(delivery.event).observe(outcome.latency_ms / 1000)
    if delivery.attempts == 1 and outcome.http_status is not None:
        metrics.DISPATCH_ANSWERED.labels(delivery.event).observe(
            (datetime.now(UTC) - delivery.created_at).total_seconds())
