"""A cluster node's engine follows the directory generation: a refresh each time it
moved, none while ARI is down, and a failed read retried without flooding the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.engine.directory_follower import follow_directory
from tests.unit.async_support import eventually, run

LOGGER = "bridge.engine.directory_follower"


class Directory:
    def __init__(self) -> None:
        self.generation: int | None = 1
        self.failure: Exception | None = None
        self.refreshes = 0
        self.ready = True
        self.behind = False  # work left undone: refresh though the generation stayed

    def read(self) -> int | None:
        if self.failure is not None:
            raise self.failure
        return self.generation

    async def refresh(self) -> None:
        self.refreshes += 1


async def following(directory: Directory) -> asyncio.Task[None]:
    return asyncio.create_task(follow_directory(directory.read, directory.refresh,
                                                lambda: directory.ready,
                                                lambda: directory.behind, every=0.01))


def test_a_refresh_each_time_the_generation_moves_and_none_while_it_stays() -> None:
    async def scenario() -> None:
        directory = Directory()
        task = await following(directory)
        await eventually(lambda: directory.refreshes == 1)  # the first read
        await asyncio.sleep(0.1)
        assert directory.refreshes == 1
        directory.generation = 2
        await eventually(lambda: directory.refreshes == 2)
        await asyncio.sleep(0.1)
        assert directory.refreshes == 2
        task.cancel()

    run(scenario())


def test_refreshes_go_on_while_work_is_left_though_the_generation_stays() -> None:
    async def scenario() -> None:
        directory = Directory()
        directory.behind = True
        task = await following(directory)
        await eventually(lambda: directory.refreshes >= 3)
        directory.behind = False
        await asyncio.sleep(0.05)
        settled = directory.refreshes
        await asyncio.sleep(0.1)
        assert directory.refreshes == settled
        task.cancel()

    run(scenario())


def test_nothing_is_refreshed_while_ari_is_down_and_the_change_is_caught_up_after() -> None:
    async def scenario() -> None:
        directory = Directory()
        task = await following(directory)
        await eventually(lambda: directory.refreshes == 1)
        directory.ready = False
        directory.generation = 2
        await asyncio.sleep(0.1)
        assert directory.refreshes == 1
        directory.ready = True
        await eventually(lambda: directory.refreshes == 2)
        task.cancel()

    run(scenario())


def test_a_failing_read_is_logged_once_and_followed_again_once_it_works(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        directory = Directory()
        directory.failure = ConnectionError("database away")
        task = await following(directory)
        await asyncio.sleep(0.1)
        assert directory.refreshes == 0
        directory.failure = None
        await eventually(lambda: directory.refreshes == 1)
        task.cancel()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        run(scenario())
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert messages == [
        "directory: following other nodes' changes failed (ConnectionError: database "
        "away); trying again every 0.01 s",
        "directory: following other nodes' changes again"]
