"""The directory generation: a number that goes up with every change to what calls are
routed by, so that a process keeping routes in memory knows with one read whether they
still hold, whichever process (API, CLI, another node) made the change.

Every ORM write of a directory row bumps it in the writer's own transaction: flushed
objects (`before_flush`) and INSERT/UPDATE/DELETE statements on those models
(`do_orm_execute`). Core statements on a connection bypass both: ringbridge writes the
directory through the ORM only.
"""

from __future__ import annotations

import time
from itertools import chain
from typing import Any, cast

from sqlalchemy import Connection, Table, event, select
from sqlalchemy.orm import ORMExecuteState, Session

from bridge.store.db import dialect_insert
from bridge.store.models import (
    DirectoryGeneration,
    DispatchSettings,
    Extension,
    RingGroup,
    RingGroupMember,
    Tenant,
)

DIRECTORY_MODELS = (Tenant, Extension, RingGroup, RingGroupMember, DispatchSettings)
GENERATION = cast(Table, DirectoryGeneration.__table__)
# Read on every call: built once (building it cost more than running it).
_CURRENT = select(GENERATION.c.generation).where(GENERATION.c.id == 1)
_BUMPED = "directory generation bumped in"  # session.info: the transaction that did


def watch_directory_changes() -> None:
    """Have every session bump the generation when it writes a directory row (once per
    process; calling again changes nothing)."""
    if not event.contains(Session, "before_flush", _on_flush):
        event.listen(Session, "before_flush", _on_flush)
        event.listen(Session, "do_orm_execute", _on_statement)


def current_generation(connection: Connection) -> int | None:
    """None while the row is missing (deleted by hand, until the next change): nothing
    can be kept then."""
    generation: int | None = connection.scalar(_CURRENT)
    return generation


def _bump(session: Session) -> None:
    """One more, once per transaction however many flushes and statements it has; a
    row deleted by hand is made again, at a number no process can have kept
    (microseconds since the epoch, far above any count of changes)."""
    transaction = session.get_transaction()
    if session.info.get(_BUMPED) is transaction:
        return
    session.info[_BUMPED] = transaction
    connection = session.connection()
    connection.execute(dialect_insert(connection, GENERATION)
                       .values(id=1, generation=time.time_ns() // 1000)
                       .on_conflict_do_update(index_elements=[GENERATION.c.id], set_={
                           "generation": GENERATION.c.generation + 1}))


def _on_flush(session: Session, _context: Any, _instances: Any) -> None:
    if any(isinstance(row, DIRECTORY_MODELS)
           for row in chain(session.new, session.dirty, session.deleted)):
        _bump(session)


def _on_statement(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if ((state.is_insert or state.is_update or state.is_delete) and mapper is not None
            and issubclass(mapper.class_, DIRECTORY_MODELS)):
        _bump(state.session)
