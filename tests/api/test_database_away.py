"""The database away (PostgreSQL restarting, SQLite locked too long): every surface
answers 503 with Retry-After in its own error format, then serves again by itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bridge.store.session import Database
from tests.api.conftest import TenantAuth


@pytest.mark.parametrize("path", ["/api/ring_groups", "/api/extensions",
                                  "/restapi/v1.0/account/~/extension/~/ring-out/1"])
def test_a_request_while_the_database_is_away_is_503_then_served_again(
        client: FlaskClient, database: Database, acme: TenantAuth,
        monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    @contextmanager
    def away() -> Iterator[Session]:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        yield  # pragma: no cover

    with monkeypatch.context() as patched:
        patched.setattr(database, "session", away)
        response = client.get(path, headers=acme.headers)
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert "the database is unavailable" in response.text
    assert client.get(path, headers=acme.headers).status_code in (200, 404)  # read again
