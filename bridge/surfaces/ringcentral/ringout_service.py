"""RingOut: who rings first, who is called, what they see; start, read and cancel.

Which extension a path names, and whether the token reaches it: paths.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.gateway import EngineGateway, EngineNotReached, LegPlan, RingOutPlan
from bridge.phone_numbers import InvalidNumber, is_region, region_for_calling_code, to_e164
from bridge.services.after_commit import after_commit
from bridge.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from bridge.services.ringout_records import write_statuses
from bridge.services.routing import extension_target
from bridge.store.ids import decimal_id, decode_id, new_id
from bridge.store.models import Extension, RingOut, Tenant
from bridge.surfaces.ringcentral.statuses import Statuses, closed, statuses

CARRIER_DIAL = "PJSIP/{number}@carrier"


@dataclass(frozen=True)
class RingOutSettings:
    ring_time: int = 30
    prompt_timeout: int = 10
    retention: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class RingOutRequest:
    """The request body, shapes checked (numbers are checked here)."""

    to: str
    from_number: str | None = None
    forwarding_number_id: str | None = None
    caller_id: str | None = None
    play_prompt: bool = False
    country: str | None = None


@dataclass(frozen=True)
class RingOutService:
    session: Session
    tenant: Tenant
    settings: RingOutSettings
    gateway: EngineGateway

    def create(self, extension: Extension, request: RingOutRequest) -> RingOut:
        """Store a new RingOut; the engine starts it once this commits (its reports
        update the row)."""
        region = self._region(request.country)
        callee = self._leg(request.to, region, "to.phoneNumber")
        caller = self._caller(extension, request, region)
        presented = self._caller_id(extension, request.caller_id, region)
        ringout = RingOut(id=new_id(), tenant_id=self.tenant.id, extension_id=extension.id,
                          from_number=caller.label, to_number=callee.label,
                          caller_id=presented, play_prompt=request.play_prompt)
        self.session.add(ringout)
        self.session.flush()
        plan = RingOutPlan(
            call_id=str(ringout.id), tenant_id=self.tenant.id,
            caller=LegPlan(caller.dial, caller.label, presented=callee.label),
            callee=LegPlan(callee.dial, callee.label, presented=presented),
            play_prompt=request.play_prompt, ring_time=self.settings.ring_time,
            prompt_timeout=self.settings.prompt_timeout, owner=extension.extension_number)
        after_commit(self.session, partial(self._start, plan))
        return ringout

    def _start(self, plan: RingOutPlan) -> None:
        """Hand the committed RingOut to the engine. One the engine never received (its
        process restarting) is left failed, not InProgress for ever; the client gets 503
        and may try again. Any other failure leaves the row to the engine's reports: the
        engine may have taken it."""
        try:
            self.gateway.start_ringout(plan)
        except EngineNotReached:
            left = closed(Statuses())  # the attempt broke before any leg was dialled
            with Session(self.session.get_bind()) as session, session.begin():
                ringout = session.get_one(RingOut, int(plan.call_id))
                write_statuses(ringout, left)
                ringout.ended_at = datetime.now(UTC)
            raise

    def get(self, extension: Extension, ringout_id: str) -> RingOut:
        key = decimal_id(ringout_id)
        ringout = self.session.get(RingOut, key) if key is not None else None
        if ringout is None or ringout.extension_id != extension.id or self._expired(ringout):
            raise NotFound(f"RingOut {ringout_id} not found", field="ringoutId")
        return ringout

    def cancel(self, extension: Extension, ringout_id: str) -> None:
        """End the attempt while not connected; a connected call is left up (Conflict).
        One that has ended (failed, cancelled, or connected and hung up) has nothing left
        to end. The engine is asked at once, inside the transaction: its answer is
        written."""
        ringout = self.get(extension, ringout_id)
        if ringout.ended_at is not None:
            return
        if ringout.call_status == "Success":
            raise _connected(ringout_id)
        outcome = self.gateway.cancel_ringout(str(ringout.id))
        if outcome.connected:
            raise _connected(ringout_id)
        # Written here, so a GET right after the DELETE reads them: the ended row is final,
        # and the engine's reports the writer applies after it change nothing
        # (services/ringout_records.py).
        states = outcome.states
        left = (statuses(states.call, states.caller, states.callee) if states is not None
                else _cancelled_unattended(ringout))
        write_statuses(ringout, left)
        ringout.ended_at = datetime.now(UTC)

    def _expired(self, ringout: RingOut) -> bool:
        if ringout.ended_at is None:
            return False
        ended = ringout.ended_at if ringout.ended_at.tzinfo else ringout.ended_at.replace(
            tzinfo=UTC)
        return ended + self.settings.retention < datetime.now(UTC)

    def _region(self, country: str | None) -> str:
        """`country.id`: an ISO 3166 code (`GB`), or a country calling code (`1`, `44`)."""
        if country is None:
            return self.tenant.region
        region = region_for_calling_code(country) or (
            country.upper() if is_region(country) else None)
        if region is None:
            raise ValidationFailed(f"country {country!r} is unknown", field="country.id")
        return region

    def _leg(self, number: str, region: str, field: str) -> LegPlan:
        """An extension of the tenant rings its phone; anything else goes to the carrier."""
        extension = self.session.scalar(select(Extension).where(
            Extension.tenant_id == self.tenant.id, Extension.extension_number == number))
        if extension is not None:
            return LegPlan(extension_target(extension).dial, number, presented="")
        try:
            e164 = to_e164(number, region, formatted=False)
        except InvalidNumber as exc:
            raise ValidationFailed(str(exc), field=field) from exc
        return LegPlan(CARRIER_DIAL.format(number=e164), e164, presented="")

    def _caller(self, extension: Extension, request: RingOutRequest, region: str) -> LegPlan:
        if request.from_number is not None:
            return self._leg(request.from_number, region, "from.phoneNumber")
        forwarding = extension.forwarding_numbers
        if request.forwarding_number_id is not None:
            key = decode_id(request.forwarding_number_id)
            chosen = next((f for f in forwarding if f.id == key), None)
            if chosen is None:
                raise ValidationFailed("not a forwarding number of this extension",
                                       field="from.forwardingNumberId")
        else:
            chosen = next((f for f in forwarding if f.is_default), None)
            if chosen is None:
                raise ValidationFailed("from is required: the extension has no default "
                                       "forwarding number", field="from.phoneNumber")
        return self._leg(chosen.number, region, "from.phoneNumber")

    def _caller_id(self, extension: Extension, wanted: str | None, region: str) -> str:
        """What leg 2 sees: an allowed caller id of the extension, else 403."""
        allowed = allowed_caller_ids(extension)
        if wanted is None:
            return allowed[0] if allowed else extension.extension_number
        try:
            number = to_e164(wanted, region, formatted=False)
        except InvalidNumber as exc:
            raise ValidationFailed(str(exc), field="callerId.phoneNumber") from exc
        if number not in allowed:
            raise Forbidden(f"{number} is not a caller id of extension "
                            f"{extension.extension_number}", field="callerId.phoneNumber")
        return number


def allowed_caller_ids(extension: Extension) -> list[str]:
    """The numbers (E.164) a RingOut from `extension` may give as `callerId`; the
    extension's phone-number list shows the same (account.py)."""
    return list(extension.caller_ids or [])


def _cancelled_unattended(ringout: RingOut) -> Statuses:
    """No flow runs it here (started before a restart): its legs were hung up blindly."""
    callee_dialled = ringout.caller_status == "Success"
    return Statuses(call="CannotReach", caller=_rejected(ringout.caller_status),
                    callee=_rejected(ringout.callee_status) if callee_dialled
                    else ringout.callee_status)


def _rejected(status: str) -> str:
    return "Rejected" if status in ("InProgress", "Success") else status


def _connected(ringout_id: str) -> Conflict:
    return Conflict(f"RingOut {ringout_id} is connected: it can be cancelled only while "
                    "ringing; it stays up until a phone hangs up", field="ringoutId")
