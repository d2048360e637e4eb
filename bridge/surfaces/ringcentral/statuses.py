"""RingCentral's RingOut statuses, named from the engine's neutral call and leg states.

The engine says what happened (a leg is busy, the call is connected...); these tables
say it as RingCentral's `callStatus`, `callerStatus` and `calleeStatus` do.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.gateway import CallState, LegState

IN_PROGRESS, SUCCESS, FINISHED = "InProgress", "Success", "Finished"
INTERNAL_FAILURE = "NoAnsweringMachine"  # RingCentral's name for "the attempt broke"

CALL_STATUS = {
    CallState.TRYING: IN_PROGRESS,
    CallState.CONNECTED: SUCCESS,
    CallState.NOT_REACHED: "CannotReach",
}
LEG_STATUS = {
    LegState.CALLING: IN_PROGRESS,
    LegState.ANSWERED: SUCCESS,
    LegState.HUNG_UP: FINISHED,
    LegState.BUSY: "Busy",
    LegState.NO_ANSWER: "NoAnswer",
    LegState.UNREACHABLE: "GenericError",
    LegState.CANCELLED: "Rejected",
}


@dataclass(frozen=True)
class Statuses:
    call: str = IN_PROGRESS
    caller: str = IN_PROGRESS
    callee: str = IN_PROGRESS


def statuses(call: CallState, caller: LegState, callee: LegState) -> Statuses:
    return Statuses(CALL_STATUS[call], LEG_STATUS[caller], LEG_STATUS[callee])


def closed(current: Statuses) -> Statuses:
    """The statuses once the call is over: a connected call's answered legs are
    Finished; an attempt still in progress broke (an ARI request failed)."""
    if current.call == SUCCESS:
        return Statuses(SUCCESS, _finished(current.caller), _finished(current.callee))
    if current.call == IN_PROGRESS:
        return Statuses(INTERNAL_FAILURE, current.caller, current.callee)
    return current


def _finished(status: str) -> str:
    return FINISHED if status == SUCCESS else status
