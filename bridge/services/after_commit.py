"""Engine commands held until the database session that made them commits.

The database is the truth: an endpoint is pushed, a RingOut started, only once the
transaction that wrote it has committed, and a failed request (rolled back) changes
neither. Services queue the command on their session; the session runs the queue
when its transaction has ended with a commit (its connection back in the pool: a push
may wait seconds for Asterisk) and drops it otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_HELD, _COMMITTED = "ringbridge.after_commit", "ringbridge.committed"


def after_commit(session: Session, command: Callable[[], None]) -> None:
    """Run `command` once `session` commits (in the order queued); never if it rolls
    back."""
    if _HELD not in session.info:
        session.info[_HELD] = []
        event.listen(session, "after_commit", _note_commit)
        event.listen(session, "after_transaction_end", _run_or_drop)
    session.info[_HELD].append(command)


def _note_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's commit is not the commit
        session.info[_COMMITTED] = True


def _run_or_drop(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:  # a savepoint's, or a subtransaction's
        return
    held, session.info[_HELD] = session.info[_HELD], []
    if session.info.pop(_COMMITTED, False):
        for command in held:
            command()
