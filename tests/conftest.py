"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

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
