"""Endpoint pushes and removals after the API's commit: retried until they work, replaced
by a newer one for the same endpoint, superseded by a resync (a fake ARI)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from sqlalchemy.exc import OperationalError

from bridge.asterisk.backoff import Backoff
from bridge.config import Settings
from bridge.engine.endpoints import EDGE_PROBE, SipEndpoint
from bridge.engine.engine import Engine
from bridge.engine.provisioning import SETTLE, Provisioning
from bridge.engine.pushed_mark import VARIABLE, fingerprint
from bridge.engine.runner import EngineThread
from bridge.flows.hunt_redirects import NoRedirects
from tests.unit.async_support import eventually, run
from tests.unit.fake_config_ari import FOREVER, REFUSAL, FakeConfigAri

ENDPOINT = SipEndpoint(endpoint_id="1001@abc.example", username="1001", password="secret",
                       caller_name="John", number="1001")
LOGGER = "bridge.engine.provisioning"


def directory(count: int) -> list[SipEndpoint]:
    """`count` extensions of ENDPOINT's tenant, numbered from 1001."""
    return [replace(ENDPOINT, endpoint_id=f"{n}@abc.example", number=str(n))
            for n in range(1001, 1001 + count)]


async def pushed_before(jobs: Provisioning, extensions: list[SipEndpoint]) -> None:
    """The extensions pushed to Asterisk by the engine before (it keeps them)."""
    for endpoint in extensions:
        await jobs.push(endpoint)


def provisioning(ari: FakeConfigAri, delay: float = 0.01, settle: float = SETTLE,
                 keeps_mark: bool = True) -> Provisioning:
    return Provisioning(ari,  # type: ignore[arg-type]
                        backoff=lambda: Backoff(delay, delay, jitter=0),
                        keeps_mark=keeps_mark, settle=settle)


