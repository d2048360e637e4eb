"""What a hunt tells the outside world about its call (dispatch events, in production).

`invite` is a question the hunt awaits (what dispatch knows of the caller: the answer
orders the waiting line) and `ringing` may be answered by a redirect the hunt acts on:
both are direct calls with an answer path, not events. `connected` and `ended` (missed,
cleared) follow from the call's events: `tell_dispatch` subscribes them for one call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from bridge.flows.call_log import CallLog
from bridge.flows.events import AnsweredWhileDown, Ending, MemberAnswered, Queue

log = logging.getLogger(__name__)

__all__ = ["CallEvents", "GuardedEvents", "Queue", "Redirect", "tell_dispatch"]
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


class GuardedEvents:
    """A hunt's CallEvents whose failures stay out of the call: whatever an event raises
    is logged, and the call goes on as if it had not been sent (an invite then brings
    no snapshot)."""

    def __init__(self, events: CallEvents) -> None:
        self.events = events

    async def invite(self, call_id: str, queue: Queue) -> dict[str, Any] | None:
        try:
            return await self.events.invite(call_id, queue)
        except Exception:
            log.exception("call %s: dispatch invite failed; the call goes on", call_id)
            return None

    def ringing(self, call_id: str, queue: Queue, agent_id: str | None,
                redirect: Redirect) -> None:
        with _logged(call_id, "ringing"):
            self.events.ringing(call_id, queue, agent_id, redirect)

    def connected(self, call_id: str, queue: Queue, agent_id: str | None) -> None:
        with _logged(call_id, "connected"):
            self.events.connected(call_id, queue, agent_id)

    def ended(self, call_id: str, queue: Queue, agent_id: str | None, received: datetime,
              connected: datetime | None, cleared: datetime, *, answered: bool,
              recorded: bool = False) -> None:
        with _logged(call_id, "missed/cleared"):
            self.events.ended(call_id, queue, agent_id, received, connected, cleared,
                              answered=answered, recorded=recorded)


def tell_dispatch(call_log: CallLog, call_id: str, events: CallEvents,
                  told: Collection[str] = ()) -> None:
    """Send the call's `connected` when a member answers, its end when it ends; `told`:
    the events the dispatcher has for the call already (a restarted ringbridge does not
    send a stored `connected` again)."""
    def connected(event: MemberAnswered | AnsweredWhileDown) -> None:
        events.connected(event.call_id, event.queue, event.agent_id)

    def ended(event: Ending) -> None:
        events.ended(event.call_id, event.queue, event.agent_id,
                     event.received or event.at, event.answered_at,
                     max(event.at, event.received or event.at),
                     answered=event.answered_at is not None, recorded=event.recorded)

    if "connected" not in told:
        call_log.subscribe(MemberAnswered, connected, call_id=call_id)
        call_log.subscribe(AnsweredWhileDown, connected, call_id=call_id)
    call_log.subscribe(Ending, ended, call_id=call_id)


@contextmanager
def _logged(call_id: str, event: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        log.exception("call %s: dispatch %s failed; the call goes on", call_id, event)
