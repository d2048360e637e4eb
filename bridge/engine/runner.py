"""Runs the engine's asyncio loop in its own thread, beside the WSGI server's threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

from bridge.asterisk.ami import AmiError
from bridge.asterisk.ari import AriError
from bridge.engine.engine import EDGE_DRAIN, SUCCESSOR_WAIT, Engine
from bridge.engine.orphans import in_app
from bridge.engine.retention import delete_stored
from bridge.flows.ringout import RingOut
from bridge.gateway import (
    BEHIND,
    DID_NOT_ANSWER,
    LONGEST_WAIT,
    CallChanged,
    CancelOutcome,
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
)

log = logging.getLogger(__name__)
T = TypeVar("T")
PROVISION_TIMEOUT = 5.0
CANCEL_TIMEOUT = 5.0
CONTROL_TIMEOUT = LONGEST_WAIT
# Leaving the SIP edge at stop: asking whether another node takes over, closing to it,
# then its drain (within ENGINE_STOP_TIMEOUT).
EDGE_LEAVE_TIMEOUT = EDGE_DRAIN + SUCCESSOR_WAIT + 0.5


class EngineThread:
    """Thread-safe hand-over from API threads into the engine's loop: the engine's side
    of bridge.gateway.EngineGateway."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # uvloop: the same asyncio API, its loop in C: about 8% less of the engine's CPU
        # per call (docs/benchmarks.md, 2026-12-07).
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self._task: asyncio.Task[None] | None = None
        self._ringouts: dict[str, RingOut] = {}  # touched on the loop only
        self._leaving: asyncio.Task[None] | None = None  # the stop's own steps

    def start(self) -> None:
        # The task exists before the thread runs: a stop() right after start() (SIGTERM as
        # a standby takes an Asterisk node over) always has it to shut down.
        self._task = self.loop.create_task(self.engine.run())
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        assert self._task is not None, "start() makes the task"
        try:
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the engine stopped on an error")
        finally:
            self.loop.run_until_complete(self.engine.close())
            self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def status(self) -> EngineStatus:
        return self.engine.status()

    def overview(self) -> EngineOverview:
        async def read() -> EngineOverview:
            return self.engine.overview()

        return self._answer(read(), CONTROL_TIMEOUT)

    def changes(self, seen: int, wait: float) -> int:
        """Waits in the calling (gateway) thread, not on the loop."""
        return self.engine.changes.after(seen, wait)

    def panel(self, domain: str) -> PanelView:
        return self._answer(self.engine.panel(domain), CONTROL_TIMEOUT)

    def push(self, endpoint: SipEndpoint) -> None:
        """Make a committed extension's endpoint real now (a failure is retried on the loop;
        with ARI down, the next connect pushes it)."""
        self._provision(self.engine.provisioning.push(endpoint), endpoint.endpoint_id)

    def remove(self, endpoint_id: str) -> None:
        self._provision(self.engine.provisioning.remove(endpoint_id), endpoint_id)

    def _provision(self, first_attempt: Coroutine[Any, Any, None], endpoint_id: str) -> None:
        """Wait for the first attempt, so a phone can register as soon as the API answers."""
        try:
            self.submit(first_attempt).result(timeout=PROVISION_TIMEOUT)
        except TimeoutError:
            log.warning("endpoint %s: no answer from Asterisk within %.0f s; still trying",
                        endpoint_id, PROVISION_TIMEOUT)

    def delete_recordings(self, names: list[str]) -> list[str]:
        return self._answer(self._delete_recordings(names), CONTROL_TIMEOUT)

    async def _delete_recordings(self, names: list[str]) -> list[str]:
        kept = []
        for name in names:
            try:
                await delete_stored(self.engine.ari, name)
            except AriError as exc:
                log.warning("recording %s not deleted: %s", name, exc)
                kept.append(name)
        return kept

    def start_ringout(self, plan: RingOutPlan) -> None:
        """Nothing is done while the engine is behind (EngineNotReached: another engine
        may take it, else the client is told to retry)."""
        if self.engine.declines_ringout(plan.call_id):
            raise EngineNotReached(BEHIND)
        self.submit(self._start_ringout(plan)).add_done_callback(_log_failure)

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        return self._answer(self._cancel_ringout(call_id), CANCEL_TIMEOUT)

    async def _start_ringout(self, plan: RingOutPlan) -> None:
        self._ringouts = {key: flow for key, flow in self._ringouts.items() if not flow.done}
        flow = RingOut(self.engine.ari, self.engine, plan, self.engine.call_log)
        self._ringouts[plan.call_id] = flow
        await flow.start()

    async def _cancel_ringout(self, call_id: str) -> CancelOutcome:
        flow = self._ringouts.get(call_id)
        if flow is not None:
            return await flow.cancel()
        # No flow runs it (started before a restart): hang up whatever legs are left in
        # this engine's app; another engine's are that engine's to cancel.
        try:
            ours = await in_app(self.engine.ari, self.engine.app)
        except AriError as exc:
            log.debug("RingOut %s: this engine's channels not read: %s", call_id, exc)
            return CancelOutcome()
        for leg in (1, 2):
            channel_id = f"rb-{call_id}-{leg}"
            if channel_id not in ours.channels:
                continue
            try:
                await self.engine.ari.delete(f"/channels/{channel_id}")
            except Exception as exc:
                log.debug("RingOut %s: leg %d not hung up: %s", call_id, leg, exc)
        return CancelOutcome()

    # Live calls (the phone calls API): run on the loop, so flows are read in one piece.

    def live_calls(self, domain: str) -> list[LiveCall]:
        async def read() -> list[LiveCall]:
            return self.engine.control.live_calls(domain)

        return self._control(read())

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        return self._control(self.engine.control.park(domain, call_id, view, parker, timeout))

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        return self._control(self.engine.control.unpark(domain, call_id, target, wait))

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        return self._control(self.engine.control.pick_up(domain, call_id, target, wait))

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        return self._control(self.engine.control.hang_up(domain, call_id, view))

    def _control(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a live-call action; Asterisk's refusals and a silent engine become the
        gateway's errors (the call control's own refusals are the gateway's already)."""
        try:
            return self._answer(coro, CONTROL_TIMEOUT)
        except (AriError, AmiError) as exc:  # e.g. a party hung up at that very moment
            raise CallChanged(str(exc)) from exc

    def _answer(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """The loop's answer; none within `timeout` is the gateway's EngineUnavailable."""
        try:
            return self.submit(coro).result(timeout=timeout)
        except concurrent.futures.TimeoutError as exc:
            raise EngineUnavailable(DID_NOT_ANSWER) from exc

    def _shut_down(self, task: asyncio.Task[None]) -> None:
        self._leaving = self.loop.create_task(self._leave(task))

    async def _leave(self, task: asyncio.Task[None]) -> None:
        try:
            await asyncio.wait_for(self.engine.leave_edge(), EDGE_LEAVE_TIMEOUT)
        except Exception:  # whatever it was, the stop goes on
            log.exception("the SIP edge could not be left cleanly")
        self.engine.stop_calls()  # before the connections close under the flows
        task.cancel()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the engine and wait for its thread (at most `timeout`); again, a no-op."""
        if self._task is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                self.loop.call_soon_threadsafe(self._shut_down, self._task)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("engine thread did not stop within %.0f s", timeout)


def _log_failure(future: concurrent.futures.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a RingOut could not be started", exc_info=future.exception())
