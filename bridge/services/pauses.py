"""Which extensions are paused (agent availability), for the engine: ring groups pass
them over (bridge/flows/pauses.py). Pausing and resuming: bridge/services/extensions.py."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Table, select

from bridge.store.models import Extension

EXTENSIONS = cast(Table, Extension.__table__)
# Read at every change of the directory generation: built once.
_PAUSED = select(EXTENSIONS.c.id, EXTENSIONS.c.pause_reason).where(
    EXTENSIONS.c.paused_at.is_not(None))


def paused_extensions(connection: Connection) -> dict[int, str]:
    """{extension id: reason ("" when none was given)} of every paused extension, of
    every tenant: one SELECT on a bare connection (cheaper than an ORM session)."""
    return {extension_id: reason or ""
            for extension_id, reason in connection.execute(_PAUSED)}
