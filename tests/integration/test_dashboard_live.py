"""Debian's Prometheus scraping a real ringbridge and Asterisk with
monitoring/prometheus.yml, and every expression of monitoring/grafana-dashboard.json
valid PromQL that returns data from it after real calls."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.store.ids import decode_id
from tests.integration.conftest import PhoneFactory
from tests.integration.dispatching import dispatch_to
from tests.integration.phone_calls import (
    PARK_SECONDS,
    calls_of,
    park,
    talking,
    view_of,
)
from tests.integration.ringouts import RingOutOffice, connect
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.polling import wait_until
from tests.support.softphone import Phone

MONITORING = Path(__file__).parents[2] / "monitoring"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def prometheus(bridge: BridgeProcess, asterisk: Asterisk,
               tmp_path: Path) -> Iterator[str]:
    """Prometheus (scripts/test installs Debian's) on a port of its own, scraping every
    second with the repository's configuration; its URL."""
    binary = shutil.which("prometheus")
    assert binary is not None, "Debian's prometheus is not installed (scripts/test does)"
    subprocess.run(  # as scripts/monitor and the compose Prometheus render it
        [MONITORING / "render-config", MONITORING / "prometheus.yml", tmp_path], check=True,
        env={**os.environ, "RINGBRIDGE_METRICS_TOKEN": bridge.settings["METRICS_TOKEN"],
             "PROMETHEUS_PASSWORD": asterisk.prometheus_password,
             "RINGBRIDGE_PORT": str(bridge.port), "ARI_PORT": str(asterisk.ari_port),
             "SCRAPE_INTERVAL": "1s"})
    config = tmp_path / "prometheus.yml"
    url = f"http://127.0.0.1:{free_port()}"
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address={url.removeprefix('http://')}"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _ready(url), 20, "Prometheus ready")
        # Its first scrapes come a few seconds after it is ready (discovery settles).
        wait_until(lambda: len(query(url, "up == 1")) == 2, 20,
                   "ringbridge and Asterisk both scraped")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def query(url: str, expr: str) -> list[Any]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", (expr, answer)  # valid PromQL
    return list(answer["data"]["result"])


def expressions() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_dashboard_expression_returns_data_after_real_calls(
        bridge: BridgeProcess, phone: PhoneFactory, receiver: DispatchReceiver,
        prometheus: str) -> None:
    with bridge.restarted_with():  # its metrics start empty: only this test's calls count
        place_calls(bridge, phone, receiver, prometheus)
        assert len(expressions()) == 32
        missing: list[str] = []

        def every_one_has_data() -> bool:
            missing[:] = [expr for expr in expressions() if not query(prometheus, expr)]
            return not missing

        try:
            wait_until(every_one_has_data, 20, "data for every expression of the dashboard")
        except TimeoutError:
            pytest.fail(f"no data from Prometheus for: {missing}")
        series = query(prometheus, 'sum(increase(ringbridge_calls_abandoned_total[5m]))')
        assert float(series[0]["value"][1]) > 0  # the counts themselves, read back


def place_calls(bridge: BridgeProcess, phone: PhoneFactory, receiver: DispatchReceiver,
                prometheus: str) -> None:
    """A group call answered and its caller parked until the parking time runs out and
    rings the parker back; meanwhile a RingOut whose first phone, busy on it, makes a
    caller wait in its group's line, and a call parked and taken back by dialling its
    slot. Then a group call abandoned, one missed (with dispatch events), and a refused
    login."""
    office = RingOutOffice(bridge, phone).create()
    members = [office.phone(n) for n in ("4901", "4902")]
    caller = office.phone("4909")
    group = decode_id(office.group("6901", ["4901", "4902"],
                                   ring_strategy="RING_SIMULTANEOUSLY", ring_time=4))
    dispatch_to(office, receiver)

    answered = caller.call("6901")
    ringing = [member.wait_incoming() for member in members]
    ringing[0].answer()
    answered.wait_answered()
    (call,) = wait_until(lambda: calls_of(office, "4901"), 5, "the call listed")
    assert park(office, "4901", call, "00").status_code == 200  # for PARK_SECONDS
    ringing[0].wait_disconnected()
    # Prometheus has the group's series (at 0 but for the answer) before the next calls
    # move them: increase() cannot see the first step of a series born at 1.
    wait_until(lambda: query(prometheus, f'ringbridge_calls_abandoned_total{{group="{group}"}}'
                                         " == 0"), 10, "the group's series scraped")

    office.owner_id = office.extension("4903")  # the RingOuts' extension
    agent, other = office.phone("4903"), office.phone("4904")
    ring_out_and_wait_in_line(office, agent, other, waiting=members[1], prometheus=prometheus)
    take_back_from_the_slot(office, agent, other)
    back = members[0].wait_incoming(timeout=PARK_SECONDS + 5)  # the parking time ran out
    answered.hangup()  # the parked caller leaves while its parker is rung back
    back.wait_disconnected()

    abandoned = caller.call("6901")  # the caller gives up while the phones ring
    for member in members:
        member.wait_incoming()
    abandoned.hangup()
    missed = caller.call("6901")  # nobody answers in the group's 4 s
    missed.wait_disconnected(timeout=10)
    refused = httpx.post(f"{bridge.url}/api/login/oauth/token", timeout=5, data={
        "grant_type": "password", "username": "nobody", "password": "wrong"})
    assert refused.status_code in (400, 401)


def ring_out_and_wait_in_line(office: RingOutOffice, agent: Phone, other: Phone,
                              waiting: Phone, prometheus: str) -> None:
    """`agent` RingOuts `other`; busy on it, it leaves a caller (`waiting`) to its group
    in the group's line until Prometheus has seen the line. Then the RingOut ends."""
    group = decode_id(office.group("6902", [agent.username],
                                   ring_strategy="RING_SIMULTANEOUSLY",
                                   skip_busy_member=True, max_wait_time=30))
    ringout_id, first, second = connect(office, agent, other, other.username)
    in_line = waiting.call("6902")
    in_line.wait_ringing()  # ringback while it waits
    wait_until(lambda: query(prometheus, f'ringbridge_waiting_calls{{group="{group}"}} == 1'
                                         " and ringbridge_oldest_waiting_seconds > 0"),
               10, "the caller waiting in line scraped")
    assert len(agent.incoming) == 1  # busy: not rung for the waiting caller
    in_line.hangup()
    first.hangup()
    second.wait_disconnected()
    office.wait_status(ringout_id, "Success", "Finished", "Finished")  # ended, connected


def take_back_from_the_slot(office: RingOutOffice, parker: Phone, parked: Phone) -> None:
    """A call parked, then taken back by its parker dialling the slot."""
    out, incoming, call = talking(office, parker, parked)
    response = park(office, parker.username, call, view_of(call, parked.username)["id"], 60)
    assert response.status_code == 200, response.text
    slot = str(view_of(response.json()[0], parked.username)["parkedPos"])
    out.wait_disconnected()
    again = parker.call(slot)
    again.wait_answered()
    again.hangup()
    incoming.wait_disconnected()
