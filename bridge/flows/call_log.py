"""A call's path, event by event: one log line per event, then its subscribers.

Subscribers choose events by type; a base class (bridge/flows/events.py) takes in
all its subclasses. A subscription may be for one call only: it ends with that call's
`Ending`. Subscribers run on the engine's loop and must not block it (the database
writers queue what they get). One that raises is logged; the call goes on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from bridge.flows.events import CallEvent, Ending, subscribed

log = logging.getLogger("bridge.calls")

E = TypeVar("E", bound=CallEvent)
Handler = Callable[[Any], object]


class CallLog:
    """The one way a flow reports what happened to a call."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self._for_call: dict[str, list[tuple[type, Handler]]] = defaultdict(list)

    def subscribe(self, kind: type[E], handler: Callable[[E], object], *,
                  call_id: str | None = None) -> None:
        """`handler(event)` for every event of type `kind`; with `call_id`, for that
        call's events until it ends."""
        if call_id is None:
            self._handlers[kind].append(handler)
        else:
            self._for_call[call_id].append((kind, handler))

    def followed(self, call_id: str) -> bool:
        """Whether something follows this call alone (dispatch, told of its end)."""
        return call_id in self._for_call

    def publish(self, event: CallEvent) -> None:
        log.info("call %s: %s", event.call_id, event.text, extra={"call_id": event.call_id})
        handlers = subscribed(self._handlers, event)
        handlers += [h for kind, h in self._for_call.get(event.call_id, ())
                     if isinstance(event, kind)]
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("call %s: a subscriber to %s failed; the call goes on",
                              event.call_id, type(event).__name__)
        if isinstance(event, Ending):
            self._for_call.pop(event.call_id, None)
