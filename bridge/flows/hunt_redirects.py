"""A dispatcher's redirect (`307 Location: <agent or queue id>`) of a ringing hunt."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from bridge.flows.calls import NORMAL_CLEARING
from bridge.flows.events import Redirected, RedirectIgnored

if TYPE_CHECKING:
    from bridge.flows.hunt import Hunt, HuntPlan

MAX_REDIRECTS = 3  # dispatch 307s acted on per call: a redirect loop ends here


class Redirects(Protocol):
    """Where a hunt asks what a dispatcher's redirect target means (the database)."""

    def route_redirect(self, tenant_id: int, location: str,
                       caller_number: str) -> HuntPlan | None: ...


class NoRedirects:
    """For hunts outside ring groups (direct calls)."""

    def route_redirect(self, tenant_id: int, location: str,
                       caller_number: str) -> HuntPlan | None:
        """No redirects outside ring groups."""
        return None


class HuntRedirects:
    # The event that carries a looked-up redirect into the hunt's own queue.
    REDIRECT = "RingbridgeRedirect"  # fields: location, plan

    def __init__(self, hunt: Hunt, redirects: Redirects) -> None:
        self.hunt = hunt
        self.redirects = redirects
        self.count = 0  # dispatch redirects acted on

    async def redirect(self, location: str) -> None:
        """Dispatch answered `307 Location: <agent or queue id>`: ring that instead.

        A leg already ringing at the new target keeps ringing; the others stop. The
        group's no-answer rule still applies after an agent redirect. A queue whose
        line holds callers is never overtaken: the call stops ringing and joins the line
        at its priority, with the new group's whole max_wait ahead of it.
        """
        hunt = self.hunt
        if hunt.connected or hunt.done:
            hunt.publish(RedirectIgnored(call_id=hunt.call_id, location=location,
                                         why="the call is already answered or over"))
            return
        if self.count >= MAX_REDIRECTS or hunt.plan.tenant_id is None:
            hunt.publish(RedirectIgnored(call_id=hunt.call_id, location=location,
                                         why=f"{MAX_REDIRECTS} redirects already"))
            return
        plan = await asyncio.to_thread(self.redirects.route_redirect, hunt.plan.tenant_id,
                                       location, hunt.plan.caller_number)
        if plan is None:
            hunt.publish(RedirectIgnored(call_id=hunt.call_id, location=location,
                                         why="no agent or queue has that id"))
            return
        # The lookup ran beside the call; the change runs in its turn among its events.
        hunt.flows.enqueue(hunt, {"type": self.REDIRECT, "location": location,
                                  "plan": plan})

    async def redirected(self, location: str, plan: HuntPlan) -> None:
        hunt = self.hunt
        if hunt.connected or hunt.done or self.count >= MAX_REDIRECTS:
            hunt.publish(RedirectIgnored(
                call_id=hunt.call_id, location=location,
                why="the call was answered, ended or redirected meanwhile"))
            return
        self.count += 1
        hunt.publish(Redirected(call_id=hunt.call_id, location=location, label=plan.label))
        hunt.line.leave()
        hunt.line.waited_out = False
        # The group the call came to keeps its rules: its no-answer rule, queue and
        # recording go with the call unless the new group has its own.
        hunt.plan = replace(plan, no_answer=plan.no_answer or hunt.plan.no_answer,
                            queue_id=plan.queue_id or hunt.plan.queue_id,
                            queue_type=plan.queue_type or hunt.plan.queue_type,
                            record=plan.record or hunt.plan.record)
        if await hunt.line.others_waiting():
            await hunt.stop_legs(list(hunt.legs.values()), NORMAL_CLEARING)
            await hunt.line.wait("callers are waiting already")
            return
        await self._ring_first_wave(plan)

    async def _ring_first_wave(self, plan: HuntPlan) -> None:
        """Ring the new plan's first wave; its targets already ringing keep ringing."""
        hunt = self.hunt
        first = plan.waves[0] if plan.waves else ()
        keys = {target.key for target in first if target.key}
        await hunt.stop_legs([leg for leg in hunt.legs.values()
                              if leg.target.key not in keys], NORMAL_CLEARING)
        ringing = {leg.target.key for leg in hunt.legs.values()}
        hunt.wave_index = 0
        hunt.alerted_in_round = any(leg.alerting for leg in hunt.legs.values())
        await hunt.ring_wave(tuple(target for target in first if target.key not in ringing))
