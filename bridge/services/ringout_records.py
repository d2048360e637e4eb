"""RingOut statuses from the engine's steps, written by the call-record writer thread.

The RingOut flow reports every change as a `ringout` step carrying the three
statuses. The `ended` step of a call (the flow's own, or that of a call adopted after a
restart of ringbridge) closes the row: a connected call's answered legs are Finished.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridge.services.call_records import Step
from bridge.store.models import RingOut


def apply_ringout_step(session: Session, step: Step) -> None:
    if step.kind not in ("ringout", "ended") or not is_ringout_id(step.call_id):
        return  # hunt call ids are letters and digits; RingOut ids are digits only
    ringout = session.get(RingOut, int(step.call_id))
    if ringout is None:
        return
    if step.kind == "ringout":
        ringout.call_status = step.fields["call_status"]
        ringout.caller_status = step.fields["caller_status"]
        ringout.callee_status = step.fields["callee_status"]
        return
    if ringout.call_status == "Success":
        ringout.caller_status = _finished(ringout.caller_status)
        ringout.callee_status = _finished(ringout.callee_status)
    elif ringout.call_status == "InProgress":  # the flow failed (an ARI request did)
        ringout.call_status = "NoAnsweringMachine"  # the vendor's "internal failure"
    ringout.ended_at = ringout.ended_at or step.at


def is_ringout_id(text: str) -> bool:
    """Digits that fit the id column (a BIGINT)."""
    return text.isdigit() and len(text) <= 19 and int(text) < 2**63


def _finished(status: str) -> str:
    return "Finished" if status == "Success" else status
