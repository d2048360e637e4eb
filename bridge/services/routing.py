"""The engine's directory: numbers → hunt plans, and the hunt memory, from the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Table, Update, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bridge.dispatch.client import DispatchClient
from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.notifier import DispatchNotifier
from bridge.flows.events import MemberAnswered, MemberRinging, PageAnswered
from bridge.flows.hunt import HuntPlan
from bridge.flows.hunt_order import hunt_waves
from bridge.flows.no_answer import no_answer_rule
from bridge.flows.strategies import Candidate, Strategy, strategy_named
from bridge.gateway import UNSAFE_IN_CALLER_NAME, Target
from bridge.phone_numbers import trunk_caller
from bridge.services.call_records import DatabaseCallRecorder
from bridge.services.dispatch import dispatch_config
from bridge.services.extensions import sip_endpoint
from bridge.services.pauses import paused_extensions
from bridge.services.ring_groups import ring_group_by_did
from bridge.services.route_cache import RouteCache, Routes
from bridge.store.models import (
    Extension,
    HuntStat,
    RingGroup,
    RingGroupMember,
    Tenant,
    aware,
)
from bridge.store.session import Database

log = logging.getLogger(__name__)
V = TypeVar("V")
PAUSED = ("paused",)  # the routes' key of the paused extensions


@dataclass(frozen=True)
class GroupMember:
    candidate: Candidate  # without the hunt memory, which is read call by call
    number: str
    target: Target


@dataclass(frozen=True)
class RoutedGroup:
    """A ring group as its calls are routed: all but what the caller and the hunt memory
    change, read once per directory generation."""

    plan: HuntPlan  # with no waves, caller or dispatch events
    strategy: Strategy
    members: tuple[GroupMember, ...]
    dispatch: DispatchConfig | None


Dialled = HuntPlan | int | None  # an extension's plan, a ring group's id, or nothing


class DatabaseDirectory:
    """Routes from the database, kept in memory while the directory generation stays
    (bridge/store/directory_changes.py): a call costs one read of that number, plus the
    hunt memory for the strategies that use it."""

    def __init__(self, database: Database, dial_timeout: int,
                 dispatch: DispatchClient | None = None, api_url: str = "") -> None:
        """`dispatch` sends ring group calls' dispatch events (tenants that set it up);
        `api_url` is where this API is reached (dispatch `callUrl`s)."""
        self.database = database
        self.dial_timeout = dial_timeout
        self.dispatch = dispatch
        self.api_url = api_url
        self._planning = threading.Lock()
        self._routes = RouteCache()
        self._last_paused: Mapping[int, str] | None = None

    def route_dial(self, domain: str, number: str, caller_number: str) -> HuntPlan | None:
        routes = self._routes.current(self.database)
        found: Dialled = routes.get(
            ("dial", domain, number), lambda: self._read(self._look_up_dialled, domain, number))
        if found is None or isinstance(found, HuntPlan):
            return found
        return self._group_call(routes, found, caller_number)

    def route_did(self, number: str, caller_number: str) -> HuntPlan | None:
        """The plan's `caller_number` is the trunk's caller as the tenant's E.164, or
        `anonymous` (bridge/phone_numbers.py)."""
        routes = self._routes.current(self.database)
        found: tuple[int, str] | None = routes.get(
            ("did", number), lambda: self._read(self._look_up_did, number))
        if found is None:
            return None
        group_id, region = found
        return self._group_call(routes, group_id, trunk_caller(caller_number, region))

    def _read(self, look_up: Callable[..., V], *args: Any) -> V:
        """`look_up(session, *args)` in a session of its own: only a route not kept yet
        opens one."""
        with self.database.session() as session:
            return look_up(session, *args)

    def paused(self, routes: Routes | None = None) -> Mapping[int, str]:
        """The paused extensions, read once per directory generation (a pause or a
        resume is an extension's write, so it starts a new one); `routes`: that
        generation's, when the caller has them. While the database cannot be read, the
        pauses read last hold: paused agents stay unrung."""
        def load() -> Mapping[int, str]:
            with self.database.engine.connect() as connection:
                return paused_extensions(connection)

        try:
            if routes is None:
                routes = self._routes.current(self.database)
            paused: Mapping[int, str] = routes.get(PAUSED, load)
        except SQLAlchemyError as exc:
            if self._last_paused is None:
                raise
            log.warning("paused extensions not read (%s); the last read holds", exc)
            return self._last_paused
        self._last_paused = paused
        return paused

    def route_redirect(self, tenant_id: int, location: str,
                       caller_number: str) -> HuntPlan | None:
        """A dispatcher's 307 target: an agent id (that agent's extension) or else a
        queue id (that ring group's hunt); None when the tenant has neither."""
        with self.database.session() as session:
            extension = session.scalar(select(Extension).where(
                Extension.tenant_id == tenant_id, Extension.agent_id == location))
            tenant = session.get(Tenant, tenant_id)
            if extension is not None and tenant is not None:
                plan = self._direct(extension, tenant)
                return replace(plan, label=f"agent {location} ({plan.label})",
                               caller_number=caller_number)
            group_id = session.scalar(select(RingGroup.id).where(
                RingGroup.tenant_id == tenant_id, RingGroup.queue_id == location))
        if group_id is None:
            return None
        return self._group_call(self._routes.current(self.database), group_id, caller_number)

    def _group_call(self, routes: Routes, group_id: int,
                    caller_number: str) -> HuntPlan | None:
        """A call's plan for the group, from the group kept in `routes` (loaded once)."""
        group = routes.get(("group", group_id), lambda: self._read(self._load_group, group_id))
        if group is None:
            return None
        try:
            paused: Mapping[int, str] | None = self.paused(routes)
        except SQLAlchemyError:  # the hunt reads them itself, and rings all if it cannot
            paused = None
        return self._plan_group(group, caller_number, paused)

    def _look_up_dialled(self, session: Session, domain: str, number: str) -> Dialled:
        tenant = session.scalar(select(Tenant).where(Tenant.sip_domain == domain))
        if tenant is None:
            return None
        extension = session.scalar(select(Extension).where(
            Extension.tenant_id == tenant.id, Extension.extension_number == number))
        if extension is not None:
            return self._direct(extension, tenant)
        return session.scalar(select(RingGroup.id).where(
            RingGroup.tenant_id == tenant.id, RingGroup.extension_number == number))

    @staticmethod
    def _look_up_did(session: Session, number: str) -> tuple[int, str] | None:
        group = ring_group_by_did(session, number)
        if group is None:
            return None
        tenant = session.get(Tenant, group.tenant_id)
        assert tenant is not None, "groups are deleted with their tenant"
        return group.id, tenant.region

    def _plan_group(self, group: RoutedGroup, caller_number: str,
                    paused: Mapping[int, str] | None) -> HuntPlan:
        """The caller never rings itself; `paused`: the pauses of the same generation
        (None: not read)."""
        members = [m for m in group.members if m.number != caller_number]
        targets = {m.candidate.key: m.target for m in members}
        return replace(
            group.plan, caller_number=caller_number,
            waves=tuple(tuple(targets[c.key] for c in wave)
                        for wave in self._ordered(group, members)),
            events=self._notifier(group.dispatch, caller_number), paused=paused)

    def _ordered(self, group: RoutedGroup, members: list[GroupMember]) -> list[list[Candidate]]:
        """The members in waves by strategy and, for the strategies that use it, the hunt
        memory: read and written one plan at a time in this process (SQLite would refuse
        the second of two interleaved writers) and under row locks across processes (FOR
        UPDATE on PostgreSQL). A cyclic hunt marks its first member as rung at once, so
        two calls arriving together do not both start on the same member."""
        strategy = group.strategy
        if not strategy.uses_memory:
            return hunt_waves(strategy.name, [m.candidate for m in members])
        assert group.plan.group_id is not None, "a ring group's plan names its group"
        with self._planning, self.database.session() as session:
            stats = _locked_stats(session, group.plan.group_id, members)
            waves = hunt_waves(strategy.name, [_remembering(m.candidate, stats[m.candidate.key])
                                               for m in members])
            if strategy.marks_first_rung and waves:
                stats[waves[0][0].key].last_rung_at = datetime.now(UTC)
        return waves

    def _direct(self, extension: Extension, tenant: Tenant) -> HuntPlan:
        return HuntPlan(label=f"extension {extension.extension_number}",
                        waves=((extension_target(extension),),), ring_time=self.dial_timeout,
                        tenant_id=tenant.id, domain=tenant.sip_domain)

    def _load_group(self, session: Session, group_id: int) -> RoutedGroup | None:
        group = session.get(RingGroup, group_id)
        if group is None:  # deleted a moment ago
            return None
        tenant = session.get(Tenant, group.tenant_id)
        assert tenant is not None, "groups are deleted with their tenant"
        strategy = strategy_named(group.ring_strategy)
        plan = HuntPlan(
            label=f"ring group {group.extension_number} ({group.name})", waves=(),
            ring_time=group.ring_time, headers=_headers(tenant, group, strategy),
            paging=strategy.paging, group_id=group.id,
            tenant_id=tenant.id, domain=tenant.sip_domain, queue_id=group.queue_id,
            queue_type=group.queue_type, skip_busy=group.skip_busy_member,
            max_wait=group.max_wait_time, record=group.record_calls,
            strategy=group.ring_strategy,
            no_answer=no_answer_rule(group.no_answer_action,
                                     self._forward_target(session, tenant, group),
                                     voicemail_box=f"voicemail-{group.id}",
                                     forward_number=group.no_answer_number))
        members = tuple(GroupMember(_candidate(m), m.extension.extension_number,
                                    extension_target(m.extension)) for m in group.members)
        dispatch = dispatch_config(session, tenant) if self.dispatch is not None else None
        return RoutedGroup(plan, strategy, members, dispatch)

    def notifier(self, session: Session, tenant: Tenant,
                 caller_number: str) -> DispatchNotifier | None:
        """Who sends the dispatch events of a call of `tenant` (an adopted call's)."""
        config = dispatch_config(session, tenant) if self.dispatch is not None else None
        return self._notifier(config, caller_number)

    def _notifier(self, config: DispatchConfig | None,
                  caller_number: str) -> DispatchNotifier | None:
        """Who sends a call's dispatch events; None when the tenant has no dispatch."""
        if self.dispatch is None or config is None:
            return None
        return DispatchNotifier(self.dispatch, config, caller_number,
                                lambda call_id: f"{self.api_url}/api/call_records/{call_id}")

    def _forward_target(self, session: Session, tenant: Tenant,
                        group: RingGroup) -> Target | None:
        """The extension, or the E.164 number out through the carrier; None when the
        number is neither (it named an extension destroyed since): never sent to the
        carrier as it is."""
        number = group.no_answer_number
        if not number:
            return None
        extension = session.scalar(select(Extension).where(
            Extension.tenant_id == tenant.id, Extension.extension_number == number))
        if extension is not None:
            return extension_target(extension)
        if not number.startswith("+"):  # stored numbers are E.164; extensions have no +
            return None
        caller_ids = [c.get("caller_id") for c in group.outbound_caller_ids or []]
        return Target(key=0, dial=f"PJSIP/{number}@carrier", label=number,
                      caller_number=next((c for c in caller_ids if c), None))


def extension_target(extension: Extension) -> Target:
    endpoint = sip_endpoint(extension)
    return Target(key=extension.id, dial=f"PJSIP/{endpoint.username}@{endpoint.endpoint_id}",
                  label=extension.extension_number, agent_id=extension.agent_id)


def _candidate(member: RingGroupMember) -> Candidate:
    return Candidate(key=member.extension_id, position=member.position,
                     skill_level=member.skill_level)


def _remembering(candidate: Candidate, stat: HuntStat) -> Candidate:
    return replace(candidate, last_rung=_known(stat.last_rung_at),
                   last_answered=_known(stat.last_answered_at))


def _known(moment: datetime | None) -> datetime | None:
    return None if moment is None else aware(moment)


def subscribe_hunt_memory(recorder: DatabaseCallRecorder) -> None:
    """The call-record writer keeps the hunt memory: who rang and who answered, per
    member per group (the events that name a group and an extension)."""
    recorder.subscribe(MemberRinging, apply_hunt_memory)
    recorder.subscribe(MemberAnswered, apply_hunt_memory)
    recorder.subscribe(PageAnswered, apply_hunt_memory)


def _remembered(column: str) -> Update:
    """An UPDATE of one member's `column`, built once: a statement made per event cost
    more to build (and to key for the compiled cache) than to run."""
    stats = cast(Table, HuntStat.__table__)
    return update(stats).where(stats.c.ring_group_id == bindparam("group"),
                               stats.c.extension_id == bindparam("member")
                               ).values({column: bindparam("at")})


_RUNG, _ANSWERED = _remembered("last_rung_at"), _remembered("last_answered_at")


def apply_hunt_memory(connection: Connection,
                      event: MemberRinging | MemberAnswered | PageAnswered) -> None:
    if event.group_id and event.extension_id:
        connection.execute(
            _RUNG if isinstance(event, MemberRinging) else _ANSWERED,
            {"group": event.group_id, "member": event.extension_id, "at": event.at})


def _locked_stats(session: Session, group_id: int,
                  members: list[GroupMember]) -> dict[int, HuntStat]:
    """The group's hunt memory, its missing rows made. The group's row is written first
    (a write that changes nothing), so the planners of one group take turns in every
    process until their commit: on PostgreSQL its row lock (rows not made yet cannot be
    locked: two engines would both insert them, and one fail), on SQLite the write lock
    (pysqlite takes it only at the first write, after the read). A Core statement: an
    ORM one would count as a directory change (bridge/store/directory_changes.py)."""
    groups = cast(Table, RingGroup.__table__)
    session.connection().execute(update(groups).where(groups.c.id == group_id)
                                 .values(id=groups.c.id))
    keys = [m.candidate.key for m in members]
    rows = {s.extension_id: s for s in session.scalars(
        select(HuntStat).where(HuntStat.ring_group_id == group_id).with_for_update())}
    for key in keys:
        if key not in rows:
            rows[key] = HuntStat(ring_group_id=group_id, extension_id=key)
            session.add(rows[key])
    session.flush()
    return rows


def _headers(tenant: Tenant, group: RingGroup, strategy: Strategy) -> dict[str, str]:
    name = UNSAFE_IN_CALLER_NAME.sub("", group.name)  # names stored before the API's rule
    identity = f'"{name}" <sip:{group.extension_number}@{tenant.sip_domain}>'
    headers = {}
    if group.enable_paid:
        headers["P-Asserted-Identity"] = identity
    if group.enable_prid:
        headers["Remote-Party-ID"] = f"{identity};party=calling;privacy=off;screen=no"
    headers.update(strategy.headers_for(tenant.sip_domain))
    return headers

