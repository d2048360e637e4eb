"""What a person does from the panel, through the services the API uses.

An admin acts on the whole tenant. A user picks calls up and takes parked calls back
to their own extensions only, parks calls their own extension is on, pauses and
resumes only themselves, and cannot hang calls up. Every refusal is a PanelRefusal
whose message the page shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bridge.gateway import EngineGateway, LiveCall, PartyState
from bridge.services.errors import ServiceError
from bridge.services.extensions import extension_by_number, pause, resume
from bridge.services.routing import extension_target
from bridge.services.tenants import Principal
from bridge.store.models import Extension, Tenant
from bridge.surfaces.voipnow.phone_calls_service import (
    DEFAULT_PARK_SECONDS,
    DEFAULT_PICKUP_WAIT,
    engine_action,
)


class PanelRefusal(ServiceError):
    """A request the panel refuses; `status` says why (400, 403, 404, 503)."""

    def __init__(self, message: str, status: int = 400,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, headers=headers)
        self.status = status


@dataclass(frozen=True)
class PanelActions:
    session: Session
    tenant: Tenant
    principal: Principal
    engine: EngineGateway

    def pickup(self, body: Mapping[str, Any]) -> str:
        call = self._call(body)
        target = self._own(body)
        engine_action(lambda: self.engine.pick_up(self.tenant.sip_domain, call.call_id,
                                                  extension_target(target),
                                                  DEFAULT_PICKUP_WAIT))
        return f"Picking up on {target.extension_number}"

    def park(self, body: Mapping[str, Any]) -> str:
        call = self._call(body)
        own = self._own(body)
        mine = next((p for p in call.parties if not p.external
                     and p.number == own.extension_number and p.parked is None), None)
        other = next((p for p in call.parties if p is not mine and p.parked is None
                      and p.state is PartyState.UP), None)
        if mine is None or mine.state is not PartyState.UP or other is None:
            raise PanelRefusal(f"{own.extension_number} is not talking on this call")
        parked = engine_action(lambda: self.engine.park(
            self.tenant.sip_domain, call.call_id, other.view, extension_target(own),
            DEFAULT_PARK_SECONDS))
        return f"Parked in {parked.slot}"

    def unpark(self, body: Mapping[str, Any]) -> str:
        call = self._call(body)
        target = self._extension(body) if self.principal.admin else self._own(body)
        if not any(p.parked is not None for p in call.parties):
            raise PanelRefusal("the call is not parked any more")
        engine_action(lambda: self.engine.unpark(self.tenant.sip_domain, call.call_id,
                                                 extension_target(target),
                                                 DEFAULT_PICKUP_WAIT))
        return f"Taking the call back on {target.extension_number}"

    def hangup(self, body: Mapping[str, Any]) -> str:
        if not self.principal.admin:
            raise PanelRefusal("only an admin hangs calls up", 403)
        call = self._call(body)
        engine_action(lambda: self.engine.hang_up(self.tenant.sip_domain, call.call_id, None))
        return "Hung up"

    def pause(self, body: Mapping[str, Any]) -> str:
        extension = self._mine_or_admin(body)
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise PanelRefusal("reason must be text")
        pause(extension, reason)
        return f"{extension.extension_number} paused"

    def resume(self, body: Mapping[str, Any]) -> str:
        extension = self._mine_or_admin(body)
        resume(extension)
        return f"{extension.extension_number} resumed"

    def _call(self, body: Mapping[str, Any]) -> LiveCall:
        call_id = body.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise PanelRefusal("call_id must name a call")
        calls = engine_action(lambda: self.engine.live_calls(self.tenant.sip_domain))
        call = next((c for c in calls if c.call_id == call_id), None)
        if call is None:
            raise PanelRefusal("the call has ended", 404)
        return call

    def _extension(self, body: Mapping[str, Any]) -> Extension:
        number = body.get("extension")
        found = extension_by_number(self.session, self.tenant.id, number) if isinstance(
            number, str) else None
        if found is None:
            raise PanelRefusal("extension must be an extension of the company", 404)
        return found

    def _own(self, body: Mapping[str, Any]) -> Extension:
        extension = self._extension(body)
        if extension.user_id != self.principal.user_id:
            raise PanelRefusal(f"{extension.extension_number} is not your extension", 403)
        return extension

    def _mine_or_admin(self, body: Mapping[str, Any]) -> Extension:
        return self._extension(body) if self.principal.admin else self._own(body)


ACTIONS: dict[str, Callable[[PanelActions, Mapping[str, Any]], str]] = {
    "pickup": PanelActions.pickup, "park": PanelActions.park,
    "unpark": PanelActions.unpark, "hangup": PanelActions.hangup,
    "pause": PanelActions.pause, "resume": PanelActions.resume,
}
