"""The engine's process exits when its loop ends by itself, so that the supervisor
starts a new one (a process left up with no engine would hold calls in the dialplan
for ever while /health said 503)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from bridge.config import Settings
from bridge.engine.engine import Engine
from bridge.engine.process import run_engine
from bridge.gateway_link import GatewayLink, GatewayLinks


def broken_engine(link: GatewayLink, database_url: str) -> None:
    async def run(_engine: Engine) -> None:
        raise RuntimeError("the database went away")

    Engine.run = run  # type: ignore[method-assign,assignment]
    run_engine(Settings(ari_password="x", ami_secret="y", database_url=database_url), 1, link)


def test_an_engine_whose_loop_ends_exits_with_1(tmp_path: Path) -> None:
    links = GatewayLinks.create()
    try:
        process = multiprocessing.get_context("fork").Process(
            target=broken_engine, args=(links.links[0], f"sqlite:///{tmp_path / 'engine.db'}"))
        process.start()
        process.join(10)
        assert process.exitcode == 1
    finally:
        links.remove()
