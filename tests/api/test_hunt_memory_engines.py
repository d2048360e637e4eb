"""The hunt memory shared by engines in processes of their own (or on other nodes)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any, cast

from bridge.services.routing import GroupMember, _locked_stats
from bridge.store.models import Extension, RingGroup
from bridge.store.session import Database
from tests.api.conftest import TenantAuth


def test_two_engines_planning_a_new_groups_calls_at_once_take_turns(
        database: Database, acme: TenantAuth) -> None:
    """A group's first calls, planned by two engines at once, found no hunt memory to
    lock: both inserted it and the second failed (its caller was hung up). The second
    now waits for the first to commit, then reads what it wrote."""
    with database.session() as session:
        group = RingGroup(tenant_id=acme.tenant_id, name="Night", extension_number="6090",
                          ring_strategy="CYCLIC")
        members = [Extension(tenant_id=acme.tenant_id, extension_number=f"209{n}",
                             sip_password="secret-password") for n in (1, 2)]
        session.add_all([group, *members])
        session.flush()
        group_id = group.id
        planned = [cast(GroupMember, SimpleNamespace(candidate=SimpleNamespace(key=m.id)))
                   for m in members]
    second_done = threading.Event()
    failures: list[Exception] = []

    def second_engine() -> None:
        try:
            with database.session() as other:
                _locked_stats(other, group_id, planned)
        except Exception as exc:
            failures.append(exc)
        second_done.set()

    thread = threading.Thread(target=second_engine)
    with database.session() as first:
        rows: dict[int, Any] = _locked_stats(first, group_id, planned)
        assert len(rows) == 2
        thread.start()
        assert not second_done.wait(0.5)  # it waits for the first engine's commit
    thread.join(10)
    assert second_done.is_set() and failures == []
