"""`ringbridge status` against a running ringbridge and Asterisk: what it shows while a
caller waits in a ring group's line, and once the line is empty."""

from __future__ import annotations

import re

from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess
from tests.support.polling import wait_until


def test_status_shows_the_links_the_calls_and_a_caller_waiting_in_line(
        bridge: BridgeProcess, phone: PhoneFactory) -> None:
    office = Office(bridge, phone).create()
    office.phone("3601")
    caller = office.phone("3609")
    office.group("6601", ["3601"], ring_strategy="PRIORITIZED_HUNT", ring_time=20,
                 max_wait_time=30)
    office.api("POST", f"/api/extensions/{office.ids['3601']}/pause")  # nobody to ring
    waiting = caller.call("6601")
    waiting.wait_ringing()

    def with_the_caller() -> str | None:
        shown = bridge.cli("status")
        return shown if "waiting," in shown else None

    screen = wait_until(with_the_caller, 5, "the caller in the status's waiting lines")
    lines = screen.splitlines()
    assert lines[0].startswith("ringbridge at ") and " engine up " in lines[0]
    assert lines[1] == "Asterisk   ARI connected, AMI connected"
    # The session's one ringbridge may still hold other tests' calls and deliveries.
    up = re.fullmatch(r"Calls      (\d+) up, \d+ parked", lines[2])
    assert up is not None and int(up[1]) >= 1, lines[2]
    assert re.fullmatch(r"Dispatch   \d+ event\(s\) in the outbox", lines[3]), lines[3]
    assert lines[4] == "Waiting lines"
    ours = [line for line in lines[5:] if f"({office.company})" in line]
    assert len(ours) == 1 and re.fullmatch(
        rf"  6601 group 6601 \({office.company}\): 1 waiting, the longest for \d+ s", ours[0])
    waiting.hangup()
    wait_until(lambda: f"({office.company})" not in bridge.cli("status"), 5,
               "its line gone from the status")
