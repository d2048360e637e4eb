"""What is sent to a dispatch system, what came back, and where it is kept."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bridge.dispatch.config import DispatchConfig

ANSWER_LIMIT = 2048  # characters of an answer kept in the delivery log
READ_LIMIT = 64 * 1024  # bytes of an answer read: an invite snapshot is parsed from these
# Seconds a node's claim on its stored deliveries lasts; it renews them every third of it.
CLAIM_LEASE = 60.0


@dataclass
class Delivery:
    """One event for one call; `webhook_id` stays the same across retries."""

    tenant_id: int
    call_id: str
    event: str
    method: str
    url: str
    body: str | None
    give_up_at: datetime
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    webhook_id: str = field(default_factory=lambda: "msg_" + secrets.token_urlsafe(18))
    attempts: int = 0
    id: int | None = None
    subscription_id: int | None = None  # a subscription's notification, not dispatch's

    @property
    def chain(self) -> str:
        """What it is sent in order with: the call's other deliveries to the same place
        (a slow subscriber never holds up the call's dispatch events)."""
        if self.subscription_id is None:
            return self.call_id
        return f"{self.call_id}/{self.subscription_id}"

    @classmethod
    def new(cls, config: DispatchConfig, call_id: str, event: str, method: str, url: str,
            body: str | None) -> Delivery:
        return cls(config.tenant_id, call_id, event, method, url, body,
                   give_up_at=datetime.now(UTC) + timedelta(seconds=config.retry_seconds))


@dataclass(frozen=True)
class Outcome:
    """One attempt: the HTTP status (None when no answer came), how long it took.

    `answer` is the whole body, or its first READ_LIMIT bytes when `oversized`."""

    http_status: int | None
    latency_ms: float
    answer: str | None = None
    location: str | None = None
    error: str | None = None
    oversized: bool = False
    final: bool = False  # the request could not even be made (a URL the client refuses)

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    @property
    def worth_retrying(self) -> bool:
        """No answer, a timeout, or the dispatcher saying it is overloaded or broken."""
        if self.final:
            return False
        return self.http_status is None or self.http_status in (408, 425, 429) \
            or self.http_status >= 500


class DeliveryStore(Protocol):
    """The delivery log and outbox (the database, in services). Blocking: call it in a
    worker thread."""

    def add(self, delivery: Delivery) -> int:
        """Store a delivery before its first attempt (state pending, claimed by this
        node); its id."""

    def attempted(self, delivery: Delivery, outcome: Outcome, state: str,
                  next_attempt_at: datetime | None) -> None:
        """Record an attempt of a stored delivery; state pending, delivered or failed."""

    def log(self, delivery: Delivery, outcome: Outcome, state: str) -> None:
        """Record a delivery that is tried once (invite, ringing)."""

    def pending(self) -> list[tuple[Delivery, DispatchConfig]]:
        """Stored deliveries still to be retried that no live node claims (the claim of
        the node that stored them has lapsed), with their tenant's current settings;
        claimed for this node in the same step, so each is resumed by one node once."""

    def renew(self) -> None:
        """Extend this node's claims on its pending deliveries by CLAIM_LEASE."""

    def release(self) -> None:
        """Give up this node's claims (closing down): a restart resumes them at once."""
