"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.softphone import SipStack


@pytest.fixture(scope="session")
def sip_stack() -> Iterator[SipStack]:
    """The process's one pjsua2 endpoint (pjsua2 allows only one per process)."""
    stack = SipStack()
    stack.start()
    yield stack
    stack.stop()
