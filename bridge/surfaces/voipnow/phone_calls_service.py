"""Phone calls and parking (VoIPNow UnifiedAPI style): who may see and act on which call.

The engine owns the calls (bridge/engine/call_control.py); this module resolves the
API's addressing (`@me`, `@owner`, a user id; an extension or `@self`) against the
database, checks the request and hands the engine what it needs: the tenant's SIP
domain (its calls and its parking lot) and the targets to ring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.gateway import (
    CallChanged,
    CallRefused,
    EngineGateway,
    EngineUnavailable,
    LiveCall,
    Party,
    Target,
)
from bridge.services.errors import ServiceError
from bridge.services.routing import extension_target
from bridge.services.tenants import Principal
from bridge.store.ids import decode_id
from bridge.store.models import Extension, Tenant, User
from bridge.surfaces.voipnow.caller_ids import FORMS, CallerId, CallerIdInvalid, parse_caller_id

T = TypeVar("T")
SELF_USERS = ("@me", "@viewer")
DEFAULT_PARK_SECONDS, MIN_PARK_SECONDS, MAX_PARK_SECONDS = 180, 10, 3600
DEFAULT_PICKUP_WAIT, MIN_PICKUP_WAIT, MAX_PICKUP_WAIT = 25, 5, 300
ACTIONS = ("Park", "UnPark", "PickUp")


class PhoneCallError(ServiceError):
    """A failure with its VoIPNow code (pc_phonecall_invalid, ...)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def call_invalid(message: str) -> PhoneCallError:
    return PhoneCallError("pc_phonecall_invalid", message)


def view_invalid(message: str) -> PhoneCallError:
    return PhoneCallError("pc_phonecallview_invalid", message)


def lot_full(message: str) -> PhoneCallError:
    return PhoneCallError("pc_parkinglot_full", message, 409)


ENGINE_ERRORS: dict[str, Callable[[str], PhoneCallError]] = {
    CallRefused.NO_VIEW: view_invalid,
    CallRefused.LOT_FULL: lot_full,
}


@dataclass(frozen=True)
class Addressed:
    """The extensions a request is about (one, or all of a user's with `@self`)."""

    extensions: list[Extension]

    @property
    def numbers(self) -> set[str]:
        return {e.extension_number for e in self.extensions}

    def involves(self, call: LiveCall) -> bool:
        return any(self.is_ours(p) for p in call.parties) or any(
            p.parked is not None and p.parked.parker in self.numbers for p in call.parties)

    def is_ours(self, party: Party) -> bool:
        return not party.external and party.number in self.numbers

    def own_party(self, call: LiveCall) -> Party | None:
        return next((p for p in call.parties if self.is_ours(p)), None)


