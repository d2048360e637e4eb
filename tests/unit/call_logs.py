"""A CallLog whose every event goes to one recording function (tests of flows)."""

from __future__ import annotations

from collections.abc import Callable

from bridge.flows.call_log import CallLog
from bridge.flows.events import CallEvent


def call_log_into(record: Callable[[CallEvent], object]) -> CallLog:
    call_log = CallLog()
    call_log.subscribe(CallEvent, record)
    return call_log
