"""A recording fake ARI for unit tests of the flows and the engine (the real one is in the
integration tests), and an engine that uses it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.asterisk.ari import AriError
from bridge.config import Settings
from bridge.engine.engine import Engine
from bridge.flows.hunt_redirects import NoRedirects


class NothingPaused(NoRedirects):
    """A base for the tests' directories: no redirects, no paused member."""

    def paused(self) -> Mapping[int, str]:
        return {}


class FakeAri:
    """Records requests; raises AriError for paths listed in `failing`."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.bodies: dict[str, Any] = {}  # the JSON body of each POST that has one, by path
        self.failing = failing
        self.connected = True
        self.refusing = False  # AriClient.refuse_requests()

    def refuse_requests(self) -> None:
        self.refusing = True

    async def _record(self, method: str, path: str, params: Any) -> Any:
        self.requests.append((method, path, dict(params or {})))
        if any(path.endswith(suffix) for suffix in self.failing):
            raise AriError(400, method, path, "Channel not found")
        return {}

    async def post(self, path: str, params: Any = None, json: Any = None) -> Any:
        if json is not None:
            key = path if path != "/channels/create" else f"{path}:{(params or {})['channelId']}"
            self.bodies[key] = json
        return await self._record("POST", path, params)

    async def delete(self, path: str, params: Any = None) -> Any:
        return await self._record("DELETE", path, params)

    async def get(self, path: str, params: Any = None) -> Any:
        return await self._record("GET", path, params)


def engine_with(ari: FakeAri) -> Engine:
    engine = Engine(Settings(ari_password="x", ami_secret="y"), lambda: [],
                    NoRedirects())  # type: ignore[arg-type]
    engine.ari = ari  # type: ignore[assignment]
    return engine


async def deliver(engine: Engine, ari_event: dict[str, Any]) -> None:
    """Hand an event to the engine and wait until its flow has handled it."""
    await engine.on_event(ari_event)
    await engine.settled()


def event(kind: str, channel_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "channel": {"id": channel_id, "state": fields.pop("state", "Down"),
                                      "name": f"PJSIP/{channel_id}"}, **fields}
