"""The engine's thread: started and stopped from the process's main thread."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from bridge.config import Settings
from bridge.engine.engine import Engine
from bridge.engine.runner import EngineThread
from bridge.flows.hunt_redirects import NoRedirects


def test_a_stop_right_after_the_start_stops_the_engine(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """SIGTERM as a standby starts its engine: the stop comes before the thread has run
    anything, and still stops the engine (it must not go on, open to the SIP edge, until
    the process exits)."""
    engine = Engine(Settings(ari_password="x", ami_secret="y"), lambda: [],
                    NoRedirects())  # type: ignore[arg-type]
    cancelled = threading.Event()

    async def runs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    engine.run = runs  # type: ignore[method-assign]
    gate = threading.Event()  # holds the thread before its loop runs
    set_loop = asyncio.set_event_loop
    monkeypatch.setattr(asyncio, "set_event_loop",
                        lambda loop: (gate.wait(5), set_loop(loop)))
    thread = EngineThread(engine)
    thread.start()
    threading.Timer(0.2, gate.set).start()
    with caplog.at_level(logging.WARNING, logger="bridge.engine.runner"):
        thread.stop(timeout=3)
    assert not thread.alive and cancelled.is_set()
    assert caplog.records == []
