"""A gateway link's messages are signed: whoever writes into a connection between two
ends that hold the key (a cluster's network path) gets nothing unpickled."""

from __future__ import annotations

import logging
import os
import pickle
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection

import pytest

from bridge.engine.gateway_server import GatewayServer
from bridge.gateway_link import GatewayLinks
from bridge.signed_link import MAC_BYTES, SignedConnection, signed
from tests.api.conftest import RecordingProvisioner
from tests.unit.sample_call import CALL

KEY = b"the cluster's key"
ADDRESS = "10.0.0.21:8890"
UNPICKLED: list[str] = []  # what a forged message's pickle ran


def _ran(marker: str) -> str:
    UNPICKLED.append(marker)
    return marker


class Forged:
    """Runs `_ran` when unpickled, as a pickle crafted to run code would."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return _ran, ("forged",)


@dataclass
class Relayed:
    """Two signed ends and, between them, the network path (the test): what one end
    sends is read from the path with `sent_by_calling`, and reaches the other end only
    if the test passes it on with `to_answering`."""

    calling: SignedConnection
    answering: SignedConnection
    near: Connection  # the path's end towards the calling end
    far: Connection  # and towards the answering end

    def sent_by_calling(self) -> bytes:
        return self.near.recv_bytes()

    def to_answering(self, raw: bytes) -> None:
        self.far.send_bytes(raw)

    def relay_to_calling(self) -> None:
        self.near.send_bytes(self.far.recv_bytes())


def relayed(key: bytes = KEY, dialled: str = ADDRESS, answering_at: str = ADDRESS
            ) -> Relayed:
    """The calling end dialled `dialled`; the answering end listens at `answering_at`
    (another engine, when the path steered the connection there)."""
    calling_raw, near = _pair()
    far, answering_raw = _pair()
    ends: dict[str, SignedConnection] = {}
    threads = [threading.Thread(target=lambda: ends.update(calling=signed(
                   calling_raw, key, dialled, calling=True))),
               threading.Thread(target=lambda: ends.update(answering=signed(
                   answering_raw, key, answering_at, calling=False)))]
    for thread in threads:
        thread.start()
    far.send_bytes(near.recv_bytes())  # the calling end's nonce
    near.send_bytes(far.recv_bytes())  # the answering end's
    for thread in threads:
        thread.join(5)
    return Relayed(ends["calling"], ends["answering"], near, far)


def _pair() -> tuple[Connection, Connection]:
    first, second = socket.socketpair()
    return Connection(first.detach()), Connection(second.detach())


@pytest.fixture(autouse=True)
def nothing_unpickled_yet() -> Iterator[None]:
    UNPICKLED.clear()
    yield
    UNPICKLED.clear()


def test_messages_cross_both_ways_in_order() -> None:
    link = relayed()
    for message in ("live_calls", ("acme.example",)):
        link.calling.send(message)
        link.to_answering(link.sent_by_calling())
        assert link.answering.recv() == message
    link.answering.send((True, [CALL]))
    link.relay_to_calling()
    assert link.calling.recv() == (True, [CALL])


def test_a_message_altered_on_the_way_is_refused_unread() -> None:
    link = relayed()
    link.calling.send(("status", ()))
    raw = link.sent_by_calling()
    link.to_answering(raw[:MAC_BYTES] + pickle.dumps(Forged()))
    with pytest.raises(AuthenticationError, match="failed its signature"):
        link.answering.recv()
    assert UNPICKLED == []


def test_a_message_replayed_or_reordered_is_refused() -> None:
    link = relayed()
    link.calling.send(("hang_up", ("acme.example", "c1", None)))
    first = link.sent_by_calling()
    link.to_answering(first)
    assert link.answering.recv() == ("hang_up", ("acme.example", "c1", None))
    link.to_answering(first)
    with pytest.raises(AuthenticationError):
        link.answering.recv()

    later = relayed()
    later.calling.send(("status", ()))
    later.calling.send(("overview", ()))
    later.sent_by_calling()
    later.to_answering(later.sent_by_calling())  # the second, first
    with pytest.raises(AuthenticationError):
        later.answering.recv()


def test_a_message_from_another_connection_is_refused() -> None:
    one, other = relayed(), relayed()
    one.calling.send(("status", ()))
    other.to_answering(one.sent_by_calling())
    with pytest.raises(AuthenticationError):
        other.answering.recv()


def test_a_message_signed_with_another_key_is_refused() -> None:
    """Both ends passed a challenge: only possible with the key; a signature made
    without it (a forger's own) is refused all the same."""
    link = relayed()
    forger = relayed(b"not the key")
    forger.calling.send(("status", ()))
    link.to_answering(forger.sent_by_calling())
    with pytest.raises(AuthenticationError):
        link.answering.recv()


def test_a_connection_steered_to_another_engine_is_refused() -> None:
    """Every engine of a cluster holds the key: a connection dialled to one engine and
    delivered by the path to another passes the challenge, but not its first message."""
    link = relayed(dialled="10.0.0.22:8891", answering_at="10.0.0.22:8890")
    link.calling.send(("hang_up", ("acme.example", "c1", None)))
    link.to_answering(link.sent_by_calling())
    with pytest.raises(AuthenticationError):
        link.answering.recv()


def test_a_message_longer_than_any_answer_is_refused_before_it_is_read() -> None:
    link = relayed()
    huge = struct.pack("!i", -1) + struct.pack("!Q", 2 ** 60)  # a length, and no more
    os.write(link.far.fileno(), huge)
    with pytest.raises(OSError, match="bad message length"):
        link.answering.recv()


def test_the_engine_drops_a_connection_that_sends_a_forged_message(
        caplog: pytest.LogCaptureFixture) -> None:
    links = GatewayLinks.create()
    link = links.links[0]
    server = GatewayServer(RecordingProvisioner(calls=[CALL]), link)
    server.start()
    try:
        with Client(link.address, family="AF_UNIX", authkey=link.key) as connection:
            honest = signed(connection, link.key, link.address, calling=True)
            honest.send(("live_calls", ("acme.example",)))
            assert honest.recv() == (True, [CALL])
            with caplog.at_level(logging.WARNING):
                connection.send_bytes(bytes(MAC_BYTES) + pickle.dumps(Forged()))
                with pytest.raises(EOFError):
                    connection.recv_bytes()
    finally:
        server.close()
        links.remove()
    assert UNPICKLED == []
    assert "gateway connection refused: a message failed its signature" in caplog.text
