"""A carrier's caller as ringbridge presents it, from the moment the call is routed.

The router reads the trunk's caller (E.164 in the tenant's region, or `anonymous`:
bridge/phone_numbers.py); it is set on the caller's channel, so the member phones'
From, the phone calls list and a restarted ringbridge all see that number, never what
the carrier wrote.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bridge.asterisk.ari import AriError
from bridge.flows.calls import Ari
from bridge.gateway import UNSAFE_IN_CALLER_NAME
from bridge.phone_numbers import ANONYMOUS

log = logging.getLogger(__name__)

ANONYMOUS_NAME = "Anonymous"
_LETTER = re.compile(r"[^\W\d_]")


def presented_name(given: str, number: str) -> str:
    """The carrier's caller name when it is a name (has a letter: `ACME Ltd`); otherwise
    the number, so a phone shows `+447700900123` rather than `07700 900123`."""
    if number == ANONYMOUS:
        return ANONYMOUS_NAME
    name = UNSAFE_IN_CALLER_NAME.sub("", given).strip()
    return name if _LETTER.search(name) else number


async def present_trunk_caller(ari: Ari, call_id: str, channel: dict[str, Any],
                               number: str) -> str:
    """Set the caller's channel to `number` and its name; the name."""
    given = channel.get("caller", {})
    name = presented_name(given.get("name", ""), number)
    if (given.get("number"), given.get("name")) == (number, name):
        return name
    log.info("call %s: the carrier's caller %r <%s> is presented as %r <%s>", call_id,
             given.get("name", ""), given.get("number", ""), name, number)
    try:
        await ari.post(f"/channels/{channel['id']}/variable",
                       {"variable": "CALLERID(all)", "value": f'"{name}" <{number}>'})
    except AriError as exc:  # the caller hung up already: the flow will see it
        log.debug("call %s: caller id not set on %s: %s", call_id, channel["id"], exc)
    return name
