"""The dispatch client's outbox kept in memory, a client started on it, and a dispatch
configuration sending to a test receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.exc import OperationalError

from bridge.dispatch.client import DispatchClient
from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.deliveries import Delivery, Outcome
from tests.support.dispatch_receiver import DispatchReceiver


@dataclass
class MemoryStore:
    rows: dict[int, tuple[Delivery, str, Outcome | None]] = field(default_factory=dict)
    logged: list[tuple[Delivery, Outcome, str]] = field(default_factory=list)
    resumable: list[tuple[Delivery, DispatchConfig]] = field(default_factory=list)

    away: bool = False  # every write fails, as with the database restarting

    def add(self, delivery: Delivery) -> int:
        if self.away:
            raise ConnectionError("database away")
        key = len(self.rows) + 1
        self.rows[key] = (delivery, "pending", None)
        return key

    def attempted(self, delivery: Delivery, outcome: Outcome, state: str,
                  next_attempt_at: datetime | None) -> None:
        assert delivery.id is not None
        if self.away:
            raise ConnectionError("database away")
        self.rows[delivery.id] = (delivery, state, outcome)

    def log(self, delivery: Delivery, outcome: Outcome, state: str) -> None:
        self.logged.append((delivery, outcome, state))

    renewals: int = 0
    released: bool = False

    def pending(self) -> list[tuple[Delivery, DispatchConfig]]:
        """Each resumable delivery once: it is claimed by whoever asks first."""
        found, self.resumable = self.resumable, []
        return found

    renew_failures: int = 0  # renewals to fail first, as with the database away

    def renew(self) -> None:
        if self.renew_failures:
            self.renew_failures -= 1
            raise OperationalError("UPDATE", {}, ConnectionError("database away"))
        self.renewals += 1

    def release(self) -> None:
        self.released = True

    def states(self) -> list[str]:
        return [state for _, state, _ in self.rows.values()]


@asynccontextmanager
async def running(store: MemoryStore, **retry: float) -> AsyncIterator[DispatchClient]:
    """A started client, closed at the end of the block."""
    client = DispatchClient(store, **retry)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


def config_for(receiver: DispatchReceiver, **overrides: object) -> DispatchConfig:
    return replace(DispatchConfig(tenant_id=1, company_id="ABC Taxis", base_url=receiver.url),
                   **overrides)  # type: ignore[arg-type]
