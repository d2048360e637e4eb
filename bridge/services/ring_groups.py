"""Ring groups: a number of the tenant that rings member extensions by a strategy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from bridge.flows import strategies
from bridge.gateway import Positions
from bridge.phone_numbers import InvalidNumber, to_e164
from bridge.services.errors import NotFound, ValidationFailed
from bridge.store.locks import lock_numbers
from bridge.store.models import Extension, RingGroup, RingGroupMember, Tenant, utcnow

# The strategies the engine knows (bridge/flows/strategies.py), in the API's order.
STRATEGIES = strategies.NAMES
NO_ANSWER_ACTIONS = ("FORWARD_TO_NUMBER", "FORWARD_TO_VOICEMAIL", "REPEAT", "HANGUP")
QUEUE_TYPES = ("customer", "driver")
# Fields copied as given; the API schema has checked their type, range and enum.
_PLAIN_FIELDS = ("name", "ring_time", "ring_strategy", "skip_busy_member", "enable_paid",
                 "enable_prid", "extension_number_as_to_header", "queue_id", "queue_type",
                 "max_wait_time", "record_calls")


@dataclass(frozen=True)
class RingGroupsService:
    session: Session
    tenant: Tenant

    def get(self, ring_group_id: int | None) -> RingGroup:
        group = self.session.get(RingGroup, ring_group_id) if ring_group_id else None
        if group is None or group.tenant_id != self.tenant.id:
            raise NotFound("ring group not found")
        return group

    def create(self, data: dict[str, Any], parking: Positions) -> RingGroup:
        number = data["extension_number"]
        refuse_parking_position(number, parking)
        lock_numbers(self.session, self.tenant.id)
        if self._extension(number) is not None:
            raise ValidationFailed(f"extension {number} exists", field="extension_number")
        if ring_group_id_by_number(self.session, self.tenant.id, number) is not None:
            raise ValidationFailed(f"ring group {number} exists", field="extension_number")
        group = RingGroup(tenant_id=self.tenant.id, extension_number=number)
        self._apply(group, data)
        self.session.add(group)
        self.session.flush()
        return group

    def update(self, group: RingGroup, data: dict[str, Any]) -> None:
        if data.get("extension_number", group.extension_number) != group.extension_number:
            raise ValidationFailed("extension_number is set at create only",
                                   field="extension_number")
        self._apply(group, data)
        self.session.flush()

    def delete(self, group: RingGroup) -> None:
        self.session.delete(group)
        self.session.flush()

    def member(self, group: RingGroup, number: str) -> RingGroupMember:
        found = next((m for m in group.members if m.extension.extension_number == number), None)
        if found is None:
            raise NotFound(f"extension {number} is not a member of this ring group")
        return found

    def replace_members(self, group: RingGroup, items: list[dict[str, Any]]) -> None:
        """Members in hunt order: `items` are `{extension_number, skill_level}`."""
        numbers = [item["extension_number"] for item in items]
        if len(set(numbers)) != len(numbers):
            raise ValidationFailed("an extension is listed twice", field="items")
        extensions = {e.extension_number: e for e in self.session.scalars(select(Extension).where(
            Extension.tenant_id == self.tenant.id, Extension.extension_number.in_(numbers)))}
        missing = [number for number in numbers if number not in extensions]
        if missing:
            raise ValidationFailed(f"no extension {', '.join(missing)} in this tenant",
                                   field="items")
        group.members.clear()
        self.session.flush()  # the old rows go before new ones reuse (group, extension)
        group.members.extend(
            RingGroupMember(position=i, extension=extensions[item["extension_number"]],
                            skill_level=item["skill_level"])
            for i, item in enumerate(items))
        group.updated_at = utcnow()
        self.session.flush()

    def _apply(self, group: RingGroup, data: dict[str, Any]) -> None:
        setters: dict[str, Callable[[Any], None]] = {
            "no_answer_forward_rule": lambda v: self._set_no_answer(group, v),
            "outbound_caller_ids": lambda v: self._set_caller_ids(group, v),
            "did_numbers": lambda v: self._set_dids(group, v),
        }
        for name in _PLAIN_FIELDS:
            if name in data:
                setattr(group, name, data[name])
        for name, setter in setters.items():
            if name in data:
                setter(data[name])

    def _set_no_answer(self, group: RingGroup, rule: dict[str, Any] | None) -> None:
        action = rule["action"] if rule else None
        text = rule.get("number") if rule else None
        if action == "FORWARD_TO_NUMBER" and not text:
            raise ValidationFailed("FORWARD_TO_NUMBER needs a number",
                                   field="no_answer_forward_rule")
        if action != "FORWARD_TO_NUMBER" and text is not None:
            raise ValidationFailed(f"{action} takes no number", field="no_answer_forward_rule")
        group.no_answer_action = action
        group.no_answer_number = self._forward_target(group, text) if text else None

    def _forward_target(self, group: RingGroup, text: str) -> str:
        """An extension number of the tenant as is; else a phone number with or without
        +, stored E.164 (read in the tenant's region first, then as international).

        The number stored already is taken back as it is, so that what a GET answered
        can be posted back after the extension it names was destroyed; a call that
        finds it names nothing is hung up with the reason logged."""
        if text == group.no_answer_number:
            return text
        if text == group.extension_number:
            raise ValidationFailed("a ring group cannot forward to itself; use REPEAT",
                                   field="no_answer_forward_rule")
        if self._extension(text) is not None:
            return text
        return self._e164(text, "no_answer_forward_rule", or_international=True)

    def _set_caller_ids(self, group: RingGroup, entries: list[dict[str, Any]]) -> None:
        group.outbound_caller_ids = [
            {"provider_id": entry["provider_id"],
             "caller_id": self._e164(entry["caller_id"], "outbound_caller_ids"),
             "description": entry.get("description")}
            for entry in entries
        ]

    def _set_dids(self, group: RingGroup, texts: list[str]) -> None:
        numbers = [self._e164(text, "did_numbers") for text in texts]
        if len(set(numbers)) != len(numbers):
            raise ValidationFailed("the same number is listed twice", field="did_numbers")
        lock_numbers(self.session, self.tenant.id, dids=True)
        for number in numbers:
            holder = ring_group_by_did(self.session, number)
            if holder is not None and holder is not group:
                raise ValidationFailed(f"DID {number} already goes to another ring group",
                                       field="did_numbers")
        group.did_numbers = numbers

    def _e164(self, text: str, field: str, *, or_international: bool = False) -> str:
        try:
            return to_e164(text, self.tenant.region, or_international=or_international)
        except InvalidNumber as exc:
            raise ValidationFailed(str(exc), field=field) from exc

    def _extension(self, number: str) -> Extension | None:
        return self.session.scalar(select(Extension).where(
            Extension.tenant_id == self.tenant.id, Extension.extension_number == number))



def refuse_parking_position(number: str, parking: Positions) -> None:
    """A phone dialling a parking position parks its call there: an extension or a ring
    group with that number could never be called."""
    if number in parking:
        raise ValidationFailed(f"{number} is one of the parking positions {parking}",
                               field="extension_number")


def ring_group_id_by_number(session: Session, tenant_id: int, number: str) -> int | None:
    """The id of the tenant's ring group whose extension number is `number`, if any."""
    return session.scalar(select(RingGroup.id).where(
        RingGroup.tenant_id == tenant_id, RingGroup.extension_number == number))


def group_labels(session: Session, group_ids: Iterable[int]) -> dict[int, str]:
    """Ring groups by id as people know them: number, name and tenant."""
    rows = session.execute(
        select(RingGroup.id, RingGroup.extension_number, RingGroup.name, Tenant.company_id)
        .join(Tenant, Tenant.id == RingGroup.tenant_id).where(RingGroup.id.in_(list(group_ids))))
    return {group_id: f"{number} {name} ({company})" for group_id, number, name, company in rows}


def ring_group_by_did(session: Session, number: str) -> RingGroup | None:
    """The group (of any tenant) that calls to the E.164 DID `number` go to.

    `did_numbers` is a JSON list of E.164 strings (only `+` and digits), so the quoted
    number in its text is an exact element match on SQLite and PostgreSQL alike.
    """
    return session.scalar(select(RingGroup).where(
        cast(RingGroup.did_numbers, String).contains(f'"{number}"', autoescape=True)))
