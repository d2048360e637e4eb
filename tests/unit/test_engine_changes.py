"""What the engine tells live views (the operator panel): its change count and the wait
on it, the registered phones, the waiting lines."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bridge.asterisk.ari import AriError
from bridge.engine import registrations as registrations_module
from bridge.engine.changes import Changes
from bridge.engine.registrations import Registrations
from bridge.flows.events import CallEnded
from bridge.flows.waiting_line import WaitingLines
from tests.unit.fake_ari import FakeAri, engine_with


def test_a_wait_returns_at_once_when_the_count_moved_and_on_the_next_change() -> None:
    changes = Changes()
    seen = changes.after(-1, 0.0)
    assert changes.after(seen - 1, 5.0) == seen  # not the count seen: at once
    threading.Timer(0.05, changes.note).start()
    assert changes.after(seen, 5.0) == seen + 1


def test_a_wait_with_no_change_ends_after_its_time() -> None:
    changes = Changes()
    seen = changes.after(-1, 0.0)
    started = time.monotonic()
    assert changes.after(seen, 0.1) == seen
    assert time.monotonic() - started >= 0.09


def test_two_engines_do_not_start_from_the_same_count() -> None:
    assert Changes().after(-1, 0) != Changes().after(-1, 0)


class EndpointsAri:
    def __init__(self, endpoints: list[dict[str, Any]]) -> None:
        self.endpoints = endpoints
        self.reads = 0
        self.failing = False

    async def get(self, path: str, params: Any = None) -> Any:
        assert path == "/endpoints/PJSIP"
        self.reads += 1
        if self.failing:
            raise AriError(0, "GET", path, "ConnectError")
        return self.endpoints


def test_registered_phones_are_read_once_until_a_contact_changes() -> None:
    ari = EndpointsAri([{"resource": "1001@acme.example", "state": "online"},
                        {"resource": "1002@acme.example", "state": "offline"},
                        {"resource": "1001@globex.example", "state": "online"}])
    registrations = Registrations(ari)  # type: ignore[arg-type]

    async def scenario() -> None:
        assert await registrations.online("acme.example") == {"1001"}
        assert await registrations.online("globex.example") == {"1001"}
        assert ari.reads == 1
        ari.endpoints[1]["state"] = "online"
        registrations.changed({"EndpointName": "1002@acme.example"})
        assert await registrations.online("acme.example") == {"1001", "1002"}
        assert ari.reads == 2

    asyncio.run(scenario())


def test_a_failed_read_keeps_the_last_registrations_and_is_not_retried_at_once() -> None:
    ari = EndpointsAri([{"resource": "1001@acme.example", "state": "online"}])
    registrations = Registrations(ari)  # type: ignore[arg-type]

    async def scenario() -> None:
        assert await registrations.online("acme.example") == {"1001"}
        ari.failing = True
        registrations.changed({"EndpointName": "1002@acme.example"})
        assert await registrations.online("acme.example") == {"1001"}
        assert await registrations.online("acme.example") == {"1001"}
        assert ari.reads == 2  # the second look came within RETRY of the failure

    asyncio.run(scenario())


class SlowEndpointsAri(EndpointsAri):
    """Answers once `release` is set; a contact may change meanwhile."""

    def __init__(self, endpoints: list[dict[str, Any]]) -> None:
        super().__init__(endpoints)
        self.release = asyncio.Event()

    async def get(self, path: str, params: Any = None) -> Any:
        answer = [dict(e) for e in self.endpoints]  # as Asterisk saw them when asked
        self.reads += 1
        await self.release.wait()
        return answer


def test_readers_share_one_read_and_a_read_overtaken_by_a_change_is_not_kept() -> None:
    async def scenario() -> None:
        ari = SlowEndpointsAri([{"resource": "1001@acme.example", "state": "online"}])
        registrations = Registrations(ari)  # type: ignore[arg-type]
        first = asyncio.create_task(registrations.online("acme.example"))
        second = asyncio.create_task(registrations.online("acme.example"))
        while not ari.reads:  # the list is being read
            await asyncio.sleep(0)
        ari.endpoints[0]["state"] = "offline"  # the phone goes while the list is read
        registrations.changed({"EndpointName": "1001@acme.example"})
        ari.release.set()
        assert await first == await second == {"1001"}
        assert ari.reads == 1
        assert await registrations.online("acme.example") == set()  # read again
        assert ari.reads == 2

    asyncio.run(scenario())


class Ami:
    connected = True


def heard(endpoints: list[dict[str, Any]], ari_type: type[EndpointsAri] = EndpointsAri
          ) -> tuple[EndpointsAri, Registrations, Ami]:
    """Registrations with AMI connected (and said so) over an ARI with `endpoints`."""
    ami, ari = Ami(), ari_type(endpoints)
    registrations = Registrations(ari, hearing=lambda: ami.connected)  # type: ignore[arg-type]
    registrations.unheard()
    return ari, registrations, ami


async def settled() -> None:
    """Let the read that `surely_online` started in the background finish."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_phone_is_surely_online_by_a_fresh_list_heard_with_ami_only() -> None:
    async def scenario() -> None:
        ari, registrations, ami = heard([{"resource": "1001@acme.example", "state": "online"},
                                         {"resource": "1002@acme.example", "state": "offline"}])
        assert not registrations.surely_online("1001@acme.example")  # nothing read yet
        await settled()
        assert ari.reads == 1  # the question started the read
        assert registrations.surely_online("1001@acme.example")
        assert not registrations.surely_online("1002@acme.example")
        assert not registrations.surely_online("1003@acme.example")
        ami.connected = False  # a contact change could go unheard
        assert not registrations.surely_online("1001@acme.example")
        ami.connected = True
        registrations.unheard()  # AMI connected again: what was missed is not known
        assert not registrations.surely_online("1001@acme.example")
        await settled()
        assert registrations.surely_online("1001@acme.example")
        assert ari.reads == 2

    asyncio.run(scenario())


