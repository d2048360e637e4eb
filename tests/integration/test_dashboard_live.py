"""Debian's Prometheus scraping a real ringbridge and Asterisk with
monitoring/prometheus.yml, and every expression of monitoring/grafana-dashboard.json
valid PromQL that returns data from it after real calls."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest

from bridge.store.ids import decode_id
from tests.integration.conftest import PhoneFactory
from tests.integration.ring_groups import Office
from tests.integration.test_dispatch_live import dispatch_to
from tests.integration.test_phone_calls_live import calls_of, park
from tests.support.asterisk import Asterisk
from tests.support.bridge_process import BridgeProcess
from tests.support.dispatch_receiver import DispatchReceiver
from tests.support.polling import wait_until

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
    token, password = tmp_path / "ringbridge-token", tmp_path / "asterisk-password"
    token.write_text(bridge.settings["METRICS_TOKEN"])
    password.write_text(asterisk.prometheus_password)
    config = tmp_path / "prometheus.yml"
    config.write_text(Template((MONITORING / "prometheus.yml").read_text()).substitute(
        SCRAPE_INTERVAL="1s", RINGBRIDGE_TOKEN_FILE=token, RINGBRIDGE_PORT=bridge.port,
        ASTERISK_PASSWORD_FILE=password, ARI_PORT=asterisk.ari_port))
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
        assert len(expressions()) == 27
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
    """A group call answered and its caller parked, one abandoned, one missed (with
    dispatch events), and a refused login."""
    office = Office(bridge, phone).create()
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
    assert park(office, "4901", call, "00").status_code == 200
    ringing[0].wait_disconnected()
    answered.hangup()
    # Prometheus has the group's series (at 0 but for the answer) before the next calls
    # move them: increase() cannot see the first step of a series born at 1.
    wait_until(lambda: query(prometheus, f'ringbridge_calls_abandoned_total{{group="{group}"}}'
                                         " == 0"), 10, "the group's series scraped")
    abandoned = caller.call("6901")  # the caller gives up while the phones ring
    for member in members:
        member.wait_incoming()
    abandoned.hangup()
    missed = caller.call("6901")  # nobody answers in the group's 4 s
    missed.wait_disconnected(timeout=10)
    refused = httpx.post(f"{bridge.url}/api/login/oauth/token", timeout=5, data={
        "grant_type": "password", "username": "nobody", "password": "wrong"})
    assert refused.status_code in (400, 401)
