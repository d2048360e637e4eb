"""A call's path, step by step: one log line and one stored record per step."""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("bridge.calls")


class CallRecorder(Protocol):
    """Stores steps (the database, in services); must not block the event loop."""

    def record(self, call_id: str, kind: str, target: str, detail: str,
               fields: dict[str, Any]) -> None: ...


class NoRecorder:
    def record(self, call_id: str, kind: str, target: str, detail: str,
               fields: dict[str, Any]) -> None:
        """Keep nothing (unit tests)."""


class CallLog:
    """The one way a flow reports what happened to a call."""

    def __init__(self, recorder: CallRecorder | None = None) -> None:
        self.recorder = recorder or NoRecorder()

    def step(self, call_id: str, kind: str, text: str, *, target: str = "",
             **fields: Any) -> None:
        """`kind`: arrived, ringing, rang, answered, forwarded, repeated, ended."""
        log.info("call %s: %s", call_id, text)
        self.recorder.record(call_id, kind, target, text, fields)