def test_a_refused_push_is_retried_until_it_works(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.refuse[ENDPOINT.endpoint_id] = 2
        jobs = provisioning(ari)
        await jobs.push(ENDPOINT)  # returns after the first attempt
        assert ari.endpoints() == [] and jobs.pending == [ENDPOINT.endpoint_id]
        await eventually(lambda: not jobs.pending)
        assert ari.endpoints() == [ENDPOINT.endpoint_id]

    with caplog.at_level(logging.INFO, logger=LOGGER):
        run(scenario())
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 3
    assert all("1001@abc.example: push failed" in m and REFUSAL in m for m in messages[:2])
    assert messages[2] == "endpoint 1001@abc.example: push done at attempt 3"


def test_a_destroyed_extension_does_not_stay_because_one_delete_failed() -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await jobs.push(ENDPOINT)
        ari.refuse[ENDPOINT.endpoint_id] = 1
        await jobs.remove(ENDPOINT.endpoint_id)
        assert ari.endpoints() == [ENDPOINT.endpoint_id]
        await eventually(lambda: not jobs.pending)
        assert ari.objects == {}

    run(scenario())


def test_a_newer_change_of_the_same_endpoint_replaces_a_retrying_one() -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.refuse[ENDPOINT.endpoint_id] = 1
        jobs = provisioning(ari, delay=0.2)
        await jobs.push(ENDPOINT)  # refused; would retry in 0.2 s
        await jobs.remove(ENDPOINT.endpoint_id)
        await eventually(lambda: not jobs.pending)
        await asyncio.sleep(0.3)
        assert ari.objects == {}
        assert [method for method, _, _ in ari.requests] == ["PUT", *["DELETE"] * 3]

    run(scenario())


def test_a_resync_supersedes_retrying_jobs() -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.refuse[ENDPOINT.endpoint_id] = FOREVER
        jobs = provisioning(ari, delay=0.05)
        await jobs.push(ENDPOINT)
        assert jobs.pending == [ENDPOINT.endpoint_id]
        ari.refuse.clear()
        await jobs.resync(lambda: [ENDPOINT])
        assert jobs.pending == []
        assert ari.endpoints() == [ENDPOINT.endpoint_id]

    run(scenario())


def test_a_refresh_pushes_and_removes_only_what_changed_elsewhere() -> None:
    """A cluster node follows the extensions another node's API changed: the new and
    the changed are pushed, the gone removed, and what it already asked for is left."""
    renamed = replace(ENDPOINT, caller_name="John Smith")
    other = SipEndpoint(endpoint_id="1002@abc.example", username="1002", password="s2",
                        caller_name="Ann", number="1002")
    kept = SipEndpoint(endpoint_id="1003@abc.example", username="1003", password="s3",
                       caller_name="Bo", number="1003")

    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await jobs.resync(lambda: [ENDPOINT, kept])
        await jobs.push(other)  # through this node's own API
        ari.requests.clear()
        assert await jobs.refresh(lambda: [renamed, kept])
        assert ari.endpoints() == ["1001@abc.example", "1003@abc.example"]
        assert ari.objects["endpoint", "1001@abc.example"]["callerid"] == '"John Smith" <1001>'
        assert {object_id for _, _, object_id in ari.requests} == {"1001@abc.example",
                                                                   "1002@abc.example"}
        ari.requests.clear()
        assert await jobs.refresh(lambda: [renamed, kept])
        assert ari.requests == []

    run(scenario())


def test_a_refresh_refused_by_asterisk_says_so_and_the_next_one_pushes_it() -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await jobs.resync(list)
        ari.refuse[ENDPOINT.endpoint_id] = 1
        assert not await jobs.refresh(lambda: [ENDPOINT])
        assert ari.endpoints() == []
        assert await jobs.refresh(lambda: [ENDPOINT])
        assert ari.endpoints() == [ENDPOINT.endpoint_id]

    run(scenario())


def test_a_refresh_supersedes_a_job_still_retrying_an_older_change() -> None:
    """An API push of an older state, refused and waiting to retry, must not undo the
    refresh's newer one when it retries."""
    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.refuse[ENDPOINT.endpoint_id] = 1
        jobs = provisioning(ari, delay=0.2)
        await jobs.push(ENDPOINT)  # refused; would retry in 0.2 s
        renamed = replace(ENDPOINT, caller_name="John Smith")
        assert await jobs.refresh(lambda: [renamed])
        await asyncio.sleep(0.3)
        assert jobs.pending == []
        assert ari.objects["endpoint", ENDPOINT.endpoint_id]["callerid"] == '"John Smith" <1001>'

    run(scenario())


def test_an_extension_pushed_while_a_refresh_reads_is_not_removed_by_it() -> None:
    """The API pushes an extension just committed while a refresh reads the database as
    it was before that commit: the refresh must not take it for one removed elsewhere.
    (It did, in the cluster: the endpoint was gone for a second, and a phone registering
    then got 401.)"""
    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await jobs.resync(list)
        reading, read_on = threading.Event(), threading.Event()

        def before_the_commit() -> list[SipEndpoint]:
            reading.set()
            read_on.wait(5)
            return []

        refresh = asyncio.create_task(jobs.refresh(before_the_commit))
        await asyncio.to_thread(reading.wait, 5)
        push = asyncio.create_task(jobs.push(ENDPOINT))
        await asyncio.sleep(0.05)
        read_on.set()
        assert await refresh
        await push
        await settled(jobs)
        assert ari.endpoints() == [ENDPOINT.endpoint_id]
        assert {method for method, _, _ in ari.requests} == {"PUT"}  # never removed

    run(scenario())


def test_with_ari_down_nothing_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.connected = False
        jobs = provisioning(ari)
        await jobs.push(ENDPOINT)
        assert jobs.pending == [] and ari.requests == []

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        run(scenario())
    assert "left to the resync on reconnect" in caplog.records[-1].getMessage()


def test_a_connection_lost_between_attempts_ends_the_retries() -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.refuse[ENDPOINT.endpoint_id] = FOREVER
        jobs = provisioning(ari, delay=0.05)
        await jobs.push(ENDPOINT)
        ari.connected = False
        await eventually(lambda: not jobs.pending)
        assert len(ari.requests) == 1

    run(scenario())


@pytest.fixture
def engine_thread() -> Iterator[tuple[EngineThread, FakeConfigAri]]:
    """The engine's thread with a loop that runs no ARI or AMI connection."""
    engine = Engine(Settings(ari_password="x", ami_secret="y"), lambda: [],
                    NoRedirects())  # type: ignore[arg-type]
    ari = FakeConfigAri()
    engine.provisioning = provisioning(ari, delay=0.05)

    async def idle() -> None:
        await asyncio.Event().wait()

    engine.run = idle  # type: ignore[method-assign]
    thread = EngineThread(engine)
    thread.start()
    yield thread, ari
    thread.stop()


def test_the_api_thread_waits_for_the_first_attempt_only(
    engine_thread: tuple[EngineThread, FakeConfigAri],
) -> None:
    thread, ari = engine_thread
    thread.push(ENDPOINT)
    assert ari.endpoints() == [ENDPOINT.endpoint_id]
    ari.refuse[ENDPOINT.endpoint_id] = 2
    thread.remove(ENDPOINT.endpoint_id)
    assert len(ari.requests) == 4 and ari.endpoints() == [ENDPOINT.endpoint_id]
    thread.submit(settled(thread.engine.provisioning)).result(timeout=3)
    assert ari.objects == {}


async def settled(jobs: Provisioning) -> None:
    await eventually(lambda: not jobs.pending, timeout=3)


def test_a_push_refused_by_the_resync_is_left_to_the_next_refresh() -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.refuse[ENDPOINT.endpoint_id] = 1
        jobs = provisioning(ari)
        await jobs.resync(lambda: [ENDPOINT])
        assert ari.endpoints() == []
        assert await jobs.refresh(lambda: [ENDPOINT])
        assert ari.endpoints() == [ENDPOINT.endpoint_id]

    run(scenario())


def edge_engine(ari: FakeConfigAri, extensions: list[SipEndpoint]) -> Engine:
    """Engine 1 of a cluster node on a fake ARI (no connection runs)."""
    engine = Engine(Settings(ari_password="x", ami_secret="y", sip_edge="127.0.0.10:5060"),
                    lambda: extensions, NoRedirects(),  # type: ignore[arg-type]
                    directory_generation=lambda: 1)
    engine.ari = ari  # type: ignore[assignment]
    engine.provisioning = Provisioning(ari, edge="127.0.0.10:5060")  # type: ignore[arg-type]
    return engine


def test_a_cluster_node_opens_to_the_edge_only_once_every_extension_is_pushed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bridge.engine.engine.EDGE_DRAIN", 0.01)

    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.refuse[ENDPOINT.endpoint_id] = 1
        engine = edge_engine(ari, [ENDPOINT])
        await engine.provisioning.resync(engine.extension_endpoints)
        await engine._refresh_endpoints()  # the refused push done now; then opened
        assert ari.endpoints() == [ENDPOINT.endpoint_id, EDGE_PROBE]
        assert not engine._endpoints_behind
        await engine.leave_edge()  # stopping cleanly
        assert ari.endpoints() == [ENDPOINT.endpoint_id]

    run(scenario())


def slow_yes() -> bool:
    """The database answering after SUCCESSOR_WAIT (0.5 s)."""
    time.sleep(2)
    return True


@pytest.mark.parametrize(("waiting", "open_after"), [
    (lambda: True, True),  # another node's engine takes over: the node stays in use
    (lambda: False, False),  # nobody does: closed, and drained
    (slow_yes, False),  # no answer in time: left, as alone
])
def test_a_cluster_node_stopping_stays_open_only_for_another_node_taking_over(
        monkeypatch: pytest.MonkeyPatch, waiting: Callable[[], bool], open_after: bool
) -> None:
    monkeypatch.setattr("bridge.engine.engine.EDGE_DRAIN", 0.01)

    async def scenario() -> None:
        ari = FakeConfigAri()
        engine = edge_engine(ari, [ENDPOINT])
        engine.successor_waiting = waiting
        await engine._refresh_endpoints()
        assert EDGE_PROBE in ari.endpoints()
        await engine.leave_edge()
        assert (EDGE_PROBE in ari.endpoints()) == open_after
        await engine._refresh_endpoints()  # the follower opens it no more either way
        assert (EDGE_PROBE in ari.endpoints()) == open_after

    run(scenario())


def test_a_cluster_node_stays_closed_to_the_edge_while_a_push_is_refused() -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        ari.refuse[ENDPOINT.endpoint_id] = FOREVER
        engine = edge_engine(ari, [ENDPOINT])
        await engine._refresh_endpoints()
        assert EDGE_PROBE not in ari.endpoints() and engine._endpoints_behind

    run(scenario())


def test_a_cluster_node_whose_asterisk_shuts_down_is_closed_to_the_edge_until_it_is_back(
) -> None:
    """A shutting-down Asterisk answers the edge's probes but no new call: closed at its
    Shutdown event, opened again once AMI is back (its Asterisk started again)."""
    async def scenario() -> None:
        ari = FakeConfigAri()
        engine = edge_engine(ari, [ENDPOINT])
        await engine._refresh_endpoints()
        assert EDGE_PROBE in ari.endpoints()
        engine._asterisk_shutting_down({"Event": "Shutdown", "Shutdown": "Cleanly"})
        assert engine._closing is not None
        await engine._closing
        await engine._refresh_endpoints()
        assert EDGE_PROBE not in ari.endpoints()
        engine._asterisk_stopping = False  # AMI connected again
        await engine._refresh_endpoints()
        assert EDGE_PROBE in ari.endpoints()

    run(scenario())


def test_a_resync_pushes_what_asterisk_lacks_before_it_returns_and_the_rest_after(
        caplog: pytest.LogCaptureFixture) -> None:
    """Asterisk outlived the engine that pushed its extensions (ringbridge restarted, a
    standby took the node over): calls wait only for the missing ones; those it had are
    pushed again just after, so that a change made meanwhile reaches it."""
    renamed = replace(ENDPOINT, caller_name="John Smith")
    missing = SipEndpoint(endpoint_id="1002@abc.example", username="1002", password="s2",
                          caller_name="Ann", number="1002")

    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await jobs.push(ENDPOINT)  # by the engine before
        ari.requests.clear()
        await jobs.resync(lambda: [renamed, missing])
        assert {object_id for _, _, object_id in ari.requests} == {"1002@abc.example"}
        assert ari.objects["endpoint", ENDPOINT.endpoint_id]["callerid"] == '"John" <1001>'
        jobs.push_again(lambda: [renamed, missing])  # once the calls are taken over
        await eventually(lambda: ari.objects["endpoint", ENDPOINT.endpoint_id]["callerid"]
                         == '"John Smith" <1001>')
        ari.requests.clear()
        assert await jobs.refresh(lambda: [renamed, missing])  # nothing left to push
        assert ari.requests == []

    with caplog.at_level(logging.INFO, logger=LOGGER):
        run(scenario())
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        "extension endpoints Asterisk already had: 1 of 1 pushed again"]


