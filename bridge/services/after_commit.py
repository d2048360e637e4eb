"""Engine commands held until the database session that made them commits.

The database is the truth: an endpoint is pushed, a RingOut started, only once the
transaction that wrote it has committed, and a failed request (rolled back) changes
neither. Services queue the command on their session; the session runs the queue
after its commit and drops it on a rollback.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_HELD = "ringbridge.after_commit"


def after_commit(session: Session, command: Callable[[], None]) -> None:
    """Run `command` once `session` commits (in the order queued); never if it rolls
    back."""
    if _HELD not in session.info:
        session.info[_HELD] = []
        event.listen(session, "after_commit", _run_held)
        event.listen(session, "after_rollback", _drop_held)
    session.info[_HELD].append(command)


def _run_held(session: Session) -> None:
    held, session.info[_HELD] = session.info[_HELD], []
    for command in held:
        command()


def _drop_held(session: Session) -> None:
    session.info[_HELD] = []
