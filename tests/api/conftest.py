"""API tests: the real Flask app on a real database (SQLite, and PostgreSQL when
RINGBRIDGE_TEST_POSTGRES_URL is set, as scripts/test does), with a recording
provisioner in place of the engine (the integration tests use the real one); for the
phone calls API it shows the live calls a test gives it and records what it is asked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.engine.call_control import CallControlError
from bridge.engine.changes import Changes
from bridge.gateway import (
    CallState,
    CancelOutcome,
    EngineOverview,
    EngineStatus,
    LegState,
    LiveCall,
    PanelView,
    ParkedCall,
    RingOutPlan,
    RingOutStates,
    SipEndpoint,
    Target,
    Waiting,
)
from bridge.services.tenants import create_tenant, create_user, issue_token
from bridge.store.migrate import drop_schema, upgrade
from bridge.store.models import Base
from bridge.store.session import Database
from tests.support.postgres import postgres_url


@dataclass
class RecordingProvisioner:
    """The engine as the API sees it: endpoints pushed, RingOuts started and cancelled
    (`cancel_outcome`: what the engine answers a cancel)."""

    pushed: list[SipEndpoint] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    deleted_recordings: list[str] = field(default_factory=list)
    ringouts: list[RingOutPlan] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    cancel_outcome: CancelOutcome = field(default_factory=lambda: CancelOutcome(
        states=RingOutStates(CallState.NOT_REACHED, LegState.CANCELLED, LegState.CANCELLED)))
    calls: list[LiveCall] = field(default_factory=list)
    actions: list[tuple[object, ...]] = field(default_factory=list)
    registered: set[str] = field(default_factory=set)  # endpoint ids with a phone
    lines: dict[int, tuple[Waiting, ...]] = field(default_factory=dict)
    time_left: dict[str, float] = field(default_factory=dict)
    changed: Changes = field(default_factory=Changes)  # note() what a panel shows

    def status(self) -> EngineStatus:
        return EngineStatus(ari=True, ami=True)

    def overview(self) -> EngineOverview:
        return EngineOverview(status=self.status(), started_at=datetime(2026, 12, 5, tzinfo=UTC),
                              calls_up=len(self.calls), parked=0, lines={}, outbox=0)

    def changes(self, seen: int, wait: float) -> int:
        return self.changed.after(seen, wait)

    def panel(self, domain: str) -> PanelView:
        calls = tuple(self.live_calls(domain))
        ids = {call.call_id for call in calls}
        return PanelView(
            calls=calls, time_left=self.time_left,
            registered=frozenset(e.removesuffix(f"@{domain}") for e in self.registered
                                 if e.endswith(f"@{domain}")),
            lines={group: tuple(w for w in line if w.call_id in ids)
                   for group, line in self.lines.items()})

    def push(self, endpoint: SipEndpoint) -> None:
        self.pushed.append(endpoint)

    def remove(self, endpoint_id: str) -> None:
        self.removed.append(endpoint_id)

    def delete_recordings(self, names: list[str]) -> list[str]:
        self.deleted_recordings.extend(names)
        return []

    def start_ringout(self, plan: RingOutPlan) -> None:
        self.ringouts.append(plan)

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        self.cancelled.append(call_id)
        return self.cancel_outcome

    def live_calls(self, domain: str) -> list[LiveCall]:
        return [call for call in self.calls if call.domain == domain]

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        self.actions.append(("park", domain, call_id, view, parker.label, timeout))
        raise CallControlError(CallControlError.LOT_FULL, "the parking lot is full")

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        self.actions.append(("unpark", domain, call_id, target.label, wait))
        return call_id

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        self.actions.append(("pick_up", domain, call_id, target.label, wait))
        return call_id

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        self.actions.append(("hang_up", domain, call_id, view))
        return [view or "00"]


# Ids whose decoded text is digits to str.isdigit() but not ASCII digits: superscript
# two, superscripts one two three (int() refuses both), Arabic-Indic 123 and fullwidth
# 12 (int() takes them).
NON_ASCII_DIGIT_IDS = ("wrI=", "wrnCssKz", "2aHZotmj", "77yR77yS")


def assert_no_body(response: Any, status: int) -> None:
    """An answer with no body: that status, nothing in it, and no content type claimed."""
    assert response.status_code == status, response.data
    assert response.data == b"" and "Content-Type" not in response.headers, response.headers


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_database(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'api.db'}"
    else:
        url = postgres_url("RINGBRIDGE_TEST_POSTGRES_URL")
    database = Database(url)
    drop_schema(database)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def database(migrated_database: Database) -> Iterator[Database]:
    yield migrated_database
    with migrated_database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements the database is sent, from now on."""
    sent: list[str] = []

    def note(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(database.engine, "before_cursor_execute", note)
    yield sent
    event.remove(database.engine, "before_cursor_execute", note)


@pytest.fixture
def provisioner() -> RecordingProvisioner:
    return RecordingProvisioner()


@pytest.fixture
def client(database: Database, provisioner: RecordingProvisioner) -> FlaskClient:
    app = create_app(database, provisioner, lambda: Readiness(True, True, True))
    return app.test_client()


@dataclass(frozen=True)
class TenantAuth:
    tenant_id: int
    company_id: str
    sip_domain: str
    token: str
    user_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_tenant(database: Database, company_id: str, sip_domain: str,
                region: str = "US") -> TenantAuth:
    with database.session() as session:
        tenant = create_tenant(session, company_id, company_id, sip_domain, region)
        user = create_user(session, tenant, f"admin@{sip_domain}", role="admin")
        _, token = issue_token(session, tenant.id, user.id)
        return TenantAuth(tenant.id, company_id, sip_domain, token, user.id)


@pytest.fixture
def acme(database: Database) -> TenantAuth:
    return make_tenant(database, "ABC Taxis", "abc.example")


@pytest.fixture
def globex(database: Database) -> TenantAuth:
    return make_tenant(database, "1645780", "globex.example", region="GB")
