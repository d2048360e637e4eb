"""One call's dispatch events, built from what the hunt tells it (its CallEvents)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson

from bridge.dispatch.client import DispatchClient
from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.deliveries import READ_LIMIT, Delivery
from bridge.dispatch.times import cleared_times, time_zone

log = logging.getLogger(__name__)

Queue = tuple[str | None, str | None]  # (queueId, queueType) of the group being hunted


class DispatchNotifier:
    """Sends a call's invite, ringing, connected, missed and cleared to its tenant."""

    def __init__(self, client: DispatchClient, config: DispatchConfig, phone_number: str,
                 call_url: Callable[[str], str]) -> None:
        """`phone_number`: a trunk caller's E.164 (or `anonymous`), an internal caller's
        extension number as it is; `call_url(call_id)`: the call's record in our API."""
        self.client = client
        self.config = config
        self.phone_number = phone_number
        self.call_url = call_url

    async def invite(self, call_id: str, queue: Queue) -> dict[str, Any] | None:
        """What the dispatcher knows about the caller, if it answers within the deadline."""
        if "invite" not in self.config.events:
            return None
        query = {k: v for k, v in self._fields(call_id, queue, None).items()
                 if k != "agentId" and v is not None}
        query["companyId"] = self.config.company_id
        delivery = Delivery.new(self.config, call_id, "invite", "GET",
                                self.config.url("invite", query), None)
        outcome = await self.client.once(self.config, delivery, self.config.invite_timeout)
        if outcome is None:
            log.info("call %s: dispatch invite had no answer within %.0f ms; going on",
                     call_id, self.config.invite_timeout * 1000)
            return None
        if not outcome.delivered or not outcome.answer:
            return None
        if outcome.oversized:
            log.warning("call %s: dispatch invite answered more than %d KiB; not kept",
                        call_id, READ_LIMIT // 1024)
            return None
        try:
            snapshot = orjson.loads(outcome.answer)
        except orjson.JSONDecodeError:
            log.warning("call %s: dispatch invite answered something that is not JSON", call_id)
            return None
        return snapshot if isinstance(snapshot, dict) else None

    def ringing(self, call_id: str, queue: Queue, agent_id: str | None,
                redirect: Callable[[str], Awaitable[None]]) -> None:
        """POST ringing; a 307 within the ringing deadline calls `redirect(Location)`."""
        if "ringing" not in self.config.events:
            return
        delivery = self._post(call_id, "ringing", self._fields(call_id, queue, agent_id))
        self.client.spawn(self._ringing(delivery, redirect))

    async def _ringing(self, delivery: Delivery,
                       redirect: Callable[[str], Awaitable[None]]) -> None:
        outcome = await self.client.once(self.config, delivery, self.config.ringing_timeout)
        if outcome is None:
            log.info("call %s: dispatch ringing had no answer within %.0f ms; an answer after "
                     "that is logged, not acted on", delivery.call_id,
                     self.config.ringing_timeout * 1000)
            return
        if outcome.http_status == 307:
            if outcome.location:
                await redirect(outcome.location.strip())
            else:
                log.warning("call %s: dispatch answered 307 without Location; ignored",
                            delivery.call_id)

    def connected(self, call_id: str, queue: Queue, agent_id: str | None) -> None:
        if "connected" in self.config.events:
            self.client.reliably(self.config, self._post(
                call_id, "connected", self._fields(call_id, queue, agent_id)))

    def ended(self, call_id: str, queue: Queue, agent_id: str | None, received: datetime,
              connected: datetime | None, cleared: datetime, *, answered: bool,
              recorded: bool = False) -> None:
        """`missed` when no member answered, then `cleared` with the call's times, and
        `recordingUrl` (the call record's `/recording`) when the call or its voicemail
        was recorded."""
        fields = self._fields(call_id, queue, agent_id)
        if not answered and "missed" in self.config.events:
            self.client.reliably(self.config, self._post(call_id, "missed", fields))
        if "cleared" in self.config.events:
            fields["callUrl"] = self.call_url(call_id)
            if recorded:
                fields["recordingUrl"] = f"{fields['callUrl']}/recording"
            fields["times"] = cleared_times(received, connected, cleared,
                                            time_zone(self.config.time_zone))
            self.client.reliably(self.config, self._post(call_id, "cleared", fields))

    def _fields(self, call_id: str, queue: Queue, agent_id: str | None) -> dict[str, Any]:
        return {"companyId": self.config.company_id, "phoneNumber": self.phone_number,
                "queueId": queue[0], "queueType": queue[1], "agentId": agent_id,
                "callId": call_id}

    def _post(self, call_id: str, event: str, fields: dict[str, Any]) -> Delivery:
        return Delivery.new(self.config, call_id, event, "POST", self.config.url(event),
                            orjson.dumps(fields).decode())
