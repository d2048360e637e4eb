"""The engine's readiness (what /health reports) when Asterisk announces its shutdown."""

from __future__ import annotations

import asyncio

import pytest

from bridge.asterisk.ami import AmiClient
from bridge.asterisk.ari import AriClient
from bridge.config import Settings
from bridge.engine.engine import Engine
from bridge.flows.hunt import HuntPlan
from tests.unit.fake_ari import NothingPaused


class NoNumbers(NothingPaused):
    """A directory that knows no number: these tests route no call."""

    def route_dial(self, domain: str, number: str, caller_number: str) -> HuntPlan | None:
        return None

    def route_did(self, number: str, caller_number: str) -> HuntPlan | None:
        return None


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> None:
    """ARI and AMI connected and resynced, whatever their sockets."""
    monkeypatch.setattr(AriClient, "ready", property(lambda _: True))
    monkeypatch.setattr(AmiClient, "ready", property(lambda _: True))


def test_the_shutdown_event_makes_the_engine_not_ready_until_ami_connects_again(
    connected: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(Settings(ari_password="x", ami_secret="y"), lambda: [], NoNumbers())
    assert engine.status().ari and engine.status().ami
    (handler,) = engine.ami._handlers["Shutdown"]
    handler({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"})
    assert not engine.status().ari and not engine.status().ami

    async def nothing_to_read() -> None:
        pass

    monkeypatch.setattr(engine.parking, "reload", nothing_to_read)
    monkeypatch.setattr(engine.comebacks, "record", nothing_to_read)
    asyncio.run(engine._ami_connected())  # Asterisk is back
    assert engine.status().ari and engine.status().ami
