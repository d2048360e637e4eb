"""Leases on Asterisk nodes' apps (bridge/engine/lease.py), on the PostgreSQL test
database: the node's own engine takes a free lease, a standby takes one only once it
has seen it held (or after its grace), a holder killed with -9 loses it at once, and a
holder whose connection the database dropped takes it again, unless a standby took it
first (then it is told it lost it)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from bridge.engine import lease as lease_module
from bridge.engine.lease import EngineLease, lease_key, lease_name, session_name
from tests.support.polling import wait_until
from tests.support.postgres import postgres_url


@pytest.fixture
def url() -> str:
    return postgres_url("RINGBRIDGE_TEST_POSTGRES_URL")


@pytest.fixture
def name() -> str:
    return f"127.0.0.{secrets.randbelow(200) + 20}:8088 rb-{secrets.token_hex(4)}"


@pytest.fixture
def leases(url: str, name: str) -> Iterator[Callable[..., EngineLease]]:
    made: list[EngineLease] = []

    def make(node: str, *, standby: bool = False, on_lost: Callable[[], None] = lambda: None,
             still_running: Callable[[str], bool] = lambda address: False) -> EngineLease:
        made.append(EngineLease(url, name, node, standby=standby, on_lost=on_lost,
                                still_running=still_running))
        return made[-1]

    yield make
    for each in made:
        each.release()


class Taking(threading.Thread):
    """`lease.take` in a thread; `stopping` ends the wait."""

    def __init__(self, lease: EngineLease) -> None:
        super().__init__(daemon=True)
        self.lease = lease
        self.stopping = threading.Event()
        self.taken = threading.Event()
        self.start()

    def run(self) -> None:
        if self.lease.take(self.stopping):
            self.taken.set()

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


def seen_held(standby: Taking, holder: str) -> None:
    """Wait until the standby has seen the lease held by `holder`'s engine. Having its
    session named is not enough: a lease freed before its first look counts as never held,
    which it takes only after STANDBY_GRACE (a run on a slow machine did)."""
    wait_until(lambda: standby.lease.holder == holder, 5, "the standby saw the lease held")


def sessions(url: str, name: str) -> list[str]:
    """The application names of the sessions waiting for or holding lease `name`, by
    node: `rb <role> <key> <node> <lease>`."""
    engine = create_engine(url)
    with engine.connect() as connection:
        names = connection.execute(text(
            "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE :like"
            " ORDER BY split_part(application_name, ' ', 4)"),
            {"like": f"% {name}"}).scalars().all()
    engine.dispose()
    return list(names)


def terminate(url: str, application_name: str) -> None:
    """Drop a session on the database's side, as a restart or a network cut would."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = :name"), {"name": application_name})
    engine.dispose()


def test_names_and_keys_are_the_same_on_every_node() -> None:
    assert lease_name("http://127.0.0.12:8088/ari", "ringbridge-2") == \
        "127.0.0.12:8088 ringbridge-2"
    assert lease_name("http://pbx-2/ari", "ringbridge") == "pbx-2:80 ringbridge"
    assert lease_key("127.0.0.12:8088 ringbridge") == lease_key("127.0.0.12:8088 ringbridge")
    assert lease_key("127.0.0.12:8088 ringbridge") != lease_key("127.0.0.11:8088 ringbridge")


def test_the_own_engine_takes_it_and_a_standby_takes_it_when_it_is_given_up(
        url: str, name: str, leases: Callable[..., EngineLease]) -> None:
    own = leases("127.0.0.22")
    assert own.take(threading.Event())
    standby = Taking(leases("127.0.0.21", standby=True))
    wait_until(lambda: len(sessions(url, name)) == 2, 5, "the standby connected")
    assert sessions(url, name) == [session_name("waits", name, "127.0.0.21"),
                                   session_name("runs", name, "127.0.0.22")]
    assert not standby.taken.wait(1.0)
    assert standby.lease.holder == "127.0.0.22"  # where its API passes calls on to
    own.release()
    assert standby.taken.wait(5)
    assert sessions(url, name) == [session_name("runs", name, "127.0.0.21")]


def test_a_standby_takes_no_lease_never_held_until_its_grace(
        leases: Callable[..., EngineLease], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease_module, "STANDBY_GRACE", 1.5)
    standby = Taking(leases("127.0.0.21", standby=True))
    assert not standby.taken.wait(0.8)
    assert standby.taken.wait(5)


