"""What a hunt tells the outside world about its call (dispatch events, in production)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

Queue = tuple[str | None, str | None]  # (queue id, queue type) of the group being hunted
Redirect = Callable[[str], Awaitable[None]]


class CallEvents(Protocol):
    """Called on the engine's loop; only `invite` is awaited, and bounds its own wait."""

    async def invite(self, call_id: str, queue: Queue) -> dict[str, Any] | None:
        """Before anyone rings: what is known about the caller (kept on the record)."""

    def ringing(self, call_id: str, queue: Queue, agent_id: str | None,
                redirect: Redirect) -> None:
        """A phone started alerting; `redirect(location)` sends the call elsewhere."""

    def connected(self, call_id: str, queue: Queue, agent_id: str | None) -> None:
        """A member answered; `agent_id` is None for a member without one."""

    def ended(self, call_id: str, queue: Queue, agent_id: str | None, received: datetime,
              connected: datetime | None, cleared: datetime, *, answered: bool,
              recorded: bool = False) -> None:
        """The call is over; `answered`: a member answered it (`agent_id` is that member's,
        None when it has none); `recorded`: the call or its voicemail was recorded."""
