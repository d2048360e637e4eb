"""GET /health: 200 only when ARI, AMI and the database are all ready; else 503 naming
which part is not."""

from __future__ import annotations

import socket

import pytest

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.store.db import database_ready
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner


def health_with(database: Database, readiness: Readiness) -> tuple[int, object]:
    app = create_app(database, RecordingProvisioner(), lambda: readiness)
    response = app.test_client().get("/health")  # no token: health is open
    return response.status_code, response.json


def test_all_ready_answers_200(database: Database) -> None:
    assert health_with(database, Readiness(ari=True, ami=True, database=True)) == (
        200, {"status": "ok", "ari": True, "ami": True, "database": True})


@pytest.mark.parametrize("not_ready", ["ari", "ami", "database"])
def test_one_part_not_ready_answers_503_naming_it(database: Database, not_ready: str) -> None:
    parts = {"ari": True, "ami": True, "database": True, not_ready: False}
    assert health_with(database, Readiness(**parts)) == (
        503, {"status": "unavailable", **parts})


def test_nothing_ready_answers_503_naming_every_part(database: Database) -> None:
    assert health_with(database, Readiness(ari=False, ami=False, database=False)) == (
        503, {"status": "unavailable", "ari": False, "ami": False, "database": False})


def test_a_database_that_does_not_answer_is_not_ready() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = Database(f"postgresql+psycopg://ringbridge:x@127.0.0.1:{port}/ringbridge")
    try:
        assert not database_ready(unreachable.engine)
    finally:
        unreachable.dispose()


def test_a_working_database_is_ready(database: Database) -> None:
    assert database_ready(database.engine)


def test_a_stopping_process_answers_503_stopping(database: Database) -> None:
    stopping = Readiness(ari=True, ami=True, database=True, stopping=True)
    assert health_with(database, stopping) == (
        503, {"status": "stopping", "ari": True, "ami": True, "database": True})


@pytest.mark.parametrize("path", ["/api/extensions", "/restapi/v1.0/account/~/extension/~",
                                  "/nowhere"])
def test_a_stopping_process_refuses_every_other_request(database: Database,
                                                        path: str) -> None:
    ready = Readiness(ari=True, ami=True, database=True)
    app = create_app(database, RecordingProvisioner(), lambda: ready, stopping=lambda: True)
    response = app.test_client().get(path)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "stopping" in response.get_data(as_text=True)
