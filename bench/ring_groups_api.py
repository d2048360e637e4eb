"""Ring groups API latency with 10,000 groups in one tenant.

The groups are bulk-inserted through the models; the requests then go through the real
WSGI app in-process with Flask's test client (no sockets: the figures are the app, its
auth and the database). SQLite runs on a temporary file; PostgreSQL runs too when
RINGBRIDGE_BENCH_POSTGRES_URL is set, and that database's tables are dropped and recreated.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import string
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask.testing import FlaskClient
from sqlalchemy import insert, text

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.services.ring_groups import STRATEGIES
from bridge.services.tenants import create_tenant, issue_token
from bridge.store.ids import encode_id, new_id
from bridge.store.migrate import drop_schema, upgrade
from bridge.store.models import RingGroup, utcnow
from bridge.store.session import Database
from bridge.telephony.endpoints import SipEndpoint

FILTERED_PAGE = ("/api/ring_groups?filter=ring_strategy eq 'CYCLIC_HUNT' and "
                 "startswith(extension_number,'6')&orderby=name&top=100")
TARGET_P99_MS = 20.0
WARM_UP = 20


class NoProvisioner:
    def push(self, endpoint: SipEndpoint) -> None: ...

    def remove(self, endpoint_id: str) -> None: ...


@dataclass(frozen=True)
class Timing:
    label: str
    p50_ms: float
    p99_ms: float
    per_second: float

    def line(self, database: str) -> str:
        return (f"{database:<10} {self.label:<40} p50 {self.p50_ms:6.2f} ms   "
                f"p99 {self.p99_ms:6.2f} ms   {self.per_second:7.0f} req/s")


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


def expect_200(client: FlaskClient, path: str, headers: dict[str, str]) -> None:
    response = client.get(path, headers=headers)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}: {response.data!r}")


def run(name: str, url: str, groups: int, requests: int) -> list[Timing]:
    rng = random.Random(20261125)
    database = fresh_database(url)
    try:
        started = time.perf_counter()
        token, ids = seed(database, groups, rng)
        print(f"{name:<10} {groups} ring groups inserted in {time.perf_counter() - started:.1f} s")
        client = create_app(database, NoProvisioner(),
                            lambda: Readiness(True, True, True)).test_client()
        headers = {"Authorization": f"Bearer {token}"}
        body = client.get(FILTERED_PAGE, headers=headers).json or {}
        print(f"{name:<10} filtered page: count {body.get('count')}, "
              f"{len(body.get('items', []))} items")
        return [
            measure("filtered page of 100", requests,
                    lambda: expect_200(client, FILTERED_PAGE, headers)),
            measure("show by id", requests, lambda: expect_200(
                client, f"/api/ring_groups/{encode_id(rng.choice(ids))}", headers)),
        ]
    finally:
        drop_schema(database)
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        targets = {"sqlite": f"sqlite:///{folder}/bench.db"}
        if os.environ.get("RINGBRIDGE_BENCH_POSTGRES_URL"):
            targets["postgresql"] = os.environ["RINGBRIDGE_BENCH_POSTGRES_URL"]
        results = {name: run(name, url, args.groups, args.requests)
                   for name, url in targets.items()}
    print(f"\n{args.requests} requests each, after {WARM_UP} warm-up requests:")
    for name, timings in results.items():
        for timing in timings:
            print(timing.line(name))
    p99 = results["sqlite"][0].p99_ms
    verdict = "PASS" if p99 <= TARGET_P99_MS else "FAIL"
    print(f"{verdict}: filtered page p99 {p99:.2f} ms on SQLite (target <= "
          f"{TARGET_P99_MS:.0f} ms)")


if __name__ == "__main__":
    main()
