"""`ringbridge status`: the screen, and the command reading it from a running engine
through its link file (on a temporary SQLite file and on PostgreSQL: cli_fixtures.py's
fixtures). On a live ringbridge: tests/integration/test_status_live.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge import cli as cli_module
from bridge.gateway import EngineOverview, EngineStatus
from bridge.gateway_link import GatewayLinks
from bridge.status_screen import render
from bridge.store.models import RingGroup, Tenant
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner
from tests.unit import cli_fixtures
from tests.unit.cli_fixtures import Cli, serving

# cli_fixtures.py's fixtures: a database (SQLite, PostgreSQL), `ringbridge` on it, a tenant
database_url, cli, tenant = cli_fixtures.database_url, cli_fixtures.cli, cli_fixtures.tenant
NOW = datetime(2026, 12, 5, 14, 30, tzinfo=UTC)


def overview(lines: dict[int, tuple[int, float]], ari: bool = True) -> EngineOverview:
    return EngineOverview(status=EngineStatus(ari=ari, ami=True),
                          started_at=NOW - timedelta(hours=2, minutes=5), calls_up=3,
                          parked=1, lines=lines, outbox=4)


def test_the_screen_names_each_waiting_line_by_its_group() -> None:
    screen = render(overview({7: (2, 75.4), 9: (1, 3600 * 3 + 61)}), {7: "6001 Cabs (ABC)"},
                    NOW)
    assert screen.splitlines() == [
        "ringbridge at 2026-12-05 14:30:00 UTC: engine up 2 h 05 min",
        "Asterisk   ARI connected, AMI connected",
        "Calls      3 up, 1 parked",
        "Dispatch   4 event(s) in the outbox",
        "Waiting lines",
        "  6001 Cabs (ABC): 2 waiting, the longest for 1 min 15 s",
        "  ring group 9: 1 waiting, the longest for 3 h 01 min",  # deleted meanwhile
    ]


def test_a_link_down_stands_out_and_no_line_says_so() -> None:
    screen = render(overview({}, ari=False), {}, NOW).splitlines()
    assert screen[1] == "Asterisk   ARI DOWN, AMI connected"
    assert screen[-1] == "Waiting    no caller waits"


class WaitingEngine(RecordingProvisioner):
    """An engine with two callers waiting in the line of group `group_id`."""

    group_id = 0

    def overview(self) -> EngineOverview:
        return overview({self.group_id: (2, 42.0)})


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WaitingEngine]:
    """A running serve's engine as the CLI finds it: through the link file."""
    made = WaitingEngine()
    with serving(made, tmp_path, monkeypatch):
        yield made


def a_group(database_url: str) -> int:
    db = Database(database_url)
    with db.session() as session:
        abc = session.scalars(select(Tenant)).one()
        group = RingGroup(tenant_id=abc.id, name="Cabs", extension_number="6001",
                          ring_strategy="RING_SIMULTANEOUSLY")
        session.add(group)
        session.flush()
        group_id = group.id
    db.dispose()
    return group_id


def test_status_reads_the_running_engine_and_names_its_groups(
        cli: Cli, tenant: str, database_url: str, engine: WaitingEngine) -> None:
    engine.group_id = a_group(database_url)
    result = cli("status")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "Asterisk   ARI connected, AMI connected", "Calls      3 up, 1 parked",
        "Dispatch   4 event(s) in the outbox", "Waiting lines",
        "  6001 Cabs (ABC Taxis): 2 waiting, the longest for 42 s"]


def test_status_watch_refreshes_until_interrupted(
        cli: Cli, tenant: str, engine: WaitingEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "wait", sleep)
    result = cli("status", "--watch", "--interval", "5")
    assert result.exit_code == 0 and pauses == [5.0, 5.0]
    assert result.stdout.count("Calls      3 up, 1 parked") == 2


def test_status_without_a_running_ringbridge_says_so(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGBRIDGE_LINK_FILE", str(tmp_path / "none.link"))
    result = cli("status")
    assert result.exit_code == 1
    assert "ringbridge is not running: no link at" in result.stderr


def test_status_of_an_engine_gone_since_it_published_its_link(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    links, path = GatewayLinks.create(), tmp_path / "stale.link"
    links.publish(path)  # no server behind it: a serve killed with -9
    monkeypatch.setenv("RINGBRIDGE_LINK_FILE", str(path))
    result = cli("status")
    assert result.exit_code == 1
    assert "the telephony engine is not running" in result.stderr
    links.remove()