def hold_until_killed(url: str, name: str, held: multiprocessing.synchronize.Event) -> None:
    lease = EngineLease(url, name, "127.0.0.22", standby=False, on_lost=lambda: None)
    lease.take(threading.Event())
    held.set()
    threading.Event().wait(60)


def test_a_holder_killed_with_9_gives_it_up_at_once(
        url: str, name: str, leases: Callable[..., EngineLease]) -> None:
    context = multiprocessing.get_context("fork")
    held = context.Event()
    holder = context.Process(target=hold_until_killed, args=(url, name, held), daemon=True)
    holder.start()
    assert held.wait(10)
    standby = Taking(leases("127.0.0.21", standby=True))
    assert not standby.taken.wait(0.5)
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    assert standby.taken.wait(5)
    holder.join(5)


def test_a_holder_whose_connection_dropped_takes_it_again(
        url: str, name: str, leases: Callable[..., EngineLease]) -> None:
    lost = threading.Event()
    own = leases("127.0.0.22", on_lost=lost.set)
    assert own.take(threading.Event())
    terminate(url, session_name("runs", name, "127.0.0.22"))
    wait_until(lambda: sessions(url, name) == [session_name("runs", name, "127.0.0.22")], 10,
               "the lease taken again")
    assert not lost.is_set()


def test_a_holder_whose_lease_a_standby_took_meanwhile_is_told(
        url: str, name: str, leases: Callable[..., EngineLease]) -> None:
    lost = threading.Event()
    own = leases("127.0.0.22", on_lost=lost.set)
    assert own.take(threading.Event())
    standby = Taking(leases("127.0.0.21", standby=True))
    seen_held(standby, "127.0.0.22")
    terminate(url, session_name("runs", name, "127.0.0.22"))
    assert standby.taken.wait(5)
    assert lost.wait(5)


def test_a_standby_holding_it_gives_it_back_when_its_own_node_wants_it(
        url: str, name: str, leases: Callable[..., EngineLease]) -> None:
    standby = leases("127.0.0.21", standby=True)
    first = leases("127.0.0.22")
    assert first.take(threading.Event())
    taking = Taking(standby)
    seen_held(taking, "127.0.0.22")
    first.release()  # the own node's engine gone: the standby runs it
    assert taking.taken.wait(5)
    assert not standby.wanted_back.is_set()
    back = Taking(leases("127.0.0.22"))  # the own node started again
    assert standby.wanted_back.wait(5)
    assert not back.taken.is_set()
    standby.give_back()
    assert back.taken.wait(5)
    assert [session.split()[1] for session in sessions(url, name)] == ["waits", "runs"]


def test_a_lease_whose_holder_still_runs_is_not_taken(
        url: str, name: str, leases: Callable[..., EngineLease]) -> None:
    """The holder's connection to the database cut (a network split, not a death): its
    lease comes free, but the standby sees the holder's engine still running the app and
    leaves the lease alone, so the app never runs twice."""
    running = threading.Event()
    running.set()
    own = leases("127.0.0.22:8890")
    assert own.take(threading.Event())
    asked: list[str] = []

    def still_running(address: str) -> bool:
        asked.append(address)
        return running.is_set()

    standby = Taking(leases("127.0.0.21:8891", standby=True, still_running=still_running))
    seen_held(standby, "127.0.0.22:8890")
    own.release()  # as PostgreSQL sees a cut: the session gone, the lock free
    wait_until(lambda: asked, 5, "the standby asked whether the holder still runs")
    assert asked[0] == "127.0.0.22:8890" and not standby.taken.wait(0.5)
    running.clear()  # the holder's engine is gone too
    assert standby.taken.wait(5)


def test_a_standby_leaves_a_free_lease_to_its_own_node_wanting_it(
        url: str, name: str, leases: Callable[..., EngineLease]) -> None:
    first = leases("127.0.0.21:8891", standby=True)
    other = leases("127.0.0.23:8891", standby=True)
    holder = leases("127.0.0.22:8890")
    assert holder.take(threading.Event())
    standbys = [Taking(first), Taking(other)]
    wait_until(lambda: len(sessions(url, name)) == 3, 5, "both standbys connected")
    own = Taking(leases("127.0.0.22:8890"))  # its own node's engine, started again
    wait_until(lambda: len(sessions(url, name)) == 4, 5, "the own engine connected")
    holder.release()
    assert own.taken.wait(5)
    assert not any(taking.taken.is_set() for taking in standbys)
