"""Which ringbridge node runs an ARI application on an Asterisk node, in a cluster.

Every node runs engines for every Asterisk node (docs/cluster.md): one per application
holds the lease and runs it, the others stand by. The lease is a PostgreSQL session
advisory lock: it is held as long as the holder's connection lives, so a holder killed
with -9 loses it the moment PostgreSQL sees its socket close, and one on a machine that
died within KEEPALIVE_SECONDS (the server's TCP keepalives, set for this session).

- An engine of the node that drives the Asterisk node (`standby=False`) takes the lease
  whenever it is free.
- A standby takes it only once it has seen it held (by the engine it stands by for),
  or once it has stood by STANDBY_GRACE seconds with nobody taking it: a cluster coming
  up gives each Asterisk node to its own ringbridge node. It never takes it while the
  own node's engine wants it.
- Nobody takes a free lease while the engine that last held it still runs the app
  (`still_running`, asked of that engine): a holder cut off from the database (a
  network split) keeps its calls, and the app never runs twice. A holder killed or
  gone with its machine does not answer, and its lease is taken at once.
- A standby holding a lease gives it back once the engine of the lease's own node waits
  for it again (that node was restarted): each Asterisk node goes back to its own
  ringbridge node.
- Waiting, an engine knows where the holder's engine is reached (`holder`: the node
  field of the holder's session name), to pass its node's API calls on to it
  (bridge/engine/standby.py).
- A database outage drops every lease. The holder keeps running its calls meanwhile and
  takes its lease again as soon as the database is back; the others wait REARM seconds
  more before they may take a free one. A holder that finds its lease taken by then has
  lost it (`on_lost`).

Each lease's connection is named in `pg_stat_activity` (application_name), so
`scripts/cluster status` and an operator's `psql` show who runs what.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from bridge.store.db import CONNECT_TIMEOUT, DATABASE_AWAY, why_away

log = logging.getLogger(__name__)
POLL = 0.25  # seconds between a standby's looks at the lease
KEEP = 1.0  # seconds between the holder's checks of its connection
STANDBY_GRACE = 30.0
REARM = 7.0  # past a holder's reconnect: KEEP + CONNECT_TIMEOUT + a margin
KEEPALIVE_SECONDS = 3  # idle 1 s, then 2 probes 1 s apart
NAME_LIMIT = 63  # PostgreSQL's application_name


def lease_name(ari_url: str, app: str) -> str:
    """What a lease is for: the Asterisk node (its ARI host and port) and the app."""
    parts = urlsplit(ari_url)
    return f"{parts.hostname}:{parts.port or 80} {app}"


def lease_key(name: str) -> int:
    """The advisory lock's 64-bit key: the same on every node for the same lease."""
    return int.from_bytes(hashlib.blake2b(f"ringbridge engine {name}".encode(),
                                          digest_size=8).digest(), "big", signed=True)


def session_name(role: str, name: str, node: str) -> str:
    """`rb <role> <tag> <node> <lease>`, a lease's session in pg_stat_activity: the tag
    (the key's low 32 bits) first, whole, however long the rest (PostgreSQL keeps
    NAME_LIMIT characters). Roles: `runs` (the holder), `wants` (the own node's engine
    waiting), `waits` (a standby)."""
    return f"rb {role} {_tag(name)} {node} {name}"[:NAME_LIMIT]


def engine_label(name: str) -> str:
    """The engine running lease `name`, in 64 characters (a waiting call's row names it):
    `<tag> <lease>`, the tag whole."""
    return f"{_tag(name)} {name}"[:64]


def _tag(name: str) -> str:
    return f"{lease_key(name) & 0xFFFFFFFF:08x}"


