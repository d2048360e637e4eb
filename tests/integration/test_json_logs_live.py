"""`log_format = json` on a real call: every line of ringbridge's log is one JSON object,
and every line about the call names it, also those that do not say its id."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess


@pytest.fixture
def json_logs(bridge: BridgeProcess) -> Iterator[BridgeProcess]:
    with bridge.restarted_with(LOG_FORMAT="json") as restarted:
        yield restarted


def test_every_line_about_a_call_names_it(json_logs: BridgeProcess,
                                          phone: PhoneFactory) -> None:
    office = Office(json_logs, phone).create()
    caller, member = office.phone("2291"), office.phone("2292")
    office.group("6292", ["2292"], ring_strategy="RING_SIMULTANEOUSLY")
    seen = len(json_logs.log())
    out = caller.call("6292")
    incoming = member.wait_incoming()
    incoming.answer()
    out.wait_answered()
    out.hangup()
    incoming.wait_disconnected()
    call_id = json_logs.call_record("6292").call_id

    lines = [json.loads(line) for line in json_logs.log()[seen:].splitlines()]
    saying_its_id = [line for line in lines if call_id in line["message"]]
    assert len(saying_its_id) >= 5  # arrived, hunting, ringing, answered, ending...
    assert [line for line in saying_its_id if line.get("call_id") != call_id] == []
    named = [line for line in lines if line.get("call_id") == call_id]
    # Lines of the call's own task that do not repeat its id (ARI requests and events).
    assert [line for line in named if call_id not in line["message"]] != []
    assert len({line.get("tenant") for line in named} - {None}) == 1  # the group's tenant
