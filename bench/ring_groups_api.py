"""Ring groups API latency with 10,000 groups in one tenant.

The groups are bulk-inserted through the models; the requests then go through the real
WSGI app twice: in-process with Flask's test client (no sockets: the app, its auth and
the database), and over HTTP with keep-alive to the app under waitress in a process of
its own, as `ringbridge serve` runs it (what a client sees). SQLite runs on a temporary
file; PostgreSQL runs too when RINGBRIDGE_BENCH_POSTGRES_URL is set (scripts/bench sets
it up), and that database's tables are dropped and recreated.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import socket
import statistics
import string
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import insert, text
from waitress.server import create_server

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.gateway import (
    CancelOutcome,
    EngineOverview,
    EngineStatus,
    EngineUnavailable,
    LiveCall,
    PanelView,
    ParkedCall,
    RingOutPlan,
    SipEndpoint,
    Target,
)
from bridge.services.ring_groups import STRATEGIES
from bridge.services.tenants import create_tenant, issue_token
from bridge.store.ids import encode_id, new_id
from bridge.store.migrate import drop_schema, upgrade
from bridge.store.models import RingGroup, utcnow
from bridge.store.session import Database

FILTERED_PAGE = ("/api/ring_groups?filter=ring_strategy eq 'CYCLIC_HUNT' and "
                 "startswith(extension_number,'6')&orderby=name&top=100")
FILTERED_LABEL = "filtered page of 100"
TARGET_P99_MS = 20.0
WARM_UP = 20

NO_ENGINE = "this benchmark runs the API without an engine"


class NoEngine:
    """The gateway of an API measured alone: extensions are taken and dropped, and
    anything that needs a live call is refused as it is while no engine answers."""

    def status(self) -> EngineStatus:
        return EngineStatus(ari=False, ami=False)

    def push(self, endpoint: SipEndpoint) -> None:
        """Nothing to push to."""

    def remove(self, endpoint_id: str) -> None:
        """Nothing to remove from."""

    def overview(self) -> EngineOverview:
        raise EngineUnavailable(NO_ENGINE)

    def changes(self, seen: int, wait: float) -> int:
        raise EngineUnavailable(NO_ENGINE)

    def panel(self, domain: str) -> PanelView:
        raise EngineUnavailable(NO_ENGINE)

    def delete_recordings(self, names: list[str]) -> list[str]:
        raise EngineUnavailable(NO_ENGINE)

    def start_ringout(self, plan: RingOutPlan) -> None:
        raise EngineUnavailable(NO_ENGINE)

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        raise EngineUnavailable(NO_ENGINE)

    def live_calls(self, domain: str) -> list[LiveCall]:
        raise EngineUnavailable(NO_ENGINE)

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        raise EngineUnavailable(NO_ENGINE)

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        raise EngineUnavailable(NO_ENGINE)

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        raise EngineUnavailable(NO_ENGINE)

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        raise EngineUnavailable(NO_ENGINE)


@dataclass(frozen=True)
class Timing:
    label: str
    p50_ms: float
    p99_ms: float
    per_second: float

    def line(self, database: str) -> str:
        return (f"{database:<10} {self.label:<40} p50 {self.p50_ms:6.2f} ms   "
                f"p99 {self.p99_ms:6.2f} ms   {self.per_second:7.0f} req/s (one client)")


def database_urls(folder: str) -> dict[str, str]:
    """The databases a benchmark runs on: SQLite in `folder`, and PostgreSQL when
    RINGBRIDGE_BENCH_POSTGRES_URL is set (its tables are dropped)."""
    urls = {"sqlite": f"sqlite:///{folder}/bench.db"}
    if os.environ.get("RINGBRIDGE_BENCH_POSTGRES_URL"):
        urls["postgresql"] = os.environ["RINGBRIDGE_BENCH_POSTGRES_URL"]
    return urls


def fresh_database(url: str) -> Database:
    database = Database(url)
    drop_schema(database)
    upgrade(database)
    return database


def seed(database: Database, groups: int, rng: random.Random) -> tuple[str, list[int]]:
    """A tenant with `groups` ring groups (numbers 0000.., strategies in turn, random
    names), bulk-inserted; its bearer token and the groups' ids."""
    with database.session() as session:
        tenant = create_tenant(session, "bench", "Bench", "bench.example")
        _, token = issue_token(session, tenant.id, None, label="bench")
        now = utcnow()
        ids = [new_id() for _ in range(groups)]
        rows = [{
            "id": ids[i], "tenant_id": tenant.id, "extension_number": f"{i:04d}",
            "name": "".join(rng.choices(string.ascii_letters + " ", k=rng.randint(6, 40))),
            "ring_strategy": STRATEGIES[i % len(STRATEGIES)], "ring_time": rng.choice(
                [10, 20, 30]), "skip_busy_member": rng.random() < 0.5,
            "no_answer_action": "HANGUP", "did_numbers": [], "outbound_caller_ids": [
                {"provider_id": "trunk", "caller_id": "+14155550100", "description": None}],
            "created_at": now, "updated_at": now,
        } for i in range(groups)]
        session.execute(insert(RingGroup), rows)
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return token, ids