@dataclass(frozen=True)
class PhoneCallsService:
    session: Session
    tenant: Tenant
    principal: Principal
    engine: EngineGateway

    # Addressing.

    def address(self, user_ref: str, extension_ref: str) -> Addressed:
        user = self._user(user_ref)
        if extension_ref == "@self":
            query = select(Extension).where(Extension.tenant_id == self.tenant.id)
            if user is not None:
                query = query.where(Extension.user_id == user.id)
            extensions = self.session.scalars(query.order_by(Extension.extension_number))
            return Addressed([e for e in extensions if self._may_see(e)])
        extension = self.session.scalar(select(Extension).where(
            Extension.tenant_id == self.tenant.id,
            Extension.extension_number == extension_ref))
        if extension is None:
            raise PhoneCallError("extension_not_found", f"no extension {extension_ref}", 404)
        if user is not None and extension.user_id != user.id:
            raise PhoneCallError("extension_not_found",
                                 f"extension {extension_ref} is not the user's", 404)
        if not self._may_see(extension):
            raise PhoneCallError("forbidden", "the extension belongs to another user", 403)
        return Addressed([extension])

    def _user(self, user_ref: str) -> User | None:
        """The user named, or None for "whoever owns the extension"."""
        if user_ref == "@owner" or (user_ref in SELF_USERS and self.principal.user_id is None):
            return None
        user_id = self.principal.user_id if user_ref in SELF_USERS else decode_id(user_ref)
        user = self.session.get(User, user_id) if user_id else None
        if user is None or user.tenant_id != self.tenant.id:
            raise PhoneCallError("user_not_found", f"no user {user_ref}", 404)
        if not self.principal.reaches(user.id):
            raise PhoneCallError("forbidden", "a user's token acts for that user only, "
                                 "unless the user is an admin", 403)
        return user

    def _may_see(self, extension: Extension) -> bool:
        return self.principal.reaches(extension.user_id)

    def owner(self, number: str) -> User | None:
        extension = self._extension(number)
        return None if extension is None or extension.user_id is None else self.session.get(
            User, extension.user_id)

    def _extension(self, number: str) -> Extension | None:
        return self.session.scalar(select(Extension).where(
            Extension.tenant_id == self.tenant.id, Extension.extension_number == number))

    # Reading.

    def calls(self, addressed: Addressed) -> list[LiveCall]:
        return [c for c in self.engine.live_calls(self.tenant.sip_domain)
                if addressed.involves(c)]

    def call(self, addressed: Addressed, call_id: str) -> LiveCall:
        check_call_id(call_id)
        call = next((c for c in self.calls(addressed) if c.call_id == call_id), None)
        if call is None:
            raise call_invalid(f"no live call {call_id} of the extension")
        return call

    # Acting.

    def park(self, addressed: Addressed, call_id: str | None,
             body: Mapping[str, Any]) -> list[str]:
        """Park the party named (or, without a call id, the other party of each of the
        extension's answered calls); returns the ids of the calls parked."""
        timeout = park_timeout(body.get("maxInParking", DEFAULT_PARK_SECONDS))
        if call_id is not None:
            call = self.call(addressed, call_id)
            party = _named_view(call, body)
            parker = self._parker(addressed, call)
            if not party.external and party.number == parker.label:
                raise view_invalid(f"view {party.view} is {parker.label} itself: the call "
                                   "would ring back the parked phone; park the other party")
            self._park(call, party.view, parker, timeout)
            return [call_id]
        parked = []
        for call in self.calls(addressed):
            own = addressed.own_party(call)
            peer = next((p for p in call.parties if p is not own and p.parked is None
                         and own is not None and p.answered_at is not None), None)
            if peer is not None:
                self._park(call, peer.view, self._parker(addressed, call), timeout)
                parked.append(call.call_id)
        return parked

    def _park(self, call: LiveCall, view: str, parker: Target, timeout: int) -> None:
        engine_action(lambda: self.engine.park(self.tenant.sip_domain, call.call_id, view,
                                               parker, timeout))

    def _parker(self, addressed: Addressed, call: LiveCall) -> Target:
        own = addressed.own_party(call)
        number = own.number if own is not None else addressed.extensions[0].extension_number
        extension = self._extension(number)
        assert extension is not None, "addressed extensions exist"
        return extension_target(extension)

    def take(self, addressed: Addressed, call_id: str | None, body: Mapping[str, Any],
             action: str) -> list[str]:
        """UnPark or PickUp: ring `sendCallTo` for the call; without a call id, for each
        of the extension's parked calls (and, for PickUp, each call ringing it). UnPark
        of one call names its parked view (`phoneCallViewId`). Returns the calls' ids
        (a call keeps its id when it is taken back)."""
        target = self._send_call_to(body)
        wait = pickup_wait(body.get("waitForPickup", DEFAULT_PICKUP_WAIT))
        calls = [self.call(addressed, call_id)] if call_id is not None else [
            c for c in self.calls(addressed) if _parked(c)
            or (action == "PickUp" and _ringing_for(addressed, c))]
        if action == "UnPark" and call_id is not None:
            party = _named_view(calls[0], body)
            if party.parked is None:
                raise view_invalid(f"view {party.view} is not parked")
        for call in calls:
            _check_not_to_itself(call, target)
        act = self.engine.unpark if action == "UnPark" else self.engine.pick_up
        domain = self.tenant.sip_domain
        return [engine_action(partial(act, domain, c.call_id, target, wait)) for c in calls]

    def _send_call_to(self, body: Mapping[str, Any]) -> Target:
        number = body.get("sendCallTo")
        extension = self._extension(number) if isinstance(number, str) else None
        if extension is None:
            raise PhoneCallError("pc_sendcallto_invalid",
                                 "sendCallTo must be an extension of the organisation")
        target = extension_target(extension)
        caller = body.get("callerId")
        if caller is not None:
            shown = _caller_id(caller)
            target = replace(target, caller_number=shown.number, caller_name=shown.name)
        return target

    def hang_up(self, addressed: Addressed, call_id: str | None,
                phone_number: str | None) -> list[str]:
        """Hang up the call (each of the extension's calls without a call id), or only
        the party with `phone_number`; returns the ids of the calls acted on."""
        calls = [self.call(addressed, call_id)] if call_id is not None else self.calls(
            addressed)
        done = []
        for call in calls:
            views: list[str | None] = [None] if phone_number is None else [
                p.view for p in call.parties if p.number == phone_number]
            for view in views:
                engine_action(partial(self.engine.hang_up, self.tenant.sip_domain,
                                      call.call_id, view))
            if views:
                done.append(call.call_id)
        return done


