"""The gateway across a process boundary: what the API process calls is what the engine
answers, its refusals keep their reasons, and an engine that is gone is unavailable."""

from __future__ import annotations

import logging
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Client, Listener
from pathlib import Path

import pytest

from bridge import gateway_client
from bridge.api.engines_client import EnginesClient
from bridge.engine import gateway_server
from bridge.engine.gateway_server import GatewayServer
from bridge.gateway import (
    CallRefused,
    EngineNotReached,
    EngineStatus,
    EngineUnavailable,
    GatewayError,
    LegPlan,
    LiveCall,
    RingOutPlan,
    SipEndpoint,
    Target,
)
from bridge.gateway_client import GatewayClient
from bridge.gateway_link import (
    GATEWAY_CALLS,
    PREFIX,
    GatewayLink,
    GatewayLinks,
    published,
    remove_orphaned,
)
from bridge.signed_link import signed
from tests.api.conftest import RecordingProvisioner
from tests.unit.sample_call import CALL

PLAN = RingOutPlan("77", 1, LegPlan("PJSIP/3001", "3001", "+14155550123"),
                   LegPlan("PJSIP/+14155550123@carrier", "+14155550123", "3001"),
                   play_prompt=False, ring_time=30, prompt_timeout=10)
ENDPOINT = SipEndpoint("2001@acme.example", "2001", "secret", "Ann", "2001")


class RefusingEngine(RecordingProvisioner):
    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        raise CallRefused(CallRefused.NO_CALL, f"no call {call_id}")

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        raise RuntimeError("a bug in the engine")


@pytest.fixture
def link() -> Iterator[GatewayLink]:
    made = GatewayLinks.create()
    yield made.links[0]
    made.remove()


@pytest.fixture
def engine() -> RefusingEngine:
    return RefusingEngine(calls=[CALL])


@pytest.fixture
def server(engine: RefusingEngine, link: GatewayLink) -> Iterator[GatewayServer]:
    running = GatewayServer(engine, link)
    running.start()
    yield running
    running.close()


@pytest.fixture
def client(link: GatewayLink) -> Iterator[GatewayClient]:
    made = GatewayClient(link)
    yield made
    made.close()


def test_every_protocol_method_crosses_and_nothing_else() -> None:
    expected = {"status", "overview", "push", "remove", "start_ringout", "cancel_ringout",
                "live_calls", "park", "unpark", "pick_up", "hang_up", "delete_recordings",
                "changes", "panel"}
    assert expected == GATEWAY_CALLS


def test_calls_and_their_answers_cross_whole(server: GatewayServer, client: GatewayClient,
                                             engine: RefusingEngine) -> None:
    assert client.status() == EngineStatus(ari=True, ami=True)
    assert client.overview() == engine.overview()
    assert client.live_calls("acme.example") == [CALL]
    assert client.live_calls("other.example") == []
    client.push(ENDPOINT)
    assert engine.pushed == [ENDPOINT]


def test_a_change_reaches_a_waiting_api_process_at_once(
        server: GatewayServer, client: GatewayClient, engine: RefusingEngine) -> None:
    seen = client.changes(-1, 0)
    threading.Timer(0.05, engine.changed.note).start()
    started = time.monotonic()
    assert client.changes(seen, 10) == seen + 1
    assert time.monotonic() - started < 5  # woken by the change, not the end of the wait
    engine.registered = {"1001@acme.example"}
    view = client.panel("acme.example")
    assert (view.calls, view.registered) == ((CALL,), frozenset({"1001"}))


def test_a_refusal_keeps_its_reason(server: GatewayServer, client: GatewayClient) -> None:
    with pytest.raises(CallRefused) as refused:
        client.hang_up("acme.example", "c9", None)
    assert (refused.value.reason, refused.value.message) == (CallRefused.NO_CALL, "no call c9")


