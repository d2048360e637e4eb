"""GET /metrics: its token, what the API counts, and docs/metrics.md kept equal to what
it exposes (the engine's metrics on live calls: tests/integration/test_metrics_live.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from flask.testing import FlaskClient
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from bridge import metrics
from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.metrics_dir import ENVIRONMENT
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth
from tests.api.login_attempts import RINGCENTRAL, attempt
from tests.surfaces.portsip.oauth_users import add_user

TOKEN = "a-scraper-token-for-tests"
DOCS = Path(__file__).parents[2] / "docs" / "metrics.md"


def metrics_client(database: Database, provisioner: RecordingProvisioner,
                   token: str = TOKEN) -> FlaskClient:
    return create_app(database, provisioner, lambda: Readiness(True, True, True),
                      Settings(metrics_token=token, restapi_auth_per_minute=0)).test_client()


def scrape(client: FlaskClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.content_type.startswith("text/plain; version=")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def test_metrics_need_the_scrapers_token(database: Database,
                                         provisioner: RecordingProvisioner,
                                         acme: TenantAuth) -> None:
    client = metrics_client(database, provisioner)
    for headers in ({}, {"Authorization": "Bearer wrong"}, acme.headers):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.text == "the metrics token is missing or wrong\n"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    off = metrics_client(database, provisioner, token="")
    response = off.get("/metrics", headers={"Authorization": "Bearer "})
    assert (response.status_code, response.text) == (
        401, "metrics are off: set metrics_token (RINGBRIDGE_METRICS_TOKEN)\n")


def test_requests_are_counted_by_route_template_and_logins_refused(
        database: Database, provisioner: RecordingProvisioner, acme: TenantAuth) -> None:
    add_user(database, acme)
    client = metrics_client(database, provisioner)
    route = ("ringbridge_api_requests_total", frozenset({
        ("route", "/uapi/phoneCalls/<user>/<extension>"), ("method", "GET"),
        ("status", "404")}))
    refused = ("ringbridge_login_failures_total", frozenset({
        ("endpoint", "/restapi/oauth/token"), ("status", "400")}))
    before = scrape(client)
    client.get("/uapi/phoneCalls/@me/4242", headers=acme.headers)  # no such extension
    client.get("/uapi/phoneCalls/@me/4343", headers=acme.headers)
    attempt(client, RINGCENTRAL, password="wrong")
    after = scrape(client)
    assert after[route] - before.get(route, 0) == 2  # one series, not one per extension
    assert after[refused] - before.get(refused, 0) == 1
    latency = ("ringbridge_api_request_seconds_count", frozenset({
        ("route", "/uapi/phoneCalls/<user>/<extension>"), ("method", "GET")}))
    assert after[latency] - before.get(latency, 0) == 2
    unmatched = ("ringbridge_api_requests_total", frozenset({
        ("route", "unmatched"), ("method", "GET"), ("status", "404")}))
    client.get("/no/such/route")
    assert scrape(client)[unmatched] - after.get(unmatched, 0) == 1


def test_the_documented_metrics_are_those_exposed(database: Database,
                                                 provisioner: RecordingProvisioner) -> None:
    client = metrics_client(database, provisioner)
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    exposed = re.findall(r"^# TYPE (ringbridge_\S+) (\S+)$", response.text, re.MULTILINE)
    documented = re.findall(r"^\| `(ringbridge_[a-z_]+)` \| (\w+) \|", DOCS.read_text(),
                            re.MULTILINE)
    assert len(documented) == len(set(documented))
    assert {(name.removesuffix("_total"), kind) for name, kind in documented} == {
        (name.removesuffix("_total"), kind) for name, kind in exposed}


def test_the_documented_labels_are_those_of_each_metric() -> None:
    documented = {name.removesuffix("_total"): [
        label.strip() for label in re.sub(r"\s*\([^)]*\)", "", labels).split(",")
        if label.strip()] for name, labels in re.findall(
            r"^\| `(ringbridge_[a-z_]+)` \| \w+ \|([^|]*)\|", DOCS.read_text(), re.MULTILINE)}
    defined = {next(iter(metric.describe())).name: list(metric._labelnames)
               for metric in vars(metrics).values() if isinstance(metric, MetricWrapperBase)}
    assert documented == defined


def test_the_cli_never_imports_prometheus_client_before_serve_sets_its_directory(
) -> None:
    """prometheus_client picks memory or files when first imported (bridge/metrics_dir.py):
    imported by `ringbridge`'s own modules, `serve` could not add up its processes."""
    found = subprocess.run(
        [sys.executable, "-c", "import sys, bridge.cli; "
         "print('prometheus_client' in sys.modules)"], capture_output=True, text=True,
        check=True)
    assert found.stdout.strip() == "False"


def test_a_forked_process_writes_its_metrics_to_a_file_of_its_own(tmp_path: Path) -> None:
    """The process id prometheus_client asks for at each change is kept, not read from
    the system each time; a child that `serve` forks sets it anew, so its counts go to
    its own file and a scrape adds both up."""
    script = textwrap.dedent("""
        import multiprocessing, os, sys
        from bridge import metrics
        metrics.CALLS_DECLINED.inc()
        child = multiprocessing.get_context("fork").Process(
            target=metrics.CALLS_DECLINED.inc)
        child.start()
        child.join()
        print(os.getpid(), child.pid)
        sys.stdout.write(metrics.exposition().decode())
    """)
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env={**os.environ, ENVIRONMENT: str(tmp_path)})
    parent, child = found.stdout.splitlines()[0].split()
    assert sorted(path.name for path in tmp_path.glob("counter_*.db")) == sorted(
        [f"counter_{parent}.db", f"counter_{child}.db"])
    assert "ringbridge_calls_declined_total 2.0" in found.stdout
