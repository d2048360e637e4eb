"""`ringbridge serve`'s processes under real calls: one dying is restarted by the
supervisor and no call is lost (docs/processes.md)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import PhoneFactory
from tests.integration.restarts import connected_call, the_end
from tests.integration.ring_groups import Office
from tests.support.bridge_process import BridgeProcess, stopped, wait_gone
from tests.support.dispatch_receiver import DispatchReceiver


@pytest.fixture
def office(bridge: BridgeProcess, phone: PhoneFactory) -> Office:
    suffix = secrets.token_hex(3)
    return Office(bridge, phone, company=f"Process Taxis {suffix}",
                  sip_domain=f"process{suffix}.example").create()


@pytest.fixture
def two_api_workers(bridge: BridgeProcess) -> Iterator[BridgeProcess]:
    with bridge.restarted_with(API_WORKERS="2") as restarted:
        yield restarted


def kill_child(bridge: BridgeProcess, name: str) -> int:
    """kill -9 of one of ringbridge's processes; returns where the log was."""
    pid = bridge.child_pid(name)
    seen = len(bridge.log())
    os.kill(pid, signal.SIGKILL)
    wait_gone([pid])
    return seen


def test_the_engine_killed_mid_call_is_restarted_and_takes_the_call_up(
        office: Office, receiver: DispatchReceiver, bridge: BridgeProcess) -> None:
    outgoing, incoming, call_id = connected_call(office, receiver, "6321", "3321", "3329")
    time.sleep(1)  # they talk a moment (ringbridge finishes bridging them)
    seen = kill_child(bridge, "engine-1")
    bridge.wait_log(r"engine-1 \(pid \d+\) died after [\d.]+ s \(exit code -9\); "
                    "restarting", after=seen)
    bridge.wait_log(r"engine-1 started \(pid \d+\)", after=seen)
    bridge.wait_healthy()
    bridge.wait_log(rf"call {call_id}: .*adopted", after=seen)
    assert outgoing.state == "confirmed" and incoming.state == "confirmed"
    outgoing.wait_rtp(5)
    incoming.hangup()
    outgoing.wait_disconnected(timeout=5)  # the engine that took the call up ends it
    assert the_end(receiver, call_id) == ["invite", "ringing", "connected", "cleared"]
    record = bridge.call_record("6321")
    assert record.call_id == call_id and record.answered_by == "3321"


def test_an_api_process_killed_is_restarted(bridge: BridgeProcess) -> None:
    killed = bridge.child_pid("api-1")
    seen = kill_child(bridge, "api-1")
    bridge.wait_log(r"api-1 \(pid \d+\) died after [\d.]+ s \(exit code -9\); restarting",
                    after=seen)
    bridge.wait_log(r"api-1 started \(pid \d+\)", after=seen)
    bridge.wait_healthy(timeout=5)
    assert bridge.child_pid("api-1") != killed


def listening_inode(port: int) -> str:
    """The inode of the socket listening on 127.0.0.1:`port` (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # LISTEN
            return fields[9]
    raise AssertionError(f"nothing listens on port {port}")


def holders(inode: str, pids: dict[str, int]) -> set[str]:
    """Which of the processes have the socket open."""
    held = set()
    for name, pid in pids.items():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    held.add(name)
    return held


def test_only_serve_and_the_api_processes_hold_the_api_socket(bridge: BridgeProcess) -> None:
    """Else a stopping engine would keep the port accepting connections nobody serves."""
    processes = bridge.processes()
    assert set(processes) == {"serve", "engine-1", "api-1"}
    assert holders(listening_inode(bridge.port), processes) == {"serve", "api-1"}


def test_with_two_api_processes_one_hung_the_other_answers(
        two_api_workers: BridgeProcess) -> None:
    bridge = two_api_workers
    with stopped(bridge.child_pid("api-1")):  # alive, but accepts nothing: no restart
        answers = [httpx.get(bridge.url + "/health", timeout=1).status_code
                   for _ in range(20)]
    assert answers == [200] * 20


def test_with_two_api_processes_one_killed_refuses_no_request(
        two_api_workers: BridgeProcess) -> None:
    bridge = two_api_workers
    first, second = bridge.child_pid("api-1"), bridge.child_pid("api-2")
    assert first != second
    answers: list[int] = []
    seen = kill_child(bridge, "api-1")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # new connections while api-1 is down and back
        answers.append(httpx.get(bridge.url + "/health", timeout=2).status_code)
    assert answers and set(answers) == {200}, answers
    bridge.wait_log(r"api-1 started \(pid \d+\)", after=seen)
    assert bridge.child_pid("api-2") == second


def test_with_two_api_processes_a_lockout_holds_in_both(
        office: Office, two_api_workers: BridgeProcess) -> None:
    """Failed logins are counted in the database: three reach api-2 (api-1 stopped),
    two api-1 (api-2 stopped), and api-1 then refuses the right password unchecked.
    Counted per process, api-1 would have seen two failures and let it in."""
    bridge = two_api_workers
    bridge.cli("users", "create", "--tenant", office.company, "--username", "amy",
               "--password", answers="right-Password-1\nright-Password-1\n")

    def login(password: str) -> int:
        return httpx.post(bridge.url + "/api/login/oauth/token", timeout=10, data={
            "grant_type": "password", "username": "amy", "password": password,
            "domain": office.domain}).status_code

    def only(name: str) -> contextlib.AbstractContextManager[None]:
        return stopped(bridge.child_pid("api-2" if name == "api-1" else "api-1"))

    with only("api-2"):
        assert [login("wrong") for _ in range(3)] == [401] * 3
    with only("api-1"):
        assert [login("wrong") for _ in range(2)] == [401] * 2
        assert login("right-Password-1") == 429