def test_an_engine_bug_is_a_gateway_error_and_the_link_lives_on(
        server: GatewayServer, client: GatewayClient, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(GatewayError, match="a bug in the engine"):
        client.unpark("acme.example", "c1", Target(0, "PJSIP/2001", "2001"), 10)
    assert "gateway call unpark failed" in caplog.text
    assert client.live_calls("acme.example") == [CALL]


def test_only_the_protocols_methods_are_called(server: GatewayServer,
                                               link: GatewayLink) -> None:
    with Client(link.address, family="AF_UNIX", authkey=link.key) as connection:
        signed_connection = signed(connection, link.key, link.address, calling=True)
        for method in ("__init__", "close", "_engine"):
            signed_connection.send((method, ()))
            succeeded, error = signed_connection.recv()
            assert not succeeded and isinstance(error, GatewayError)
            assert error.message == f"no gateway call {method!r}"


def test_a_peer_without_the_key_is_refused(server: GatewayServer, link: GatewayLink) -> None:
    stranger = GatewayClient(GatewayLink(link.address, b"not the key"))
    with pytest.raises(EngineUnavailable):
        stranger.live_calls("acme.example")


def test_no_engine_is_unavailable_but_not_ready_for_health(client: GatewayClient) -> None:
    with pytest.raises(EngineUnavailable, match="not running"):
        client.live_calls("acme.example")
    assert client.status() == EngineStatus(ari=False, ami=False)


def test_a_push_with_no_engine_is_left_to_its_next_connect(
        client: GatewayClient, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(EngineNotReached):
        client.push(ENDPOINT)
    with caplog.at_level(logging.WARNING):
        EnginesClient([client]).push(ENDPOINT)
    assert "endpoint 2001@acme.example" in caplog.text and "pushed when it is back" in caplog.text


def test_a_restarted_engine_is_reached_on_the_next_call(
        engine: RefusingEngine, link: GatewayLink, client: GatewayClient) -> None:
    first = GatewayServer(engine, link)
    first.start()
    assert client.live_calls("acme.example") == [CALL]  # its connection is kept idle
    first.close()
    with pytest.raises(EngineUnavailable):
        client.live_calls("acme.example")
    second = GatewayServer(engine, link)  # the same socket path, as after a restart
    second.start()
    try:
        assert client.live_calls("acme.example") == [CALL]
    finally:
        second.close()


class SlowEngine(RecordingProvisioner):
    def live_calls(self, domain: str) -> list[LiveCall]:
        if domain == "slow.example":
            time.sleep(0.5)
        return super().live_calls(domain)


def test_a_call_not_answered_in_time_is_unavailable_and_its_late_answer_never_read(
        link: GatewayLink) -> None:
    server = GatewayServer(SlowEngine(calls=[CALL]), link)
    server.start()
    client = GatewayClient(link, reply_timeout=0.1)
    try:
        with pytest.raises(EngineUnavailable) as late:
            client.live_calls("slow.example")
        assert not isinstance(late.value, EngineNotReached)  # it may have acted
        time.sleep(0.6)  # the slow answer has come by now, on the connection dropped
        assert client.live_calls("acme.example") == [CALL]
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("over_tcp", [False, True], ids=["unix", "tcp"])
def test_an_engine_that_stops_halfway_through_an_answer_is_unavailable(
        link: GatewayLink, over_tcp: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer is polled for, then read: an engine that sends its first bytes and no
    more (frozen mid-write) fails the call after HANDSHAKE_SECONDS, not never."""
    monkeypatch.setattr(gateway_client, "HANDSHAKE_SECONDS", 0.3)
    if over_tcp:
        link = GatewayLink(f"127.0.0.1:{free_tcp_port()}", link.key)
    listening = threading.Event()
    stalled = threading.Event()

    def engine_that_stalls() -> None:
        address = link.host_and_port() if over_tcp else link.address
        with Listener(address, authkey=link.key) as listener:
            listening.set()
            with listener.accept() as connection:
                signed(connection, link.key, link.address, calling=False).recv()
                os.write(connection.fileno(), struct.pack("!i", 100) + b"ten bytes.")
                stalled.wait(30)

    engine = threading.Thread(target=engine_that_stalls)
    engine.start()
    listening.wait(5)
    client = GatewayClient(link)
    try:
        with pytest.raises(EngineUnavailable):
            client.live_calls("acme.example")
        assert engine.is_alive()  # given up on by the client, not closed by the engine
    finally:
        stalled.set()
        engine.join(5)
        client.close()


def test_an_engine_not_running_was_never_reached(client: GatewayClient) -> None:
    with pytest.raises(EngineNotReached):
        client.start_ringout(PLAN)


def test_directories_of_a_serve_killed_with_9_are_removed_and_no_others(
        tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is free now
    dead = tmp_path / f"{PREFIX}{gone.pid}-abc"
    alive = tmp_path / f"{PREFIX}{os.getpid()}-def"
    other = tmp_path / "ringbridge-bench-xyz"
    for directory in (dead, alive, other):
        directory.mkdir()
    remove_orphaned(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_published_links_are_found_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "ringbridge-8887.link"
    assert published(path) is None
    links = GatewayLinks.create(engines=3)
    links.publish(path)
    assert published(path) == links
    assert [Path(link.address).name for link in links.links] == [
        "engine-1.sock", "engine-2.sock", "engine-3.sock"]
    assert len({link.key for link in links.links}) == 1
    assert path.stat().st_mode & 0o777 == 0o600
    other = GatewayLinks.create()
    other.unpublish(path)  # another serve's: left alone
    assert published(path) == links
    links.unpublish(path)
    assert not path.exists()
    other.remove()
    links.remove()


def test_a_link_published_by_a_serve_that_is_gone_is_none(tmp_path: Path) -> None:
    path = tmp_path / "ringbridge-8887.link"
    links = GatewayLinks.create()
    links.publish(path)
    record = path.read_text().replace(f'"pid": {os.getpid()}', '"pid": 999999999')
    path.write_text(record)
    assert published(path) is None
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a ringbridge link file"):
        published(path)
    links.remove()


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_link_names_a_unix_socket_or_another_nodes_host_and_port() -> None:
    assert not GatewayLink("/tmp/ringbridge-link-1/engine-1.sock", b"k").over_tcp
    assert GatewayLink("10.0.0.21:8890", b"k").host_and_port() == ("10.0.0.21", 8890)
    assert GatewayLink("[fd00::21]:8891", b"k").host_and_port() == ("fd00::21", 8891)


def test_another_cluster_nodes_engine_is_reached_over_tcp_with_the_key(
        engine: RefusingEngine) -> None:
    link = GatewayLink(f"127.0.0.1:{free_tcp_port()}", b"the cluster's key")
    server = GatewayServer(engine, link)
    server.start()
    client = GatewayClient(link)
    try:
        assert client.live_calls("acme.example") == [CALL]
        with pytest.raises(CallRefused):
            client.hang_up("acme.example", "c9", None)
        with pytest.raises(EngineUnavailable):
            GatewayClient(GatewayLink(link.address, b"not the key")).live_calls("acme.example")
    finally:
        client.close()
        server.close()
    with pytest.raises(EngineNotReached):
        GatewayClient(link).live_calls("acme.example")


def test_a_node_that_does_not_answer_is_not_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine gone drops the connection attempt: given up on after CONNECT_TIMEOUT,
    not after the minutes TCP would try (192.0.2.1 is a documentation address)."""
    monkeypatch.setattr(gateway_client, "CONNECT_TIMEOUT", 0.2)
    with pytest.raises(EngineNotReached):
        GatewayClient(GatewayLink("192.0.2.1:8890", b"k")).live_calls("acme.example")


def test_a_peer_that_connects_and_says_nothing_is_dropped(
        engine: RefusingEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ends of a link give up on a silent peer: the engine drops a connection that
    never answers its challenge; a client does not wait for ever on a node that accepted
    and then hung."""
    monkeypatch.setattr(gateway_server, "HANDSHAKE_SECONDS", 0.2)
    monkeypatch.setattr(gateway_client, "HANDSHAKE_SECONDS", 0.2)
    link = GatewayLink(f"127.0.0.1:{free_tcp_port()}", b"the cluster's key")
    server = GatewayServer(engine, link)
    server.start()
    try:
        with socket.create_connection(link.host_and_port(), timeout=5) as silent:
            silent.recv(1024)  # the challenge
            assert silent.recv(1024) == b""  # then closed by the engine
    finally:
        server.close()
    with socket.create_server(("127.0.0.1", 0)) as hung:
        address = f"127.0.0.1:{hung.getsockname()[1]}"
        with pytest.raises(EngineNotReached):
            GatewayClient(GatewayLink(address, b"k")).live_calls("acme.example")
