"""Call record steps kept on local disk until the database has them.

The call-record writer commits steps in a thread of its own, after the call has moved
on: a step still in memory would be lost if the process died (kill -9, the OOM
killer) before its commit, or while the database was away. So each step is also
appended to a file here as it is recorded. The writer reports how many steps it has
done with (committed, or dropped as logged), always the oldest first; a file all of
whose steps are done is deleted, and the file appended to starts afresh past
ROTATE_AT bytes (ROTATE_DONE_AT once all its steps are done).

Each process writes its own files and holds a lock on them while it runs. At start,
the files of processes that are gone (their lock is free) are taken over: their steps
go to the writer first, which skips those the database has already. Files are named
by the database they are for, so two ringbridges sharing a directory (tests, a
cluster's nodes on one host) only ever write a step into its own database; any
process of the same database may take another's over. A record is a 4-byte length
and the step, pickled: the files are this program's own, in a directory only its
user can read.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import pickle
import secrets
import struct
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bridge.flows.events import CallEvent

log = logging.getLogger(__name__)
ROTATE_AT = 1 << 20  # bytes: the file appended to starts afresh past this
# Bytes past which the file appended to starts afresh once the writer is done with all
# its steps: what the next start reads again stays small while the writer keeps up.
ROTATE_DONE_AT = 64 << 10
_LENGTH = struct.Struct(">I")


@dataclass
class _File:
    path: Path
    steps: int = 0  # appended
    done: int = 0  # committed or dropped by the writer
    size: int = 0  # bytes appended by this process


class StepJournal:
    def __init__(self, directory: Path, database_url: str, rotate_at: int = ROTATE_AT) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._directory = directory
        self._prefix = f"steps-{_database_key(database_url)}"
        self._rotate_at = rotate_at
        self._guard = threading.Lock()
        self._failing = False
        self._lock_path, self._lock = self._own_lock()
        self._name = self._lock_path.stem
        self._files: deque[_File] = deque()
        self._number = 0
        self.left: list[CallEvent] = self._take_over()
        self._fd = self._start_file()

    def keep(self, event: CallEvent) -> None:
        """Append `event` (any thread): it is on disk when this returns, but when the
        disk refuses it (full): then it is counted all the same, for the writer's count
        of steps done, and the failure is logged once until a step is kept again."""
        data = pickle.dumps(event, pickle.HIGHEST_PROTOCOL)
        record = _LENGTH.pack(len(data)) + data
        with self._guard:
            active = self._files[-1]
            active.steps += 1
            try:
                if os.write(self._fd, record) < len(record):  # the disk filled up
                    os.ftruncate(self._fd, active.size)
                    raise OSError(errno.ENOSPC, "the step was cut short")
            except OSError as exc:
                self._refused(exc)
                return
            self._failing = False
            active.size += len(record)
            if active.size >= self._rotate_at:
                self._rotate()

    def done(self, count: int) -> None:
        """The writer is done with the `count` oldest steps not done yet (the writer's
        thread); files whose steps are all done are deleted, but for the one in use."""
        with self._guard:
            for file in self._files:
                taken = min(count, file.steps - file.done)
                file.done += taken
                count -= taken
                if not count:
                    break
            active = self._files[-1]
            if active.done == active.steps and active.size >= ROTATE_DONE_AT:
                self._rotate()
            while len(self._files) > 1 and self._files[0].done == self._files[0].steps:
                self._files.popleft().path.unlink(missing_ok=True)

    @property
    def waiting(self) -> int:
        """Steps kept that the writer is not done with."""
        with self._guard:
            return self._not_done()

    def _not_done(self) -> int:
        return sum(file.steps - file.done for file in self._files)

    def close(self) -> None:
        """Stop keeping steps. Files with steps not done stay for the next start; the
        rest go."""
        with self._guard:
            os.close(self._fd)
            for file in self._files:
                if file.done == file.steps:
                    file.path.unlink(missing_ok=True)
            if left := self._not_done():  # the lock stays, freed, for the next start
                log.warning("%d call record steps not written are kept in %s: the next "
                            "start writes them", left, self._directory)
            else:
                self._lock_path.unlink(missing_ok=True)
            os.close(self._lock)

    def _own_lock(self) -> tuple[Path, int]:
        path = self._directory / f"{self._prefix}.{os.getpid()}-{secrets.token_hex(4)}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return path, fd

    def _refused(self, exc: OSError) -> None:
        if not self._failing:
            log.error("call record steps are not kept on disk (%s: %s): a crash before "
                      "they are written loses them", self._directory, exc)
        self._failing = True

    def _rotate(self) -> None:
        """The next steps go to a new file; while none can be made, to this one."""
        try:
            fd = self._start_file()
        except OSError as exc:
            self._number -= 1
            self._refused(exc)
            return
        os.close(self._fd)
        self._fd = fd

    def _next_path(self) -> Path:
        self._number += 1
        return self._directory / f"{self._name}.{self._number:06d}.steps"

    def _start_file(self) -> int:
        path = self._next_path()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._files.append(_File(path))
        return fd

    def _take_over(self) -> list[CallEvent]:
        """The steps of this database's processes that are gone, oldest file first. Their
        files become this process's (renamed), so that, should it die too, the next
        start takes them over with its own."""
        left: list[CallEvent] = []
        for lock in sorted(self._directory.glob(f"{self._prefix}.*.lock")):
            if lock == self._lock_path:
                continue
            with _held(lock) as free:
                if not free:
                    continue
                for path in sorted(self._directory.glob(f"{lock.stem}.*.steps")):
                    steps = _read(path)
                    mine = self._next_path()
                    path.rename(mine)
                    self._files.append(_File(mine, steps=len(steps)))
                    left += steps
                lock.unlink()
        return left


def _database_key(database_url: str) -> str:
    """The database's identity, without its password."""
    url = make_url(database_url).set(password=None)
    return hashlib.blake2b(url.render_as_string().encode(), digest_size=6).hexdigest()


@contextmanager
def _held(lock: Path) -> Iterator[bool]:
    """Holds `lock` if no live process does (its process is gone) and no other start
    took it over first (then it is unlinked, or another file by now): yields whether."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        yield same
    finally:
        os.close(fd)


def _read(path: Path) -> list[CallEvent]:
    """The steps in a file; a last record cut short (the machine stopped mid-write) or
    one that cannot be read is logged and ends the file."""
    data = path.read_bytes()
    steps: list[CallEvent] = []
    at = 0
    while at < len(data):
        end = at + _LENGTH.size
        if end > len(data) or end + _LENGTH.unpack_from(data, at)[0] > len(data):
            log.warning("%s: its last step was cut short; %d read", path, len(steps))
            break
        size = _LENGTH.unpack_from(data, at)[0]
        try:
            steps.append(pickle.loads(data[end:end + size]))
        except Exception as exc:
            log.error("%s: a step cannot be read (%s); %d read, the rest dropped", path,
                      exc, len(steps))
            break
        at = end + size
    return steps
