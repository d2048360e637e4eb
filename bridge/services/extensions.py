"""Extensions: numbers with a SIP endpoint, an agent id and RingOut numbers; pausing."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.gateway import EngineGateway, Positions, SipEndpoint
from bridge.phone_numbers import InvalidNumber, to_e164
from bridge.services.after_commit import after_commit
from bridge.services.errors import NotFound, ValidationFailed
from bridge.services.ring_groups import refuse_parking_position, ring_group_id_by_number
from bridge.services.tenants import at_most
from bridge.store.locks import lock_numbers
from bridge.store.models import Extension, ForwardingNumber, Tenant, User, utcnow

log = logging.getLogger(__name__)
PAUSE_REASON_MAX = 200  # the column's length
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ExtensionsService:
    session: Session
    tenant: Tenant
    gateway: EngineGateway  # endpoint changes reach it after the commit

    def get(self, extension_id: int | None) -> Extension:
        extension = self.session.get(Extension, extension_id) if extension_id else None
        if extension is None or extension.tenant_id != self.tenant.id:
            raise NotFound("extension not found")
        return extension

    def by_number(self, number: str) -> Extension | None:
        return extension_by_number(self.session, self.tenant.id, number)

    def create(self, data: dict[str, Any], parking: Positions) -> Extension:
        number = data["extension_number"]
        refuse_parking_position(number, parking)
        lock_numbers(self.session, self.tenant.id)
        if self.by_number(number) is not None:
            raise ValidationFailed(f"extension {number} exists", field="extension_number")
        if ring_group_id_by_number(self.session, self.tenant.id, number) is not None:
            raise ValidationFailed(f"ring group {number} exists", field="extension_number")
        extension = Extension(tenant=self.tenant, extension_number=number,
                              sip_password=data.get("password") or new_sip_password())
        self._apply(extension, data)
        self.session.add(extension)
        self.session.flush()
        after_commit(self.session, partial(self.gateway.push, sip_endpoint(extension)))
        return extension

    def update(self, extension: Extension, data: dict[str, Any]) -> None:
        if "extension_number" in data:
            raise ValidationFailed("extension_number is set at create only",
                                   field="extension_number")
        if "password" in data:
            extension.sip_password = data["password"] or new_sip_password()
        self._apply(extension, data)
        self.session.flush()
        after_commit(self.session, partial(self.gateway.push, sip_endpoint(extension)))

    def delete(self, extension: Extension) -> None:
        endpoint_id = sip_endpoint(extension).endpoint_id
        self.session.delete(extension)
        self.session.flush()
        after_commit(self.session, partial(self.gateway.remove, endpoint_id))

    def _apply(self, extension: Extension, data: dict[str, Any]) -> None:
        setters: dict[str, Callable[[Any], None]] = {
            "display_name": lambda v: setattr(extension, "display_name", v),
            "agent_id": lambda v: self._set_agent_id(extension, v),
            "user_id": lambda v: self._set_user(extension, v),
            "caller_ids": lambda v: setattr(extension, "caller_ids", self._numbers(
                v or [], "caller_ids")),
            "forwarding_numbers": lambda v: self._set_forwarding(extension, v or []),
        }
        for name, setter in setters.items():
            if name in data:
                setter(data[name])

    def _set_agent_id(self, extension: Extension, agent_id: str | None) -> None:
        if agent_id is not None:
            clash = self.session.scalar(select(Extension.id).where(
                Extension.tenant_id == self.tenant.id, Extension.agent_id == agent_id,
                Extension.id != extension.id))
            if clash is not None:
                raise ValidationFailed(f"agent id {agent_id!r} is used by another extension",
                                       field="agent_id")
        extension.agent_id = agent_id

    def _set_user(self, extension: Extension, user_id: int | None) -> None:
        if user_id is not None:
            user = self.session.get(User, user_id)
            if user is None or user.tenant_id != self.tenant.id:
                raise ValidationFailed("no such user", field="user_id")
        extension.user_id = user_id

    def _set_forwarding(self, extension: Extension, entries: list[dict[str, Any]]) -> None:
        if sum(1 for entry in entries if entry.get("default")) > 1:
            raise ValidationFailed("at most one forwarding number may be the default",
                                   field="forwarding_numbers")
        numbers = self._numbers([entry["number"] for entry in entries], "forwarding_numbers")
        extension.forwarding_numbers = [
            ForwardingNumber(position=i, number=number, is_default=bool(entry.get("default")))
            for i, (number, entry) in enumerate(zip(numbers, entries, strict=True))
        ]

    def _numbers(self, texts: list[str], field: str) -> list[str]:
        numbers = []
        for text in texts:
            try:
                numbers.append(to_e164(text, self.tenant.region))
            except InvalidNumber as exc:
                raise ValidationFailed(str(exc), field=field) from exc
        if len(set(numbers)) != len(numbers):
            raise ValidationFailed("the same number is listed twice", field=field)
        return numbers


def extension_by_number(session: Session, tenant_id: int, number: str) -> Extension | None:
    return session.scalar(select(Extension).where(
        Extension.tenant_id == tenant_id, Extension.extension_number == number))


def find_extension(session: Session, tenant: Tenant, number: str) -> Extension:
    extension = extension_by_number(session, tenant.id, number)
    if extension is None:
        raise NotFound(f"no extension {number!r} in tenant {tenant.company_id!r}")
    return extension


def list_extensions(session: Session, tenant: Tenant) -> list[Extension]:
    return list(session.scalars(select(Extension).where(Extension.tenant_id == tenant.id)
                                .order_by(Extension.extension_number)))


def pause(extension: Extension, reason: str | None) -> None:
    """No ring group rings the extension until it is resumed (bridge/services/pauses.py),
    whatever the strategy. Pausing it again changes the reason only; "" is no reason.
    A write of the extension: the directory generation moves on (the engine reads the
    pauses again)."""
    if reason:
        at_most(reason, PAUSE_REASON_MAX, "reason")
        if CONTROL_CHARACTERS.search(reason):
            raise ValidationFailed("reason must not contain control characters",
                                   field="reason")
    extension.paused_at = extension.paused_at or utcnow()
    extension.pause_reason = reason or None
    log.info("extension %s of %s paused%s: no ring group rings it until it is resumed",
             extension.extension_number, extension.tenant.company_id,
             f" ({reason})" if reason else "")


def resume(extension: Extension) -> None:
    """Its ring groups ring it again. Nothing is written for an extension not paused:
    each write starts a new directory generation, which empties every kept route."""
    if extension.paused_at is None:
        return
    extension.paused_at = None
    extension.pause_reason = None
    log.info("extension %s of %s resumed", extension.extension_number,
             extension.tenant.company_id)


def own_extension(session: Session, user_id: int) -> Extension | None:
    """A user's own extension, the one RingCentral's `~` names: of those it owns, the one
    with the lowest number (None: it owns none)."""
    return session.scalars(select(Extension).where(Extension.user_id == user_id)
                           .order_by(Extension.extension_number)).first()


def new_sip_password() -> str:
    return secrets.token_urlsafe(18)


def sip_endpoint(extension: Extension) -> SipEndpoint:
    return SipEndpoint(
        endpoint_id=f"{extension.extension_number}@{extension.tenant.sip_domain}",
        username=extension.extension_number, password=extension.sip_password,
        caller_name=extension.display_name or extension.extension_number,
        number=extension.extension_number,
    )


def all_sip_endpoints(session: Session) -> list[SipEndpoint]:
    return [sip_endpoint(e) for e in session.scalars(select(Extension))]
