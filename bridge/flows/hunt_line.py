"""A hunt's place in its ring group's waiting line (bridge/flows/waiting_line.py):
when it joins, its turns to try the members again, and its max_wait."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from bridge.flows.events import CallWaiting, WaitOver
from bridge.flows.waiting_line import DEFAULT_PRIORITY, PRIORITIES, known_priority

if TYPE_CHECKING:
    from bridge.flows.hunt import Hunt

log = logging.getLogger("bridge.flows.hunt.line")  # under the hunt's: set with it


class HuntLine:
    # Events the line sends its hunt through the hunt's own queue, so a waiting call's
    # turn never runs beside the handling of its caller's hangup.
    YOUR_TURN = "RingbridgeWaitingTurn"
    WAIT_OVER = "RingbridgeWaitOver"

    def __init__(self, hunt: Hunt) -> None:
        self.hunt = hunt
        self.priority = DEFAULT_PRIORITY  # the dispatcher's, orders waiting calls
        self.waiting_in: int | None = None  # the group whose waiting line holds the call
        self.waited_out = False  # max_wait is over: the no-answer rule applies
        self._wait_timer: asyncio.TimerHandle | None = None

    def take_priority(self, snapshot: dict[str, Any]) -> None:
        """The invite's `priority`; one that is none of the known ones counts as normal
        (logged here, so once per call)."""
        given = snapshot.get("priority")
        priority = known_priority(given)
        if priority is None and given is not None:
            log.info("call %s: dispatch priority %r is none of %s; counted as normal",
                     self.hunt.call_id, given, ", ".join(PRIORITIES))
        self.priority = priority or DEFAULT_PRIORITY

    async def others_waiting(self) -> bool:
        """A call for a group whose line is not empty joins it: it never overtakes."""
        plan = self.hunt.plan
        return (plan.max_wait > 0 and plan.group_id is not None
                and await self.hunt.flows.waiting_lines.occupied(plan.group_id))

    def may_wait(self) -> bool:
        hunt = self.hunt
        return (hunt.plan.max_wait > 0 and hunt.plan.ring_time > 0
                and hunt.plan.group_id is not None and not hunt.alerted_in_round
                and not self.waited_out and not hunt.connected)

    async def wait(self, why: str) -> None:
        if self.waiting_in is not None:
            return  # tried again, still nobody free: stay where the call is in line
        hunt = self.hunt
        assert hunt.plan.group_id is not None
        self.waiting_in = hunt.plan.group_id
        place = await hunt.flows.waiting_lines.join(self.waiting_in, hunt.call_id,
                                                    self.priority, self._your_turn)
        self._wait_timer = asyncio.get_running_loop().call_later(
            hunt.plan.max_wait, hunt.flows.enqueue, hunt, {"type": self.WAIT_OVER})
        hunt.publish(CallWaiting(call_id=hunt.call_id, why=why, label=hunt.plan.label,
                                 place=place, priority=self.priority,
                                 max_wait=hunt.plan.max_wait))
        await hunt.ring_caller()

    def _your_turn(self) -> None:
        self.hunt.flows.enqueue(self.hunt, {"type": self.YOUR_TURN})

    async def try_again(self) -> None:
        """First in line: ring the members again. A turn that comes when the call is no
        longer first (one more urgent came meanwhile), has left the line, or is trying
        already, passes."""
        hunt = self.hunt
        if self.waiting_in is None or hunt.legs or hunt.connected or hunt.done:
            return
        if await hunt.flows.waiting_lines.first(self.waiting_in) != hunt.call_id:
            return
        hunt.wave_index = -1
        await hunt.next_wave()

    async def wait_over(self) -> None:
        hunt = self.hunt
        self.waited_out = True
        if self.waiting_in is None or hunt.legs or hunt.done:
            return  # a round is on: its end applies the rule
        self.leave()
        hunt.publish(WaitOver(call_id=hunt.call_id, label=hunt.plan.label,
                              max_wait=hunt.plan.max_wait))
        await hunt.apply_no_answer_rule()

    def leave(self) -> None:
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None
        if self.waiting_in is not None:
            self.hunt.flows.waiting_lines.leave(self.waiting_in, self.hunt.call_id)
            self.waiting_in = None