def measure(label: str, requests: int, call: Callable[[], None]) -> Timing:
    for _ in range(WARM_UP):
        call()
    durations = []
    started = time.perf_counter()
    for _ in range(requests):
        before = time.perf_counter()
        call()
        durations.append((time.perf_counter() - before) * 1000)
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    return Timing(label, statistics.median(durations), cuts[98], requests / elapsed)


Get = Callable[[str], int]  # GET a path, return the status


def expect_200(get: Get, path: str) -> None:
    status = get(path)
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}")


def api_app(database: Database) -> Any:
    return create_app(database, NoEngine(), lambda: Readiness(True, True, True))


def serve_http(url: str, port: int) -> None:
    """The API under waitress, as `ringbridge serve` runs it (in a process of its own)."""
    create_server(api_app(Database(url)), host="127.0.0.1", port=port, threads=4).run()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timings(get: Get, ids: list[int], requests: int, rng: random.Random,
            how: str) -> list[Timing]:
    return [
        measure(f"{FILTERED_LABEL}, {how}", requests,
                lambda: expect_200(get, FILTERED_PAGE)),
        measure(f"show by id, {how}", requests,
                lambda: expect_200(get, f"/api/ring_groups/{encode_id(rng.choice(ids))}")),
    ]


def over_http(url: str, token: str, ids: list[int], requests: int,
              rng: random.Random) -> list[Timing]:
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve_http,
                                                          args=(url, port), daemon=True)
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the API under waitress did not start") from None
                    time.sleep(0.1)
            return timings(lambda path: client.get(path).status_code, ids, requests, rng,
                           "HTTP")
    finally:
        server.terminate()
        server.join()


def run(name: str, url: str, groups: int, requests: int) -> list[Timing]:
    rng = random.Random(20261125)
    database = fresh_database(url)
    try:
        started = time.perf_counter()
        token, ids = seed(database, groups, rng)
        print(f"{name:<10} {groups} ring groups inserted in {time.perf_counter() - started:.1f} s")
        client = api_app(database).test_client()
        headers = {"Authorization": f"Bearer {token}"}
        body = client.get(FILTERED_PAGE, headers=headers).json or {}
        print(f"{name:<10} filtered page: count {body.get('count')}, "
              f"{len(body.get('items', []))} items")
        in_process = timings(lambda path: client.get(path, headers=headers).status_code,
                             ids, requests, rng, "in-process")
        return in_process + over_http(url, token, ids, requests, rng)
    finally:
        drop_schema(database)
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = {name: run(name, url, args.groups, args.requests)
                   for name, url in database_urls(folder).items()}
    print(f"\n{args.requests} requests each, after {WARM_UP} warm-up requests:")
    for name, timings in results.items():
        for timing in timings:
            print(timing.line(name))
    for line in verdicts(results["sqlite"]):
        print(line)


def verdicts(sqlite: list[Timing]) -> list[str]:
    """PASS or FAIL of the filtered page's p99 on SQLite, in-process and over HTTP."""
    return [f"{'PASS' if t.p99_ms <= TARGET_P99_MS else 'FAIL'}: {t.label} p99 "
            f"{t.p99_ms:.2f} ms on SQLite (target <= {TARGET_P99_MS:.0f} ms)"
            for t in sqlite if t.label.startswith(FILTERED_LABEL)]


if __name__ == "__main__":
    main()