def test_an_extension_asterisk_refuses_leaves_no_part_of_it_after_the_push_again() -> None:
    """The resync takes back what it made of an extension whose endpoint Asterisk
    refuses; the push again that follows (it pushes what was not taken) must too."""
    refused = replace(ENDPOINT, endpoint_id="1002@abc.example", number="1002")

    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await jobs.push(ENDPOINT)  # by the engine before: the push again will run
        ari.invalid.add(("endpoint", refused.endpoint_id))
        await jobs.resync(lambda: [ENDPOINT, refused])
        jobs.push_again(lambda: [ENDPOINT, refused])
        await push_again_ended(jobs)
        assert sorted(ari.objects) == [(kind, ENDPOINT.endpoint_id)
                                       for kind in ("aor", "auth", "endpoint")]

    run(scenario())


def test_a_push_again_cut_short_by_ari_lost_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    extensions = directory(10)

    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await pushed_before(jobs, extensions)
        ari.connected = False
        await jobs.resync(lambda: extensions)  # Asterisk's list read just before the loss
        jobs.push_again(lambda: extensions)
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.INFO):
        run(scenario())
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []
    assert caplog.records[-1].getMessage() == (
        "extension endpoints Asterisk already had: 0 of 10 pushed again (ARI lost)")


def test_a_new_resync_supersedes_the_push_again_of_the_one_before() -> None:
    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await jobs.push(ENDPOINT)
        ari.requests.clear()
        await jobs.resync(lambda: [ENDPOINT])
        jobs.push_again(lambda: [ENDPOINT])
        await jobs.resync(lambda: [ENDPOINT])  # ARI connected again at once
        jobs.push_again(lambda: [ENDPOINT])
        await asyncio.sleep(0.05)
        assert len(ari.requests) == 3  # the extension's auth, aor and endpoint, once

    run(scenario())