def _named_view(call: LiveCall, body: Mapping[str, Any]) -> Party:
    view = body.get("phoneCallViewId")
    party = call.party(view) if isinstance(view, str) else None
    if party is None:
        raise view_invalid("phoneCallViewId must name a view of the call")
    return party


def _check_not_to_itself(call: LiveCall, target: Target) -> None:
    """A parked party is never sent to its own phone."""
    for party in call.parties:
        if party.parked is not None and not party.external \
                and party.number == target.label:
            raise PhoneCallError("pc_sendcallto_invalid", f"sendCallTo {target.label} is "
                                 "the parked party itself")


def _parked(call: LiveCall) -> bool:
    return any(p.parked is not None for p in call.parties)


def _ringing_for(addressed: Addressed, call: LiveCall) -> bool:
    """A call not answered yet that rings one of the addressed extensions."""
    return call.answered is None and any(
        addressed.is_ours(p) and not p.caller for p in call.parties)


def engine_action(action: Callable[[], T]) -> T:
    """Run an engine action; its refusals become the API's errors (the rest are calls
    in a state that does not allow the action: pc_phonecall_invalid)."""
    try:
        return action()
    except CallRefused as exc:
        raise ENGINE_ERRORS.get(exc.reason, call_invalid)(exc.message) from exc
    except CallChanged as exc:  # e.g. a party hung up at that very moment
        raise call_invalid(f"the call changed while acting on it ({exc})") from exc
    except EngineUnavailable as exc:
        raise PhoneCallError("engine_unavailable", exc.message, 503) from exc


def _caller_id(value: Any) -> CallerId:
    try:
        if not isinstance(value, str):
            raise CallerIdInvalid(f"callerId must be a string: {FORMS}")
        return parse_caller_id(value)
    except CallerIdInvalid as exc:
        raise PhoneCallError("pc_callerid_invalid", str(exc)) from exc


def check_call_id(call_id: str) -> None:
    if not call_id.isascii() or not call_id.isalnum():
        raise call_invalid("phoneCallId must be alphanumeric")


def check_action(body: Mapping[str, Any]) -> str:
    action = body.get("action")
    if action not in ACTIONS:
        raise PhoneCallError("pc_action_invalid", f"action must be one of {', '.join(ACTIONS)}")
    return str(action)


def _whole_number(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if low <= number <= high else None


def park_timeout(value: Any) -> int:
    """maxInParking: seconds 10..3600, as a number or a numeric string."""
    return _seconds(value, "maxInParking", MIN_PARK_SECONDS, MAX_PARK_SECONDS,
                    "pc_parktimeout_invalid")


def pickup_wait(value: Any) -> int:
    return _seconds(value, "waitForPickup", MIN_PICKUP_WAIT, MAX_PICKUP_WAIT,
                    "pc_waitforpickup_invalid")


def _seconds(value: Any, name: str, low: int, high: int, code: str) -> int:
    seconds = _whole_number(value, low, high)
    if seconds is None:
        raise PhoneCallError(code, f"{name} must be {low}..{high} seconds")
    return seconds
