"""The PostgreSQL test databases that scripts/test makes and names in the environment."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def postgres_url(variable: str) -> str:
    """The URL in `variable`. Without it the PostgreSQL run is skipped when run by hand,
    and fails under CI, where a skipped database run would pass unseen."""
    url = os.environ.get(variable)
    if url:
        return url
    reason = f"the PostgreSQL run needs {variable} (scripts/test sets it)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def postgres_schema_url(variable: str, schema: str) -> str:
    """The URL in `variable` with a schema of its own (made here) first on the search path:
    a test that drops and rebuilds ringbridge's tables there leaves the ones the API tests
    use in the same database, and the same pytest session, alone."""
    url = make_url(postgres_url(variable))
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)