def test_a_standby_taking_a_node_over_opens_it_once_what_it_had_is_pushed_again(
        caplog: pytest.LogCaptureFixture) -> None:
    """The follower's first refresh after the connect comes after the push again: it
    neither takes those extensions for changes made elsewhere nor opens the node to the
    edge before they are pushed."""
    async def scenario() -> None:
        ari = FakeConfigAri()
        engine = edge_engine(ari, [ENDPOINT])
        await endpoints_push(ari)
        await engine.provisioning.resync(engine.extension_endpoints)
        engine.provisioning.push_again(engine.extension_endpoints)
        assert EDGE_PROBE not in ari.endpoints()
        await engine._refresh_endpoints()
        assert EDGE_PROBE in ari.endpoints() and not engine._endpoints_behind
        assert [kind for _, kind, _ in ari.requests] == ["aor", "endpoint"] * 2 + ["endpoint"]

    with caplog.at_level(logging.INFO, logger=LOGGER):
        run(scenario())
    assert not any("elsewhere" in r.getMessage() for r in caplog.records)


async def endpoints_push(ari: FakeConfigAri) -> None:
    """ENDPOINT pushed to a cluster node's Asterisk by the engine before."""
    await Provisioning(ari, edge="127.0.0.10:5060").push(ENDPOINT)  # type: ignore[arg-type]


