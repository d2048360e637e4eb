"""Telephony session notifications for RingCentral-style subscriptions.

Call events come in on the engine's loop; each change of a session
(bridge/surfaces/ringcentral/telephony_sessions.py) goes to every live subscription of
its tenant that follows the whole account or one of the session's extensions, through
the dispatch client: stored first, retried, in order per call and subscription, signed
when the subscription has a secret. The live subscriptions are read from the database
at most once every `refresh` seconds: a new subscription hears of calls from then on.
A read that fails (the database restarting) falls back on the last one that worked, so
a blip loses no notification; deliveries themselves wait in memory meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bridge.api.formats import rfc3339
from bridge.dispatch.client import DispatchClient
from bridge.dispatch.deliveries import Delivery
from bridge.flows.call_log import CallLog
from bridge.flows.events import CallEvent
from bridge.services.subscriptions import ActiveSubscription
from bridge.store.db import why_away
from bridge.store.ids import encode_id
from bridge.surfaces.ringcentral.telephony_sessions import (
    SessionChange,
    SessionTracker,
    session_body,
)

log = logging.getLogger(__name__)
EVENT = "telephony"  # the delivery log's name for these notifications
REFRESH_SECONDS = 1.0


class SessionNotifier:
    def __init__(self, client: DispatchClient, index: Callable[[], list[ActiveSubscription]],
                 refresh: float = REFRESH_SECONDS) -> None:
        """`index` reads the live subscriptions (blocking: run in a worker thread)."""
        self.client = client
        self.index = index
        self.refresh = refresh
        self.tracker = SessionTracker()
        self._reading: asyncio.Future[list[ActiveSubscription]] | None = None
        self._read_at = 0.0
        self._last_read: list[ActiveSubscription] | None = None  # the last read that worked
        self._failed_read: asyncio.Future[list[ActiveSubscription]] | None = None  # logged

    def follow(self, call_log: CallLog) -> None:
        call_log.subscribe(CallEvent, self.on_event)

    def on_event(self, event: CallEvent) -> None:
        change = self.tracker.apply(event)
        if change is not None and not self._none_live():
            self.client.spawn(self._notify(change))

    def _none_live(self) -> bool:
        """Read a moment ago: no subscription is live (most deployments have none), so
        a change needs no task of its own."""
        reading = self._reading
        return (reading is not None and reading.done() and not reading.cancelled()
                and reading.exception() is None and not reading.result()
                and time.monotonic() - self._read_at < self.refresh)

    async def _notify(self, change: SessionChange) -> None:
        try:
            subscriptions = await self._live()
        except Exception:
            log.exception("call %s: session notification not sent: the subscriptions "
                          "could not be read", change.session.call_id)
            return
        for subscription in subscriptions:
            path = _event_path(subscription, change)
            if path is not None:
                self.client.reliably(subscription.config,
                                     _delivery(subscription, change, path))

    async def _live(self) -> list[ActiveSubscription]:
        """The live subscriptions, read again once `refresh` has passed (changes waiting
        meanwhile share one read, and go out in the order they came)."""
        now = time.monotonic()
        if self._reading is None or (self._reading.done() and
                                     now - self._read_at >= self.refresh):
            self._read_at = now
            self._reading = asyncio.ensure_future(asyncio.to_thread(self.index))
        reading = self._reading
        try:
            self._last_read = await asyncio.shield(reading)
        except Exception as exc:
            if self._last_read is None:
                raise
            if self._failed_read is not reading:  # once per failed read, not per change
                self._failed_read = reading
                log.warning("the subscriptions could not be read (%s); notifying those read "
                            "before", why_away(exc))
        return self._last_read


def _event_path(subscription: ActiveSubscription, change: SessionChange) -> str | None:
    """The event filter of `subscription` that the session matches, if one does."""
    session = change.session
    if subscription.tenant_id != session.tenant_id:
        return None
    account = f"/restapi/v1.0/account/{encode_id(session.tenant_id)}"
    if subscription.account_level:
        return f"{account}/telephony/sessions"
    followed = sorted(session.numbers() & subscription.extensions.keys())
    if not followed:
        return None
    extension_id = encode_id(subscription.extensions[followed[0]])
    return f"{account}/extension/{extension_id}/telephony/sessions"


def _delivery(subscription: ActiveSubscription, change: SessionChange,
              path: str) -> Delivery:
    account_id = encode_id(change.session.tenant_id)
    extension_ids = {number: encode_id(key) for number, key in
                     subscription.extensions.items()}
    now = datetime.now(UTC)
    body = {"uuid": str(uuid.uuid4()), "event": path,
            "timestamp": rfc3339(now),
            "subscriptionId": str(subscription.id),
            "ownerId": encode_id(subscription.owner_id) if subscription.owner_id else "",
            "body": session_body(change, account_id, extension_ids)}
    config = subscription.config
    return Delivery(subscription.tenant_id, change.session.call_id, EVENT, "POST",
                    config.base_url, json.dumps(body, separators=(",", ":")),
                    give_up_at=now + timedelta(seconds=config.retry_seconds),
                    subscription_id=subscription.id)
