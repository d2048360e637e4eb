"""The engine's end of the gateway link: answers the API processes' calls.

It listens on the link's unix socket, or, for the other nodes of a cluster, on its
host:port. One thread accepts; each API connection gets a thread that checks the peer's
key, then runs its calls (signed messages: bridge/signed_link.py) one after another on
the engine (`EngineThread`'s methods block until the loop has answered). A
`GatewayError` goes back to be raised in the API process; anything else is a bug,
logged here in full and answered as a `GatewayError` saying so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from typing import Any

from bridge.gateway import EngineGateway, GatewayError
from bridge.gateway_link import GATEWAY_CALLS, HANDSHAKE_SECONDS, GatewayLink, wait_at_most
from bridge.signed_link import signed

log = logging.getLogger(__name__)
BACKLOG = 64
ACCEPT_RETRY = 0.1  # seconds


class GatewayServer:
    def __init__(self, engine: EngineGateway, link: GatewayLink) -> None:
        self.engine = engine
        self.link = link
        self._socket = _listening(link)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        threading.Thread(target=self._accept, name="gateway", daemon=True).start()

    def close(self) -> None:
        """No call is answered after this: the API processes see the engine gone."""
        with self._lock:
            self._closed = True
            for sock in [self._socket, *self._open]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it
        self._socket.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._socket.accept()
            except OSError as exc:
                with self._lock:
                    if self._closed:
                        return
                log.warning("gateway: accept failed (%s); trying again", exc)
                time.sleep(ACCEPT_RETRY)  # e.g. out of file descriptors for a moment
                continue
            with self._lock:
                if self._closed:  # accepted as close() ran: never served
                    sock.close()
                    return
                self._open.add(sock)
            threading.Thread(target=self._serve, args=(sock,), name="gateway-call",
                             daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        connection: Connection | None = None
        try:
            wait_at_most(sock, HANDSHAKE_SECONDS)
            connection = Connection(os.dup(sock.fileno()))
            deliver_challenge(connection, self.link.key)
            answer_challenge(connection, self.link.key)
            link = signed(connection, self.link.key, self.link.address, calling=False)
            wait_at_most(sock, 0)  # an API process may stay idle between calls
            while True:
                method, args = link.recv()
                link.send(self._answer(method, args))
        except AuthenticationError as exc:
            log.warning("gateway connection refused: %s", exc)
        except (EOFError, OSError):
            pass  # the API process closed it, or we did
        finally:
            with self._lock:
                self._open.discard(sock)
            if connection is not None:
                connection.close()
            sock.close()

    def _answer(self, method: str, args: tuple[Any, ...]) -> tuple[bool, Any]:
        """(True, result) or (False, the GatewayError to raise)."""
        if method not in GATEWAY_CALLS:
            return False, GatewayError(f"no gateway call {method!r}")
        try:
            return True, getattr(self.engine, method)(*args)
        except GatewayError as exc:
            return False, exc
        except Exception as exc:
            log.exception("gateway call %s failed", method)
            return False, GatewayError(f"the telephony engine failed: {exc}")


def _listening(link: GatewayLink) -> socket.socket:
    if link.over_tcp:  # for the other cluster nodes' engines standing by
        host, port = link.host_and_port()
        return socket.create_server((host, port), backlog=BACKLOG, family=(
            socket.AF_INET6 if ":" in host else socket.AF_INET))
    with contextlib.suppress(FileNotFoundError):  # left by an engine killed before
        os.unlink(link.address)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(link.address)
    sock.listen(BACKLOG)
    return sock
