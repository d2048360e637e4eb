"""Log lines as text (the default) or as JSON, one object per line, and the call each
line is about.

The engine works through each call's events in a task of the call's own; `in_call`
names the call (its id, and its tenant, group and channel where known) for the rest
of that task, and a filter adds those fields to every record made in it, so a JSON
line about a call carries `call_id` wherever in the code it was logged. A record can
name its call itself too (`extra={"call_id": ...}`).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s"
_CALL: ContextVar[dict[str, str] | None] = ContextVar("ringbridge_call", default=None)


def in_call(call_id: str, **known: int | str | None) -> None:
    """From here on in this task (and the tasks it starts), records are about this call;
    `known`: its tenant, group, channel... (those None are left out)."""
    _CALL.set({"call_id": call_id} | {name: str(value) for name, value in known.items()
                                      if value is not None})


class CallFields(logging.Filter):
    """Adds the fields of the call the record is made in (a record's own win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_CALL.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def configure(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Every record to `stream` (stderr as it is when called), in `log_format`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(CallFields())
    handler.setFormatter(_json() if log_format == "json" else logging.Formatter(TEXT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def _json() -> JsonFormatter:
    """time (ISO 8601, UTC), level, logger, process, message, then the call's fields and
    any other `extra`."""
    return JsonFormatter("{levelname}{name}{processName}{message}", style="{",
                         timestamp="time", rename_fields={
                             "levelname": "level", "name": "logger",
                             "processName": "process"})
