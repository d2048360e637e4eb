"""What a hunt tells dispatch (its CallEvents), recorded instead of sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.flows.call_events import Queue, Redirect


class RecordedEvents:
    """A hunt's CallEvents, kept as (event, agent id, answered) tuples."""

    def __init__(self, snapshot: dict[str, Any] | None = None) -> None:
        self.sent: list[tuple[str, str | None, bool | None]] = []
        self.snapshot = snapshot  # what invite answers
        self.recorded: bool | None = None  # what ended was told

    async def invite(self, call_id: str, queue: Queue) -> dict[str, Any] | None:
        return self.snapshot

    def ringing(self, call_id: str, queue: Queue, agent_id: str | None,
                redirect: Redirect) -> None:
        self.sent.append(("ringing", agent_id, None))

    def connected(self, call_id: str, queue: Queue, agent_id: str | None) -> None:
        self.sent.append(("connected", agent_id, None))

    def ended(self, call_id: str, queue: Queue, agent_id: str | None, received: datetime,
              connected: datetime | None, cleared: datetime, *, answered: bool,
              recorded: bool = False) -> None:
        self.sent.append(("ended", agent_id, answered))
        self.recorded = recorded
