"""The API fixtures of tests/api/conftest.py, for the surfaces' tests too."""

from tests.api.conftest import (  # noqa: F401  (pytest finds fixtures by name here)
    acme,
    client,
    database,
    globex,
    migrated_database,
    provisioner,
    statements,
)
