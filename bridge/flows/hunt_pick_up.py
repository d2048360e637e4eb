"""A ringing hunt picked up for another phone (the phone calls API's pick-up)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bridge.flows.events import PickedUp

if TYPE_CHECKING:
    from bridge.flows.hunt import Hunt
    from bridge.gateway import Target

# The event that carries a pick-up into the hunt's own queue; fields: target, wait, reply.
PICK_UP = "RingbridgePickUp"


async def pick_up(hunt: Hunt, target: Target, wait: int) -> bool:
    """Stop ringing the call's targets and ring `target` instead, on the call's own
    queue (after the events queued before it); False when the call was answered or
    ended by then."""
    reply: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    hunt.flows.enqueue(hunt, {"type": PICK_UP, "target": target, "wait": wait,
                              "reply": reply})
    return await reply


async def picked_up(hunt: Hunt, target: Target, wait: int,
                    reply: asyncio.Future[bool]) -> None:
    if hunt.connected or hunt.done:
        _answer(reply, False)
        return
    try:
        await hunt.cancel_ringing()
        hunt.publish(PickedUp(call_id=hunt.call_id, member=target.label))
        await hunt.ring_targets(f"pick-up by {target.label}", (target,), wait)
    except Exception as exc:
        if not reply.done():
            reply.set_exception(exc)
        raise
    _answer(reply, True)


def _answer(reply: asyncio.Future[bool], value: bool) -> None:
    """Answer whoever waits for `reply`, unless it stopped waiting."""
    if not reply.done():
        reply.set_result(value)
