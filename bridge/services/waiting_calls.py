"""Ring groups' waiting lines in the database, for engines sharing one Asterisk, or the
Asterisk nodes of a cluster.

Each engine keeps its own calls' places and turns (bridge/flows/waiting_line.py); the
order of a group's line, across every engine's calls, is read here: by priority, then
by when each call joined. The lines are an Asterisk's (its ARI URL), or a cluster's
(every engine on every node in one line per group: bridge/engine/process.py). An
engine's rows go with it: a new engine process deletes those it left (its calls start
again as new calls), and those of engines that run no more.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, tuple_

from bridge.store.models import WaitingCall
from bridge.store.session import Database


class DatabaseWaitingCalls:
    def __init__(self, database: Database, asterisk: str, app: str,
                 apps: Collection[str]) -> None:
        """`asterisk`: whose lines (the engines' Asterisk: its ARI URL, or the cluster);
        `app`: this engine (its ARI application, or in a cluster its lease's label);
        `apps`: every engine's."""
        self.database = database
        self.asterisk = asterisk
        self.app = app
        self.apps = tuple(apps)

    def clear(self) -> None:
        """This engine's rows (a process before it left them), and any left by an app no
        engine runs now."""
        with self.database.session() as session:
            session.execute(delete(WaitingCall).where(self._line(), or_(
                WaitingCall.engine == self.app, WaitingCall.engine.not_in(self.apps))))

    def add(self, group_id: int, call_id: str, rank: int, joined_at: datetime) -> int:
        """The call joins the group's line (again, when it moved from another group's);
        its place in it (1 = first)."""
        with self.database.session() as session:
            session.execute(delete(WaitingCall).where(WaitingCall.call_id == call_id))
            session.add(WaitingCall(call_id=call_id, ring_group_id=group_id, rank=rank,
                                    joined_at=joined_at, asterisk=self.asterisk,
                                    engine=self.app))
            session.flush()
            ahead = session.scalar(select(func.count()).select_from(WaitingCall).where(
                self._line(group_id),
                tuple_(WaitingCall.rank, WaitingCall.joined_at, WaitingCall.call_id)
                < tuple_(rank, joined_at, call_id)))
            return (ahead or 0) + 1

    def remove(self, call_id: str) -> None:
        with self.database.session() as session:
            session.execute(delete(WaitingCall).where(WaitingCall.call_id == call_id))

    def first(self, group_id: int) -> str | None:
        """The call first in the group's line, whichever engine runs it."""
        with self.database.session() as session:
            return session.scalar(select(WaitingCall.call_id).where(
                self._line(group_id)).order_by(
                WaitingCall.rank, WaitingCall.joined_at, WaitingCall.call_id).limit(1))

    def _line(self, group_id: int | None = None) -> ColumnElement[bool]:
        """This Asterisk's rows (of one group)."""
        mine = WaitingCall.asterisk == self.asterisk
        return mine if group_id is None else and_(mine, WaitingCall.ring_group_id == group_id)
