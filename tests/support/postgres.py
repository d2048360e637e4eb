"""The PostgreSQL test databases that scripts/test makes and names in the environment."""

from __future__ import annotations

import os

import pytest


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
