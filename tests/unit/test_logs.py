"""Log lines as JSON: one object per line, and the call a line is about named in it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest
from click.testing import CliRunner

from bridge import logs
from bridge.cli import main
from bridge.config import ConfigError, load_settings
from bridge.flows.call_log import CallLog
from bridge.flows.events import CallEnded

log = logging.getLogger("bridge.test")


@pytest.fixture
def lines() -> io.StringIO:
    """The root logger writing JSON to a buffer, as `--log-format json` sets it up (the
    root logger comes back as it was after each test: tests/conftest.py)."""
    stream = io.StringIO()
    logs.configure("INFO", "json", stream)
    return stream


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_time_level_logger_process_and_message(
        lines: io.StringIO) -> None:
    log.warning("trunk %s is down", "carrier")
    [line] = parsed(lines)
    assert line.keys() == {"time", "level", "logger", "process", "message"}
    assert (line["level"], line["logger"], line["message"]) == (
        "WARNING", "bridge.test", "trunk carrier is down")
    assert line["time"].endswith("+00:00")  # ISO 8601, UTC


def test_lines_made_in_a_calls_task_name_that_call_and_no_other(lines: io.StringIO) -> None:
    async def call(call_id: str, tenant: int | None, gate: asyncio.Event) -> None:
        logs.in_call(call_id, tenant=tenant, group=None, channel=f"ch-{call_id}")
        log.info("ringing")
        await gate.wait()  # the other call's task runs meanwhile
        log.info("answered")

    async def both() -> None:
        gate = asyncio.Event()
        calls = [asyncio.create_task(call(key, tenant, gate))
                 for key, tenant in (("C1", 7), ("C2", None))]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*calls)
        log.info("no call here")

    asyncio.run(both())
    found = [(line["message"], line.get("call_id"), line.get("tenant"), line.get("channel"),
              "group" in line) for line in parsed(lines)]
    assert sorted(found[:4]) == [("answered", "C1", "7", "ch-C1", False),
                                 ("answered", "C2", None, "ch-C2", False),
                                 ("ringing", "C1", "7", "ch-C1", False),
                                 ("ringing", "C2", None, "ch-C2", False)]
    assert found[4] == ("no call here", None, None, None, False)


def test_a_calls_steps_name_it_wherever_they_are_published(lines: io.StringIO) -> None:
    CallLog().publish(CallEnded(call_id="C9", why="caller hung up"))
    [line] = parsed(lines)
    assert (line["call_id"], line["message"]) == ("C9", "call C9: ending (caller hung up)")


def test_the_text_format_stays_as_it_was() -> None:
    stream = io.StringIO()
    logs.configure("INFO", "text", stream)
    log.info("hello")
    assert stream.getvalue().endswith(" INFO [MainProcess] bridge.test: hello\n")


def test_log_format_is_text_or_json() -> None:
    assert load_settings(environ={"RINGBRIDGE_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="RINGBRIDGE_LOG_FORMAT must be one of text, json"):
        load_settings(environ={"RINGBRIDGE_LOG_FORMAT": "xml"})


def test_the_cli_option_writes_json_lines(tmp_path: Any, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("RINGBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'logs.db'}")
    monkeypatch.delenv("RINGBRIDGE_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["--log-format", "json", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    migrations = [json.loads(line) for line in result.stderr.splitlines()]
    assert migrations and all(line["logger"] == "alembic.runtime.migration"
                              for line in migrations)