def test_a_push_again_with_the_database_away_says_so_in_one_line(
        caplog: pytest.LogCaptureFixture) -> None:
    reads = iter([[ENDPOINT]])

    def read() -> list[SipEndpoint]:
        for extensions in reads:
            return extensions
        raise OperationalError("SELECT", {}, ConnectionError("database away"))

    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await jobs.push(ENDPOINT)
        await jobs.resync(read)
        jobs.push_again(read)
        await asyncio.sleep(0.05)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        run(scenario())
    assert [r.getMessage() for r in caplog.records] == [
        "extensions Asterisk already had not pushed again ((builtins.ConnectionError) "
        "database away)"]


class SlowConfigAri(FakeConfigAri):
    """Asterisk taking 5 ms per request, so that the API acts while a pass pushes."""

    async def request(self, method: str, path: str, *, params: object = None,
                      json: object = None) -> object:
        await asyncio.sleep(0.005)
        return await super().request(method, path, params=params, json=json)


async def push_again_begun(ari: SlowConfigAri, extensions: list[SipEndpoint]
                           ) -> Provisioning:
    """The extensions pushed by the engine before, a resync (Asterisk has them all), then
    the push again under way: some of its requests made."""
    jobs = provisioning(ari)
    await pushed_before(jobs, extensions)
    await jobs.resync(lambda: extensions)
    jobs.push_again(lambda: extensions)
    await eventually(lambda: len(ari.requests) > 3 * len(extensions) + 3)
    return jobs


async def push_again_ended(jobs: Provisioning) -> None:
    if jobs._again is not None:
        await jobs._again


def test_a_change_the_api_makes_during_a_push_again_is_not_undone_by_it(
        caplog: pytest.LogCaptureFixture) -> None:
    """The pass read the database before the API changed one extension and deleted
    another. The pass must leave both to their jobs, whether these still wait or are
    done: it used to cancel them and push the state it had read (the old password kept
    working, the deleted extension came back). Its summary says why two are not pushed."""
    extensions = directory(20)
    changed = replace(extensions[-1], password="new-secret")
    deleted = extensions[-2].endpoint_id

    async def scenario() -> None:
        ari = SlowConfigAri()
        jobs = await push_again_begun(ari, extensions)  # it read before the API's changes
        api = [asyncio.create_task(jobs.push(changed)), asyncio.create_task(jobs.remove(deleted))]
        await asyncio.gather(*api)
        await eventually(lambda: not jobs.pending, timeout=5)
        await push_again_ended(jobs)  # the API's jobs ended first: the pass goes on
        assert ari.objects["auth", changed.endpoint_id]["password"] == "new-secret"
        assert deleted not in ari.endpoints()

    with caplog.at_level(logging.INFO, logger="bridge.engine.provisioning"):
        run(scenario())
    assert caplog.records[-1].getMessage() == (
        "extension endpoints Asterisk already had: 18 of 20 pushed again, 2 left to the "
        "API's newer changes")


