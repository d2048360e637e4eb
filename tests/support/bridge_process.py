"""ringbridge run as a real process (`python -m bridge serve`) against the test Asterisk."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from bridge.services.extensions import extension_by_number, new_sip_password
from bridge.store.ids import encode_id
from bridge.store.models import CallRecord, Extension, Tenant
from bridge.store.session import Database
from bridge.supervisor import NAME_PREFIX
from tests.support.asterisk import ROOT, Asterisk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first); None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields is not None and fields[1] == str(parent) and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], wait: float) -> None:
    """SIGTERM, and SIGKILL if it is still running `wait` seconds later; returns once it
    is gone (a process that ignores SIGTERM, such as sipp with calls up, is not waited
    for forever)."""
    process.terminate()
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def stopped(*pids: int) -> Iterator[None]:
    """The processes alive but running nothing (SIGSTOP) for the block: their sockets
    stay open, and what comes to them waits unread."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]  # BridgeProcess.metrics()


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample of `name` with exactly these labels; 0 when there is none yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_gone(pids: list[int], timeout: float = 5) -> None:
    """Until each process has exited (a zombie nobody reaps counts as gone)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while (fields := proc_stat(pid)) is not None and fields[0] != "Z":
            if time.monotonic() > deadline:
                raise TimeoutError(f"process {pid} still runs {timeout} s after the kill")
            time.sleep(0.01)


class BridgeProcess:
    def __init__(self, asterisk: Asterisk, workdir: Path, log_path: Path) -> None:
        self.asterisk = asterisk
        self.workdir = workdir
        self.port = free_port()
        self.log_path = log_path
        self.log_level = "DEBUG"
        # Settings beyond the connection, as RINGBRIDGE_* names: short RingOut timers so
        # a no-answer test takes seconds, small parking lots so a full lot is quick to reach,
        # subscriptions to the tests' receivers on this host.
        self.settings = {"RINGOUT_RING_TIME": "5", "RINGOUT_PROMPT_TIMEOUT": "3",
                         "PARKING_POSITIONS": "701-702",
                         "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
                         "METRICS_TOKEN": secrets.token_urlsafe(24)}
        self.process: subprocess.Popen[bytes] | None = None
        self.sqlite_url = f"sqlite:///{workdir / 'ringbridge.db'}"
        self.database_url = self.sqlite_url

    def use_database(self, url: str) -> None:
        """Run on the database at `url` from now on (restarted when it changes); when
        ringbridge does not come up on it, back on the database it had."""
        if url == self.database_url:
            return
        self.stop()
        previous, self.database_url = self.database_url, url
        try:
            self.start()
        except (RuntimeError, TimeoutError):
            self.stop()
            self.database_url = previous
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "RINGBRIDGE_HTTP_PORT": str(self.port),
            "RINGBRIDGE_DATABASE_URL": self.database_url,
            "RINGBRIDGE_ARI_URL": self.asterisk.ari_url,
            "RINGBRIDGE_ARI_PASSWORD": self.asterisk.ari_password,
            "RINGBRIDGE_ARI_APP": self.asterisk.app,
            "RINGBRIDGE_AMI_PORT": str(self.asterisk.ami_port),
            "RINGBRIDGE_AMI_SECRET": self.asterisk.ami_secret,
            "RINGBRIDGE_LOG_LEVEL": self.log_level,
            **{f"RINGBRIDGE_{name}": value for name, value in self.settings.items()},
        }

    @contextlib.contextmanager
    def restarted_with(self, **settings: str) -> Iterator[BridgeProcess]:
        """This ringbridge started afresh with `settings` (RINGBRIDGE_* names, without
        the prefix) for the block; stopped after it, with its settings as they were (the
        `bridge` fixture starts it again for the next test)."""
        kept = dict(self.settings)
        self.stop()
        self.settings.update(settings)
        try:
            self.start()
            yield self
        finally:
            self.stop()
            self.settings = kept

    def start(self, timeout: float = 20) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve"], cwd=ROOT, env=self.environment(),
            stdout=log, stderr=subprocess.STDOUT,
        )
        self.wait_healthy(timeout)

    def cli(self, *args: str, answers: str | None = None) -> str:
        """Run `ringbridge <args>` on the same database (`answers`: what is typed at its
        prompts); returns what it printed."""
        result = subprocess.run([sys.executable, "-m", "bridge", *args], cwd=ROOT,
                                env=self.environment(), capture_output=True, text=True,
                                input=answers)
        if result.returncode != 0:
            raise RuntimeError(f"ringbridge {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def api(self, method: str, path: str, token: str, json: object = None,
            params: Mapping[str, str] | None = None) -> httpx.Response:
        return httpx.request(method, self.url + path, timeout=10, json=json, params=params,
                             headers={"Authorization": f"Bearer {token}"})

    @contextlib.contextmanager
    def database_session(self) -> Iterator[Session]:
        """A session on ringbridge's own database (committed at the end), past its API."""
        database = self._database()
        try:
            with database.session() as session:
                yield session
        finally:
            database.dispose()

    def _database(self) -> Database:
        """The database ringbridge was given (a cluster node's is its environment's)."""
        return Database(self.environment()["RINGBRIDGE_DATABASE_URL"])

    def tenant_id(self, company: str) -> int:
        """The database id of the tenant of company id `company`."""
        with self.database_session() as session:
            return _tenant_id(session, company)

    def write_extensions(self, company: str, numbers: range) -> None:
        """Extensions of the tenant written to the database directly, past the API (a
        large directory in seconds): Asterisk gets them on ringbridge's next connect."""
        with self.database_session() as session:
            tenant_id = _tenant_id(session, company)
            session.add_all(Extension(tenant_id=tenant_id, extension_number=str(number),
                                      sip_password=new_sip_password()) for number in numbers)

    def rename_extension(self, company: str, number: str, name: str) -> None:
        """The extension's name changed in the database directly, past the API (as
        another cluster node's API, or a restore, would): nothing pushes it to Asterisk
        until ringbridge's next connect."""
        with self.database_session() as session:
            session.execute(update(Extension).where(
                Extension.tenant_id == _tenant_id(session, company),
                Extension.extension_number == number).values(display_name=name))

    def extension_id(self, company: str, number: str) -> str:
        """The API id of the tenant's extension `number`."""
        with self.database_session() as session:
            extension = extension_by_number(session, _tenant_id(session, company), number)
            if extension is None:
                raise LookupError(f"no extension {number} in {company}")
            return encode_id(extension.id)

    def call_record(self, dialled: str, timeout: float = 5) -> CallRecord:
        """The newest finished call record for `dialled`."""
        return self.call_records(dialled, 1, timeout)[0]

    def call_records(self, dialled: str, count: int, timeout: float = 5,
                     tenant: int | None = None) -> list[CallRecord]:
        """The `count` newest finished call records for `dialled` (of `tenant` alone when
        given), oldest first, from ringbridge's own database. They are written off the
        call's path, so this waits until that many are finished: a call's record may
        finish after its phones hung up, and an older one must not stand in for it; nor
        may an earlier test's call to the same number (the session shares a database).
        Finished means its end reason is written: a record closed after a restart gets
        `ended_at` first (the claim that no other engine closes it), its reason and last
        step only afterwards."""
        database = self._database()
        deadline = time.monotonic() + timeout
        query = (select(CallRecord)
                 .where(CallRecord.dialled == dialled, CallRecord.end_reason.is_not(None))
                 .order_by(CallRecord.received_at.desc()).limit(count)
                 .options(selectinload(CallRecord.steps)))
        if tenant is not None:
            query = query.where(CallRecord.tenant_id == tenant)
        try:
            while True:
                with database.session() as session:
                    records = list(session.scalars(query))
                if len(records) == count:
                    return records[::-1]
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(records)} of {count} finished call records "
                                       f"for {dialled} in {timeout} s")
                time.sleep(0.05)
        finally:
            database.dispose()

    def metrics(self) -> Samples:
        """GET /metrics with the scraper's token: each sample's value by its name and
        labels."""
        response = httpx.get(self.url + "/metrics", timeout=5, headers={
            "Authorization": f"Bearer {self.settings['METRICS_TOKEN']}"})
        response.raise_for_status()
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(response.text)
                for sample in family.samples}

    def health(self) -> httpx.Response:
        return httpx.get(self.url + "/health", timeout=2)

    def wait_healthy(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"ringbridge exited {self.process.returncode}:\n{self.log()}")
            try:
                if self.health().status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"ringbridge not healthy in {timeout} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop(self.process, 10)
        self.process = None

    def kill(self) -> None:
        """kill -9 of `ringbridge serve`: its processes die at once (they die with it),
        leaving the calls in Asterisk as they are. Returns once none is left."""
        if self.process is not None:
            children = child_pids(self.process.pid)
            self.process.kill()
            self.process.wait()
            wait_gone(children)
        self.process = None

    def freeze(self) -> None:
        """SIGSTOP to every process: ringbridge hangs with its connections open (events
        queue up unread)."""
        serve = self.serve_pid()
        for pid in [serve, *child_pids(serve)]:
            os.kill(pid, signal.SIGSTOP)

    def serve_pid(self) -> int:
        assert self.process is not None, "ringbridge is not running"
        return self.process.pid

    def processes(self) -> dict[str, int]:
        """`serve` and each of its running processes by name ("engine-1", "api-1"...: the
        names they give themselves, as /proc/PID/comm shows them)."""
        serve = self.serve_pid()
        children = {}
        for pid in child_pids(serve):
            with contextlib.suppress(FileNotFoundError):
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                children[name.removeprefix(NAME_PREFIX)] = pid
        return {"serve": serve, **children}

    def child_pid(self, name: str) -> int:
        pid = self.processes().get(name)
        assert pid is not None, f"no {name} process runs"
        return pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, pattern: str, timeout: float = 10, after: int = 0) -> re.Match[str]:
        """Wait until the log has a line matching `pattern` (the bridge's own account),
        past its first `after` characters (what it held before the moment awaited)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            match = regex.search(self.log(), after)
            if match:
                return match
            time.sleep(0.05)
        raise TimeoutError(f"no log line matching {pattern!r} in {timeout} s")


def _tenant_id(session: Session, company: str) -> int:
    return session.scalars(select(Tenant.id).where(Tenant.company_id == company)).one()
