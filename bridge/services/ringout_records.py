"""RingOut statuses from the engine's steps, written by the call-record writer thread.

The RingOut flow reports every change as a `ringout` step carrying the three
statuses. The `ended` step of a call (the flow's own, or that of a call adopted after a
restart of ringbridge) closes the row: a connected call's answered legs are Finished.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.services.call_records import Step
from bridge.store.ids import decimal_id
from bridge.store.models import RingOut


def apply_ringout_step(session: Session, step: Step) -> None:
    key = decimal_id(step.call_id)  # hunt call ids are letters and digits; RingOut's digits
    if step.kind not in ("ringout", "ended") or key is None:
        return
    ringout = session.get(RingOut, key)
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


def _finished(status: str) -> str:
    return "Finished" if status == "Success" else status


def open_ringouts(session: Session, before: datetime) -> list[str]:
    """The ids of the RingOuts not ended yet, created before `before`."""
    return [str(key) for key in session.scalars(select(RingOut.id).where(
        RingOut.ended_at.is_(None), RingOut.created_at < before))]
