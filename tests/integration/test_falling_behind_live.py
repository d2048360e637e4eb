"""An engine whose Asterisk answers late declines new calls and RingOuts, and takes
them again once it has caught up (bridge/engine/load_watch.py, docs/operations.md).

Asterisk is made to answer late for real: its container is frozen (`docker pause`)
while the engine waits on ten ARI requests, as a machine with no core to spare would
hold them. The requests are RingOut cancels: one ARI request each and nothing after,
so every answer in the engine's window is late when Asterisk thaws. The RingOuts ring
a SIP address that never answers (a socket of the test's that only counts INVITEs):
softphones here carry 4 calls at most.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bridge.engine.load_watch import MIN_ANSWERS, SLOW, WINDOW
from tests.integration.conftest import PhoneFactory
from tests.integration.ringouts import RingOutOffice
from tests.support import sipp
from tests.support.asterisk import STASIS_WAIT, Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.raw_sip import listener
from tests.support.softphone import parse_sip_message

RINGOUTS = MIN_ANSWERS  # each cancel is one late answer
SOURCES = ("4961", "4962")  # the RingOuts' first legs: five ringing each
FROZEN = SLOW * 2.5  # seconds Asterisk is frozen: its answers are late, none times out
HELD_FOR = 10  # STASIS_WAIT for the test: a declined call waits for the engine


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Iterator[RingOutOffice]:
    # 21 RingOut requests within a minute, each ringing long enough to be cancelled.
    with bridge.restarted_with(RESTAPI_HEAVY_PER_MINUTE="100",
                               RINGOUT_RING_TIME="30") as restarted:
        made = RingOutOffice(restarted, phone).create()
        made.owner_id = made.extension("4950")
        made.extension("4952")  # the RingOuts' callee: never reached
        yield made


@pytest.fixture
def held_long(asterisk: Asterisk) -> Iterator[None]:
    asterisk.set_global("STASIS_WAIT", str(HELD_FOR))
    try:
        yield
    finally:
        asterisk.set_global("STASIS_WAIT", str(STASIS_WAIT))


@pytest.fixture
def silent_phone() -> Iterator[socket.socket]:
    """A SIP address that takes INVITEs and never answers them."""
    with listener(timeout=0.2) as silent:
        yield silent


def invites_to(silent: socket.socket, count: int, timeout: float = 10) -> None:
    """Wait until `count` different calls were offered to the silent address."""
    calls: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(calls) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(calls)} of {count} INVITEs came in {timeout} s")
        try:
            start_line, headers = parse_sip_message(silent.recv(65535).decode())
        except TimeoutError:
            continue
        if start_line.startswith("INVITE "):
            calls.add(headers["Call-ID"])


def ringout_post(office: RingOutOffice, source: str) -> httpx.Response:
    return office.bridge.api("POST", office.path(), office.token, json={
        "from": {"phoneNumber": source}, "to": {"phoneNumber": "4952"}})


def cancel_while_frozen(office: RingOutOffice, asterisk: Asterisk,
                        ringout_ids: list[str]) -> list[int]:
    """Cancel the RingOuts with Asterisk frozen: the engine's ARI requests wait until it
    thaws. The DELETEs' statuses."""
    container = asterisk.container
    assert container is not None
    with ThreadPoolExecutor(len(ringout_ids)) as pool:
        container.pause()
        try:
            cancels = [pool.submit(office.bridge.api, "DELETE", office.path(ringout_id),
                                   office.token) for ringout_id in ringout_ids]
            time.sleep(FROZEN)
        finally:
            container.unpause()
        return [cancel.result().status_code for cancel in cancels]


def test_calls_and_ringouts_wait_while_asterisk_answers_late_and_go_on_after(
        office: RingOutOffice, asterisk: Asterisk, held_long: None,
        silent_phone: socket.socket) -> None:
    for number in SOURCES:
        office.extension(number)
        sipp.point_at_uas(asterisk, f"{number}@{office.domain}",
                          silent_phone.getsockname()[1])
    member, caller = office.phone("4953"), office.phone("4954")
    office.group("6958", ["4953"], ring_strategy="RING_SIMULTANEOUSLY")
    ringout_ids = [office.start("4952", source)
                   for source in SOURCES for _ in range(RINGOUTS // len(SOURCES))]
    invites_to(silent_phone, RINGOUTS)
    time.sleep(WINDOW + 0.2)  # the quick answers that started them leave the window
    seen = len(office.bridge.log())
    assert cancel_while_frozen(office, asterisk, ringout_ids) == [204] * RINGOUTS

    declined = ringout_post(office, SOURCES[0])
    out = caller.call("6958")
    assert declined.status_code == 503, declined.text
    assert declined.json()["errorCode"] == "CMN-503"
    assert "behind Asterisk" in declined.json()["message"]
    assert declined.headers["Retry-After"]

    incoming = member.wait_incoming(timeout=HELD_FOR)  # once the engine caught up
    incoming.answer()
    out.wait_answered()
    out.hangup()
    incoming.wait_disconnected()

    office.bridge.wait_log(r"ARI answers late \(\d+% of the requests", after=seen)
    office.bridge.wait_log(r"RingOut \d+ declined: ARI answers late", after=seen)
    caught_up = office.bridge.wait_log(
        r"the engine caught up with Asterisk: (\d+) offers of new calls were declined",
        after=seen)
    assert int(caught_up.group(1)) >= 1
    assert re.search(r"no ringbridge engine claimed the call: holding 4954 -> 6958",
                     asterisk.logs())
    record = office.bridge.call_record("6958")
    assert (record.caller, record.answered_by) == ("4954", "4953")