def test_a_contact_change_makes_only_its_endpoint_unsure_until_the_next_read() -> None:
    async def scenario() -> None:
        ari, registrations, _ = heard([{"resource": "1001@acme.example", "state": "online"},
                                       {"resource": "1002@acme.example", "state": "online"}])
        registrations.surely_online("1001@acme.example")
        await settled()
        registrations.changed({"EndpointName": "1001@acme.example", "ContactStatus": "Removed"})
        assert not registrations.surely_online("1001@acme.example")
        assert registrations.surely_online("1002@acme.example")
        assert await registrations.online("acme.example") == {"1001", "1002"}  # read again
        assert ari.reads == 2
        assert registrations.surely_online("1001@acme.example")

    asyncio.run(scenario())


def test_a_contact_change_during_a_read_leaves_its_endpoint_unsure() -> None:
    async def scenario() -> None:
        ari, registrations, _ = heard([{"resource": "1001@acme.example", "state": "online"}],
                                      SlowEndpointsAri)
        assert isinstance(ari, SlowEndpointsAri)
        registrations.surely_online("1001@acme.example")
        while not ari.reads:
            await asyncio.sleep(0)
        registrations.changed({"EndpointName": "1001@acme.example", "ContactStatus": "Removed"})
        ari.release.set()
        await settled()
        assert not registrations.surely_online("1001@acme.example")

    asyncio.run(scenario())


def test_a_list_older_than_its_age_is_unsure_and_read_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        ari, registrations, _ = heard([{"resource": "1001@acme.example", "state": "online"}])
        registrations.surely_online("1001@acme.example")
        await settled()
        assert registrations.surely_online("1001@acme.example")
        later = time.monotonic() + registrations_module.MAX_AGE + 1
        monkeypatch.setattr(registrations_module, "time", SimpleNamespace(monotonic=lambda: later))
        assert not registrations.surely_online("1001@acme.example")
        await settled()
        assert ari.reads == 2
        assert registrations.surely_online("1001@acme.example")

    asyncio.run(scenario())


def test_the_waiting_lines_of_a_tenants_calls_in_order() -> None:
    async def scenario() -> None:
        lines = WaitingLines(retry_seconds=60)
        before = datetime.now(UTC)
        await lines.join(7, "a", "normal", lambda: None)
        await lines.join(7, "b", " URGENT ", lambda: None)
        await lines.join(8, "other-tenant", "normal", lambda: None)
        waiting = lines.waiting({"a", "b"})
        assert list(waiting) == [7]
        assert [(w.call_id, w.priority) for w in waiting[7]] == [("b", "urgent"),
                                                                  ("a", "normal")]
        assert all(w.since >= before for w in waiting[7])
        await lines.close()

    asyncio.run(scenario())


def test_the_engine_counts_call_events_lot_events_and_contact_changes() -> None:
    async def scenario() -> None:
        engine = engine_with(FakeAri())
        ari = EndpointsAri([{"resource": "1001@acme.example", "state": "online"}])
        engine.registrations.ari = ari  # type: ignore[assignment]
        seen = engine.changes.after(-1, 0)
        engine.call_log.publish(CallEnded(call_id="c1", why="hung up", cause=16))
        assert engine.changes.after(seen, 0) == seen + 1
        await engine.ami._dispatch({"Event": "UnParkedCall", "ParkeeUniqueid": "x"})
        assert engine.changes.after(seen, 0) == seen + 2
        assert await engine.registrations.online("acme.example") == {"1001"}
        await engine.ami._dispatch({"Event": "ContactStatus", "AOR": "1001@acme.example",
                                    "ContactStatus": "Removed"})
        assert engine.changes.after(seen, 0) == seen + 3
        ari.endpoints[0]["state"] = "offline"
        assert await engine.registrations.online("acme.example") == set()  # read again

    asyncio.run(scenario())
