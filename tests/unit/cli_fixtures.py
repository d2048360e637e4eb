"""Fixtures for tests of the `ringbridge` command: a database (a temporary SQLite file,
and PostgreSQL: a schema of its own in the API tests' database), `ringbridge` on it, a
tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bridge.cli import main
from bridge.engine.gateway_server import GatewayServer
from bridge.gateway import EngineGateway
from bridge.gateway_link import GatewayLinks
from bridge.store.migrate import drop_schema
from bridge.store.session import Database
from tests.support.postgres import postgres_schema_url

Cli = Callable[..., Result]


@contextmanager
def serving(engine: EngineGateway, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`engine` as a running serve's engine, as the CLI finds it: through the link file."""
    links = GatewayLinks.create()
    server = GatewayServer(engine, links.links[0])
    server.start()
    path = tmp_path / "ringbridge.link"
    links.publish(path)
    monkeypatch.setenv("RINGBRIDGE_LINK_FILE", str(path))
    yield
    server.close()
    links.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        url = postgres_schema_url("RINGBRIDGE_TEST_POSTGRES_URL", "ringbridge_cli")
        database = Database(url)
        drop_schema(database)
        database.dispose()
    monkeypatch.delenv("RINGBRIDGE_CONFIG", raising=False)
    monkeypatch.setenv("RINGBRIDGE_DATABASE_URL", url)
    return url


@pytest.fixture
def cli(database_url: str) -> Cli:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args))

    return invoke


@pytest.fixture
def tenant(cli: Cli) -> str:
    assert cli("tenants", "create", "--company-id", "ABC Taxis", "--sip-domain",
               "abc.example", "--region", "GB").exit_code == 0
    assert cli("users", "create", "--tenant", "ABC Taxis", "--username", "admin"
               ).exit_code == 0
    return "ABC Taxis"