def test_a_resync_stops_a_push_again_rather_than_waiting_for_it() -> None:
    """ARI connected again while a pass pushes a large directory: the new resync (which
    holds the calls up) stops the pass at once instead of waiting for its end."""
    extensions = directory(40)

    async def scenario() -> None:
        ari = SlowConfigAri()
        jobs = await push_again_begun(ari, extensions)
        pushed_first = 3 * len(extensions)  # by the engine before
        await jobs.resync(lambda: extensions)
        assert len(ari.requests) < pushed_first + 3 * len(extensions)  # the pass cut short

    run(scenario())


async def refresh_begun(ari: FakeConfigAri, extensions: list[SipEndpoint]
                        ) -> tuple[Provisioning, asyncio.Task[bool]]:
    """A refresh pushing `extensions`, none of them in Asterisk yet, past its first."""
    jobs = provisioning(ari)
    await jobs.resync(list)
    refresh = asyncio.create_task(jobs.refresh(lambda: extensions))
    await eventually(lambda: len(ari.requests) > 3)
    return jobs, refresh


def test_a_refresh_that_left_an_endpoint_to_the_api_says_it_is_not_complete() -> None:
    """The follower opens a cluster node to the edge only once a refresh is complete: one
    that left an extension to the API's job (still waiting, or failing and retrying)
    is not."""
    extensions = directory(20)
    changed = replace(extensions[-1], password="new-secret")

    async def scenario() -> None:
        ari = SlowConfigAri()
        jobs, refresh = await refresh_begun(ari, extensions)
        await asyncio.gather(refresh, jobs.push(changed))
        assert not refresh.result()
        assert await jobs.refresh(lambda: [*extensions[:-1], changed])
        assert ari.objects["auth", changed.endpoint_id]["password"] == "new-secret"

    run(scenario())


def test_the_api_does_not_wait_for_a_push_again_to_end() -> None:
    """A pass over a large directory takes the turn one endpoint at a time: the API's
    change is pushed while the pass goes on (it used to wait for its end, past the API's
    5 s from some 4,000 extensions on)."""
    extensions = directory(40)
    changed = replace(extensions[0], password="new-secret")

    async def scenario() -> None:
        ari = SlowConfigAri()
        jobs = await push_again_begun(ari, extensions)
        await jobs.push(changed)
        assert ari.objects["auth", changed.endpoint_id]["password"] == "new-secret"
        assert jobs._again is not None and not jobs._again.done()
        await push_again_ended(jobs)
        assert ari.objects["auth", changed.endpoint_id]["password"] == "new-secret"

    run(scenario())


def test_a_refresh_stops_once_a_resync_came_between_two_of_its_steps() -> None:
    """ARI connected again while a refresh pushed: the resync read the database after
    the refresh did, so the refresh must not push its older read afterwards."""
    extensions = directory(20)
    changed = replace(extensions[-1], password="new-secret")

    async def scenario() -> None:
        ari = SlowConfigAri()
        jobs, refresh = await refresh_begun(ari, extensions)
        await jobs.resync(lambda: [*extensions[:-1], changed])
        assert not await refresh
        assert ari.objects["auth", changed.endpoint_id]["password"] == "new-secret"

    run(scenario())


def test_a_removal_asked_for_just_before_a_refresh_read_is_done_once_and_it_goes_on(
) -> None:
    """The API's removal started before the refresh read, but ran its step after it:
    the refresh, which had the extension to remove too, finds it gone and carries on
    (it used to raise KeyError)."""
    extensions = directory(3)
    removed = extensions[0].endpoint_id

    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs = provisioning(ari)
        await pushed_before(jobs, extensions)
        removal = asyncio.create_task(jobs.remove(removed))
        await asyncio.sleep(0)  # its job is started, not yet run
        assert await jobs.refresh(lambda: extensions[1:])
        await removal
        assert ari.endpoints() == [e.endpoint_id for e in extensions[1:]]

    run(scenario())


