"""Helpers for dispatch tests: agents, a tenant's dispatch settings, what the dispatcher gets."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook

from tests.integration.ring_groups import Office
from tests.support.dispatch_receiver import DispatchReceiver, RecordedRequest
from tests.support.softphone import Phone


def agents(office: Office, *numbers: str) -> dict[str, Phone]:
    for number in numbers:
        office.extension(number, agent_id=f"agent{number}@example.com")
    return {number: office.phone(number) for number in numbers}


def dispatch_to(office: Office, receiver: DispatchReceiver, **settings: Any) -> dict[str, Any]:
    answer: dict[str, Any] = office.api("POST", "/api/dispatch/settings",
                                        json={"base_url": receiver.url, **settings})
    return answer


def verify(request: RecordedRequest, secret: str) -> None:
    """As a dispatcher does it with the Standard Webhooks library (docs/dispatch.md): the
    invite GET's signature covers its query string as received, a POST's its body."""
    headers = dict(request.headers.items())
    if request.method == "GET":
        Webhook(secret).verify(request.raw_query, headers, json_parse=False)
    else:
        Webhook(secret).verify(request.body, headers)  # raises unless the body is signed
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30


def instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, f"{text} has no offset"
    return moment


def seconds(duration: str) -> float:
    """PT4M23.5S → 263.5 (the forms ringbridge writes)."""
    body, total = duration.removeprefix("PT"), 0.0
    for unit, factor in (("H", 3600), ("M", 60), ("S", 1)):
        if unit in body:
            value, body = body.split(unit, 1)
            total += float(value) * factor
    return total