class EngineLease:
    def __init__(self, database_url: str, name: str, node: str, *, standby: bool,
                 on_lost: Callable[[], None],
                 still_running: Callable[[str], bool] = lambda address: False) -> None:
        """`still_running(address)`: whether the engine a holder named is still running
        the app (it lost its database connection, not its life)."""
        self.name = name
        self.node = node  # where the other nodes reach this engine: in its session name
        self.standby = standby
        self.on_lost = on_lost
        self.still_running = still_running
        self.key = lease_key(name)
        self.wanted_back = threading.Event()  # a standby holding it: its own node is back
        self.holder: str | None = None  # while waiting: where the holder's engine is reached
        self._engine = create_engine(database_url, poolclass=NullPool, connect_args={
            "connect_timeout": CONNECT_TIMEOUT,
            # Both ends notice a peer gone within KEEPALIVE_SECONDS: the server frees the
            # lease of a holder whose machine died; this end stops waiting on a dead server.
            "keepalives": 1, "keepalives_idle": 1, "keepalives_interval": 1,
            "keepalives_count": KEEPALIVE_SECONDS - 1,
            "tcp_user_timeout": KEEPALIVE_SECONDS * 1000,
            "options": (f"-c tcp_keepalives_idle=1 -c tcp_keepalives_interval=1 "
                        f"-c tcp_keepalives_count={KEEPALIVE_SECONDS - 1}")})
        self._connection: Connection | None = None
        self._ending = threading.Event()  # set to end the holder's watch
        self._watch: threading.Thread | None = None

    def take(self, stopping: threading.Event) -> bool:
        """Wait until this lease is ours (True), or `stopping` is set first (False)."""
        may_take_at = time.monotonic() + STANDBY_GRACE if self.standby else 0.0
        away = False
        last_holder: str | None = None
        while not stopping.is_set():
            try:
                if self._look():
                    may_take_at = min(may_take_at, time.monotonic())
                    last_holder = self.holder or last_holder
                elif (time.monotonic() >= may_take_at and self._may_take(last_holder)
                      and self._lock()):
                    self.holder = None
                    self._watch_holding()
                    return True
                away = False
            except DATABASE_AWAY as exc:
                self._drop()
                if not away:
                    log.warning("lease %s: the database is away (%s); waiting", self.name,
                                why_away(exc))
                away = True
                may_take_at = max(may_take_at, time.monotonic() + REARM)
            stopping.wait(POLL)
        return False

    def _may_take(self, last_holder: str | None) -> bool:
        """A free lease is not taken by a standby while its own node's engine wants it,
        nor while the engine that last held it still runs the app (its connection to the
        database was cut, not its life: taking it would run the app twice)."""
        if self.standby and self._wanted():
            return False
        if last_holder is not None and self.still_running(last_holder):
            log.warning("lease %s is free, but %s still runs it: not taking it", self.name,
                        last_holder)
            return False
        if last_holder is None and self.standby:
            log.warning("lease %s: nobody took it in %.0f s; taking it (every node must name "
                        "each Asterisk node, app and port alike: docs/cluster.md)", self.name,
                        STANDBY_GRACE)
        return True

    def give_back(self) -> None:
        """A standby done running it (`wanted_back`): the lease goes free for its own
        node's engine, and this one stands by again."""
        self._end_watch()
        self.wanted_back.clear()
        try:
            self._open().execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._name_session("waits")
        except DATABASE_AWAY:
            self._drop()  # gone with the connection

    def release(self) -> None:
        self._end_watch()
        self._drop()
        self._engine.dispose()

    def _look(self) -> bool:
        """Whether another session holds the lease; `holder` is where its engine is
        reached (the node field of its session's name, ringbridge's own role only), or
        None."""
        high, low = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        rows = self._open().execute(text(
            "SELECT a.usename = current_user, a.application_name FROM pg_locks l"
            " JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND l.classid::bigint = :high AND l.objid::bigint = :low AND l.objsubid = 1"),
            {"high": high, "low": low}).all()
        self.holder = None
        for ours, name in rows:
            parts = (name or "").split(" ")
            if ours and len(parts) > 3 and parts[:2] == ["rb", "runs"]:
                self.holder = parts[3]
                break
        return bool(rows)

    def _lock(self) -> bool:
        connection = self._open()
        if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                  {"key": self.key}).scalar():
            return False
        self._name_session("runs")
        return True

    def _watch_holding(self) -> None:
        self._ending.clear()
        self._watch = threading.Thread(target=self._keep, name="lease", daemon=True)
        self._watch.start()

    def _end_watch(self) -> None:
        self._ending.set()
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join(KEEP + CONNECT_TIMEOUT + KEEPALIVE_SECONDS)
        self._watch = None

    def _keep(self) -> None:
        """The holder's watch, every KEEP seconds: a connection lost (the database
        restarted) is made again and the lease taken again, and found taken meanwhile, it
        is lost; a standby holding it sees whether its own node's engine wants it back."""
        while not self._ending.wait(KEEP):
            try:
                if self._still_connected() and self._see_if_wanted_back():
                    continue
            except Exception:  # a bug: nobody would watch the lease any more
                log.exception("lease %s: its watch failed; giving the app up", self.name)
                self.on_lost()
                return
            if self._retake():
                log.info("lease %s taken again", self.name)
            elif not self._ending.is_set():
                log.error("lease %s: another node took it while the database was away",
                          self.name)
                self.on_lost()
                return

    def _see_if_wanted_back(self) -> bool:
        """A standby holding it: whether its own node's engine wants it back (then
        `wanted_back`). False when the connection was lost meanwhile (and the lease with
        it)."""
        try:
            wanted = self.standby and not self.wanted_back.is_set() and self._wanted()
        except DATABASE_AWAY:
            self._drop()
            return False
        if wanted:
            log.info("lease %s: its own node is back; giving it back", self.name)
            self.wanted_back.set()
        return True

    def _still_connected(self) -> bool:
        """Whether the connection holding the lock lives (a new one would hold nothing)."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except DATABASE_AWAY as exc:
            log.warning("lease %s: the database connection is lost (%s); this engine goes "
                        "on with its calls and takes the lease again", self.name,
                        why_away(exc))
            self._drop()
            return False
        return True

    def successor_waiting(self) -> bool:
        """Whether another engine waits for this lease (a standby, or its own node's):
        asked on a connection of its own, from any thread."""
        with self._engine.connect() as connection:
            return bool(connection.execute(text(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE usename = current_user"
                " AND (application_name LIKE :waits OR application_name LIKE :wants))"),
                {"waits": f"rb waits {_tag(self.name)} %",
                 "wants": f"rb wants {_tag(self.name)} %"}).scalar())

    def _wanted(self) -> bool:
        return bool(self._open().execute(text(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE :want"
            " AND usename = current_user)"),
            {"want": f"rb wants {_tag(self.name)} %"}).scalar())

    def _retake(self) -> bool:
        while not self._ending.is_set():
            try:
                return self._lock()
            except DATABASE_AWAY:
                self._drop()
                self._ending.wait(POLL)
        return False

    def _open(self) -> Connection:
        if self._connection is None:
            connection = self._engine.connect().execution_options(
                isolation_level="AUTOCOMMIT")
            self._connection = connection
            self._name_session("waits" if self.standby else "wants")
        return self._connection

    def _name_session(self, role: str) -> None:
        assert self._connection is not None
        self._connection.execute(text("SELECT set_config('application_name', :name, false)"),
                                 {"name": session_name(role, self.name, self.node)})

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(*DATABASE_AWAY):
                connection.close()