def test_a_refresh_and_the_next_push_again_take_turns_as_a_whole() -> None:
    """A resync cancels the push again a refresh waits for, then starts another: the
    refresh and the new push again must not run side by side (both removed an extension
    deleted elsewhere, and an older read could win), so they run one after the other."""
    extensions = directory(20)
    deleted = extensions[0]

    async def scenario() -> None:
        ari = SlowConfigAri()
        jobs = await push_again_begun(ari, extensions)
        refresh = asyncio.create_task(jobs.refresh(lambda: extensions[1:]))
        del ari.objects["endpoint", deleted.endpoint_id]  # Asterisk lacks it: pushed
        await jobs.resync(lambda: extensions)  # read just before another node deletes it
        jobs.push_again(lambda: extensions[1:])
        await refresh
        await push_again_ended(jobs)
        deletes = [r for r in ari.requests if r[0] == "DELETE"]
        assert deletes == [("DELETE", kind, deleted.endpoint_id)
                           for kind in ("endpoint", "aor", "auth")]

    run(scenario())


async def noted(ari: FakeConfigAri, extensions: list[SipEndpoint]) -> None:
    """Asterisk has the fingerprint of `extensions` (PushedMark)."""
    await eventually(lambda: ari.globals.get(VARIABLE) == fingerprint(extensions))


async def pushed_and_noted(ari: FakeConfigAri, extensions: list[SipEndpoint]
                           ) -> tuple[Provisioning, list[SipEndpoint]]:
    """A ringbridge that found Asterisk empty pushed `extensions`, then noted them; it,
    and its database (a list the test changes as the API would)."""
    database = list(extensions)
    jobs = provisioning(ari, settle=0)
    await jobs.resync(lambda: list(database))
    await noted(ari, database)
    return jobs, database


def test_a_restart_finding_the_fingerprint_of_the_database_pushes_nothing_again(
        caplog: pytest.LogCaptureFixture) -> None:
    """Ringbridge restarted, nothing changed: Asterisk has every extension as the
    database would push it, so the push again (15,000 requests for 5,000 extensions,
    an Asterisk WARNING each) is left out."""
    extensions = directory(5)

    async def scenario() -> None:
        ari = FakeConfigAri()
        await pushed_and_noted(ari, extensions)
        ari.requests.clear()
        jobs = provisioning(ari, settle=0)  # ringbridge started again
        await jobs.resync(lambda: extensions)
        jobs.push_again(lambda: extensions)
        await asyncio.sleep(0.05)
        assert ari.requests == []
        assert ari.global_writes == [(VARIABLE, fingerprint(extensions))]  # noted once
        assert await jobs.refresh(lambda: extensions)  # nothing left to push
        assert ari.requests == []

    with caplog.at_level(logging.INFO, logger=LOGGER):
        run(scenario())
    assert caplog.records[-1].getMessage() == (
        "extension endpoints Asterisk already had: 5, as pushed before (its fingerprint "
        "is the database's); none pushed again")


def test_a_change_made_while_no_engine_ran_is_pushed_again_and_noted_after() -> None:
    extensions = directory(5)
    renamed = [replace(extensions[0], caller_name="Renamed"), *extensions[1:]]

    async def scenario() -> None:
        ari = FakeConfigAri()
        await pushed_and_noted(ari, extensions)
        jobs = provisioning(ari, settle=0)
        await jobs.resync(lambda: renamed)
        assert VARIABLE not in ari.globals  # not what Asterisk has any more
        jobs.push_again(lambda: renamed)
        await noted(ari, renamed)
        assert ari.objects["endpoint", extensions[0].endpoint_id]["callerid"] == (
            '"Renamed" <1001>')

    run(scenario())


class NotingConfigAri(FakeConfigAri):
    """Says, for each PUT and DELETE, whether Asterisk had a fingerprint then."""

    def __init__(self) -> None:
        super().__init__()
        self.noted_at_change: list[bool] = []

    async def request(self, method: str, path: str, *, params: object = None,
                      json: object = None) -> object:
        self.noted_at_change.append(VARIABLE in self.globals)
        return await super().request(method, path, params=params, json=json)


