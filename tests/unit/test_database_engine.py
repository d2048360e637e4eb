"""The database engine's settings: a PostgreSQL host that does not answer fails fast."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.store import db


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(db, "create_engine", lambda url, **kwargs: calls.append(kwargs))
    return calls


def test_a_postgresql_connection_gives_up_after_the_connect_timeout(
        made: list[dict[str, Any]]) -> None:
    db.make_engine("postgresql+psycopg://rb:secret@10.0.0.5:5432/rb")
    assert made[0]["connect_args"] == {"connect_timeout": db.CONNECT_TIMEOUT}
    assert made[0]["pool_pre_ping"] is True


def test_a_url_that_sets_its_own_connect_timeout_keeps_it(made: list[dict[str, Any]]) -> None:
    db.make_engine("postgresql+psycopg://rb:secret@10.0.0.5:5432/rb?connect_timeout=20")
    assert made[0]["connect_args"] == {}
