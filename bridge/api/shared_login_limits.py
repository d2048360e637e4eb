"""Failed logins counted in the database (`login_failures`) for the login throttle
(bridge/api/login_limits.py): the `limits` library's moving window, kept where every
API process (and every ringbridge node on the database) sees it, so a lockout holds
whichever process the next attempt reaches.

Keys are stored as their SHA-256: they carry what a request named (a username, a
tenant), of any length, and are never read back. Failures older than KEPT are deleted
as new ones are counted. Two processes counting one key at the same moment may each
count past the limit by one, as two threads of one process may.
"""

from __future__ import annotations

import hashlib
import time

from limits.storage import MovingWindowSupport, Storage
from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError

from bridge.store.models import LoginFailure
from bridge.store.session import Database

KEPT = 3600.0  # seconds: far past any window the throttle uses (a minute)


class DatabaseWindows(Storage, MovingWindowSupport):
    """Only the moving window (the throttle uses no other strategy)."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = time.time()
        stored = _stored(key)
        with self.database.session() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.at <= now - KEPT))
            counted = session.scalar(select(func.count()).where(
                LoginFailure.key == stored, LoginFailure.at > now - expiry)) or 0
            if counted + amount > limit:
                return False
            session.add_all(LoginFailure(key=stored, at=now) for _ in range(amount))
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """The oldest failure in the window (now when there is none) and how many."""
        now = time.time()
        with self.database.session() as session:
            oldest, counted = session.execute(select(
                func.min(LoginFailure.at), func.count()).where(
                LoginFailure.key == _stored(key), LoginFailure.at > now - expiry)).one()
        return (float(oldest), int(counted)) if counted else (now, 0)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError(FIXED_WINDOWS)

    def get(self, key: str) -> int:
        raise NotImplementedError(FIXED_WINDOWS)

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError(FIXED_WINDOWS)

    def check(self) -> bool:
        try:
            with self.database.session() as session:
                session.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.database.session() as session:
            return session.execute(delete(LoginFailure)).rowcount  # type: ignore[attr-defined]

    def clear(self, key: str) -> None:
        with self.database.session() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.key == _stored(key)))


FIXED_WINDOWS = "fixed windows are not kept in the database: use the moving window"


def _stored(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
