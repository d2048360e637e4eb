"""A gateway link's messages once both ends have proved they hold its key.

multiprocessing's challenge proves the key once, at connect; what crossed after it
would be bare pickles, and unpickling runs code. Between cluster nodes, anyone on the
network path could write into a connection that had passed its challenge. So every
message carries an HMAC-SHA256, under the key, of the address the link was dialled at,
both ends' random nonces for this connection, the message's direction, its number and
its bytes, and is checked before it is unpickled: a message altered, replayed,
reordered, taken from another connection or steered to another engine (every engine of
a cluster shares the key) is refused (`AuthenticationError`) and the connection
dropped; so is one longer than MAX_MESSAGE, before it is read. Messages are signed, not
encrypted (docs/cluster.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection
from typing import Any

NONCE_BYTES = 16
MAX_MESSAGE = 16 * 1024 * 1024  # bytes: far above the largest answer (a busy panel)
MAC_BYTES = hashlib.sha256().digest_size
CALLING, ANSWERING = b"C", b"A"  # the directions: from the end that connected, or to it


class SignedConnection:
    """A connection past its challenge whose messages are signed and checked (above)."""

    def __init__(self, connection: Connection, key: bytes, context: bytes, sending: bytes,
                 receiving: bytes) -> None:
        self._connection = connection
        self._key = key
        self._context = context  # the address and both nonces
        self._sending, self._receiving = sending, receiving
        self._sent = self._received = 0

    def send(self, message: Any) -> None:
        payload = pickle.dumps(message)
        self._connection.send_bytes(self._mac(self._sending, self._sent, payload) + payload)
        self._sent += 1

    def recv(self) -> Any:
        data = self._connection.recv_bytes(MAC_BYTES + MAX_MESSAGE)
        mac, payload = data[:MAC_BYTES], data[MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(self._receiving, self._received, payload)):
            raise AuthenticationError("a message failed its signature (altered, replayed "
                                      "or not from this connection's peer)")
        self._received += 1
        return pickle.loads(payload)

    def poll(self, timeout: float = 0.0) -> bool:
        return self._connection.poll(timeout)

    def fileno(self) -> int:
        return self._connection.fileno()

    def close(self) -> None:
        self._connection.close()

    def _mac(self, direction: bytes, number: int, payload: bytes) -> bytes:
        signed = self._context + direction + number.to_bytes(8, "big") + payload
        return hmac.digest(self._key, signed, "sha256")


def signed(connection: Connection, key: bytes, address: str, *, calling: bool
           ) -> SignedConnection:
    """`connection`, past its challenge, with messages signed from now on: the ends
    exchange fresh nonces (the calling end's first) that every signature covers, with
    `address`, the link's as both ends name it. Closed if that fails."""
    mine = os.urandom(NONCE_BYTES)
    try:
        theirs = _exchange(connection, mine, calling)
    except BaseException:
        connection.close()
        raise
    named = address.encode() + b"\0"
    if calling:
        return SignedConnection(connection, key, named + mine + theirs, CALLING, ANSWERING)
    return SignedConnection(connection, key, named + theirs + mine, ANSWERING, CALLING)


def _exchange(connection: Connection, mine: bytes, calling: bool) -> bytes:
    if calling:
        connection.send_bytes(mine)
        theirs = connection.recv_bytes(NONCE_BYTES)
    else:
        theirs = connection.recv_bytes(NONCE_BYTES)
        connection.send_bytes(mine)
    if len(theirs) != NONCE_BYTES:
        raise AuthenticationError(f"the peer's nonce has {len(theirs)} bytes, not "
                                  f"{NONCE_BYTES}")
    return theirs
