"""What a ring group does when nobody answered: PortSIP's no_answer_forward_rule."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bridge.flows.events import Forwarded, VoicemailStarted
from bridge.flows.hunt import NO_ANSWER, Hunt
from bridge.gateway import Target

log = logging.getLogger(__name__)

Rule = Callable[[Hunt], Awaitable[None]]
FORWARD_RING_TIME = 30


def no_answer_rule(action: str | None, forward_to: Target | None,
                   voicemail_box: str, forward_number: str | None = None) -> Rule | None:
    """The rule for `action`; None (hang up cleanly) when there is none.

    `forward_to` is where FORWARD_TO_NUMBER rings the group's `forward_number`; None
    when that number is neither an extension of the tenant nor an E.164 number (an
    extension destroyed since): the call is then hung up, with the reason logged.
    `voicemail_box` names the group's voicemail: messages are ARI stored recordings
    `<voicemail_box>-<call id>` (/var/spool/asterisk/recording in the container).
    """
    if action == "HANGUP":
        return _hang_up
    if action == "REPEAT":
        return _repeat
    if action == "FORWARD_TO_NUMBER":
        return _forward(forward_to) if forward_to is not None else _cannot_forward(
            forward_number)
    if action == "FORWARD_TO_VOICEMAIL":
        return _voicemail(voicemail_box)
    if action is not None:
        log.warning("no-answer action %s cannot be carried out here; hanging up", action)
    return None


async def _hang_up(hunt: Hunt) -> None:
    await hunt.end(f"nobody answered {hunt.plan.label}: HANGUP rule", NO_ANSWER)


async def _repeat(hunt: Hunt) -> None:
    if not await hunt.repeat():
        await hunt.end(f"nobody answered {hunt.plan.label} in any round", NO_ANSWER)


def _forward(target: Target) -> Rule:
    async def forward(hunt: Hunt) -> None:
        hunt.publish(Forwarded(call_id=hunt.call_id, label=hunt.plan.label,
                               member=target.label))
        await hunt.ring_targets(f"forward to {target.label}", (target,), FORWARD_RING_TIME)

    return forward


def _cannot_forward(number: str | None) -> Rule:
    async def hang_up(hunt: Hunt) -> None:
        why = (f"nobody answered {hunt.plan.label}; FORWARD_TO_NUMBER {number} is neither "
               "an extension of the tenant nor an E.164 number")
        log.warning("call %s: %s; hanging up", hunt.call_id, why)
        await hunt.end(why, NO_ANSWER)

    return hang_up


def _voicemail(box: str) -> Rule:
    async def take_message(hunt: Hunt) -> None:
        recording = f"{box}-{hunt.call_id}"
        hunt.publish(VoicemailStarted(call_id=hunt.call_id, label=hunt.plan.label,
                                      name=recording))
        await hunt.take_message(recording)

    return take_message
