"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.softphone import SipStack


@pytest.fixture(scope="session")
def sip_stack() -> Iterator[SipStack]:
    """The process's one pjsua2 endpoint (pjsua2 allows only one per process)."""
    stack = SipStack()
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def receiver() -> Iterator[DispatchReceiver]:
    """A recording dispatch system (the taxi company's side of dispatch events)."""
    server = DispatchReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """`ringbridge` run in-process (CliRunner) sets up logging for itself, to a stream
    that closes with the run: each test gets the root handlers and every logger's level
    back as they were."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    levels = {logger: logger.level for logger in [root, *(
        found for found in logging.root.manager.loggerDict.values()
        if isinstance(found, logging.Logger))]}
    yield
    root.handlers[:] = handlers
    for logger, level in levels.items():
        logger.setLevel(level)