def test_a_change_clears_the_fingerprint_before_asterisk_has_it() -> None:
    """The API changed an extension, then changed it back while ringbridge was down: the
    fingerprint noted before the first change must not make the next start keep the
    first change (Asterisk has it, the database no longer)."""
    extensions = directory(3)
    changed = replace(extensions[0], password="changed")

    async def scenario() -> None:
        ari = NotingConfigAri()
        jobs, _ = await pushed_and_noted(ari, extensions)
        ari.noted_at_change.clear()
        await jobs.push(changed)
        assert ari.noted_at_change == [False, False, False]
        jobs.close()  # ringbridge down before the change back reached Asterisk
        restarted = provisioning(ari, settle=0)
        await restarted.resync(lambda: extensions)
        restarted.push_again(lambda: extensions)
        await noted(ari, extensions)
        assert ari.objects["auth", changed.endpoint_id]["password"] == "secret"

    run(scenario())


def test_a_job_still_retrying_holds_the_fingerprint_back() -> None:
    extensions = directory(2)
    changed = replace(extensions[1], caller_name="Changed")

    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs, database = await pushed_and_noted(ari, extensions)
        ari.refuse[changed.endpoint_id] = FOREVER
        database[1] = changed  # the API's change, committed, then pushed
        await jobs.push(changed)
        await jobs.push(extensions[0])  # another change, made: it settles
        await asyncio.sleep(0.05)  # the first retried every 10 ms meanwhile
        assert VARIABLE not in ari.globals
        ari.refuse[changed.endpoint_id] = 0
        await noted(ari, database)

    run(scenario())


def test_with_several_engines_a_fingerprint_left_is_cleared_and_none_noted() -> None:
    """Engines sharing one Asterisk each push every change: one noting what it pushed
    could note a state another engine is changing."""
    extensions = directory(3)

    async def scenario() -> None:
        ari = FakeConfigAri()
        await pushed_and_noted(ari, extensions)  # by ringbridge run with one engine
        ari.requests.clear()
        jobs = provisioning(ari, settle=0, keeps_mark=False)
        await jobs.resync(lambda: extensions)
        assert VARIABLE not in ari.globals
        jobs.push_again(lambda: extensions)
        await push_again_ended(jobs)
        await asyncio.sleep(0.05)
        assert len(ari.requests) == 3 * len(extensions)
        assert VARIABLE not in ari.globals

    run(scenario())


def test_every_change_clears_the_fingerprint_before_asterisk_has_it() -> None:
    """A removal through the API, then a cluster's refresh pushing and removing what
    another node changed: each finds no fingerprint in Asterisk."""
    extensions = directory(4)

    async def scenario() -> None:
        ari = NotingConfigAri()
        jobs, database = await pushed_and_noted(ari, extensions)
        ari.noted_at_change.clear()
        database.pop()
        await jobs.remove(extensions[-1].endpoint_id)
        await noted(ari, database)
        database[0] = replace(extensions[0], caller_name="Changed Elsewhere")
        database.pop()  # removed elsewhere
        assert await jobs.refresh(lambda: list(database))
        await noted(ari, database)
        assert len(ari.noted_at_change) == 3 + 3 + 3  # two removals, one push
        assert not any(ari.noted_at_change)

    run(scenario())


def test_a_change_cut_short_is_made_again_by_the_next_pass_before_it_is_noted() -> None:
    """The API changed an extension (refused, retried); the refresh for another node's
    change of it superseded that job and was refused too; then it was changed back. The
    engine had asked for the API's version, Asterisk still had the first: the next
    refresh must push it, not take it as made (and note it)."""
    extensions = directory(2)
    endpoint_id = extensions[0].endpoint_id
    mine, elsewhere = (replace(extensions[0], caller_name=name) for name in ("Mine", "Other"))

    async def scenario() -> None:
        ari = FakeConfigAri()
        jobs, database = await pushed_and_noted(ari, extensions)
        ari.refuse[endpoint_id] = FOREVER
        database[0] = mine
        await jobs.push(mine)
        database[0] = elsewhere
        assert not await jobs.refresh(lambda: list(database))
        ari.refuse[endpoint_id] = 0
        database[0] = mine
        assert await jobs.refresh(lambda: list(database))
        assert ari.objects["endpoint", endpoint_id]["callerid"] == '"Mine" <1001>'
        await noted(ari, database)

    run(scenario())
