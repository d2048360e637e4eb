"""The calling end of a gateway link: an engine, in its own process, as an EngineGateway.
The API's processes call their node's engines through it, and in a cluster an engine
standing by calls the engine of another node that runs its app (bridge/engine/standby.py).

Each call takes an idle connection (or opens one), sends `(method, args)` and waits for
the answer; API threads calling at once use connections of their own. An engine that
is not running (restarting) is `EngineNotReached`; one that took the call and gave no
answer in time (or died meanwhile) is `EngineUnavailable`.
"""

from __future__ import annotations

import os
import queue
import socket
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, answer_challenge, deliver_challenge
from typing import Any

from bridge.gateway import (
    DID_NOT_ANSWER,
    LONGEST_WAIT,
    CancelOutcome,
    EngineNotReached,
    EngineOverview,
    EngineStatus,
    EngineUnavailable,
    LiveCall,
    PanelView,
    ParkedCall,
    RingOutPlan,
    SipEndpoint,
    Target,
)
from bridge.gateway_link import HANDSHAKE_SECONDS, GatewayLink, wait_at_most
from bridge.signed_link import SignedConnection, signed

# Past the longest wait the engine allows itself (a park waits for Asterisk).
REPLY_TIMEOUT = LONGEST_WAIT + 5.0
# /health asks for the status: an engine that hangs must not hang the API's threads.
STATUS_TIMEOUT = 2.0
CONNECT_TIMEOUT = 2.0  # another cluster node's engine: one that does not answer is away
NOT_RUNNING = "the telephony engine is not running (restarting?); retry shortly"
LOST = "the telephony engine stopped while acting on this; check before retrying"


class GatewayClient:
    def __init__(self, link: GatewayLink, reply_timeout: float = REPLY_TIMEOUT) -> None:
        self.link = link
        self.reply_timeout = reply_timeout
        self._idle: queue.SimpleQueue[SignedConnection] = queue.SimpleQueue()

    def _call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """EngineNotReached when the call was never delivered; EngineUnavailable when
        it was and no answer came (the engine may have acted)."""
        connection = self._connection()
        try:
            connection.send((method, args))
        except OSError as exc:  # the engine closed it just now: nothing was delivered
            connection.close()
            raise EngineNotReached(NOT_RUNNING) from exc
        try:
            if not connection.poll(timeout or self.reply_timeout):
                raise EngineUnavailable(DID_NOT_ANSWER)
            succeeded, result = connection.recv()
        except (EOFError, OSError, AuthenticationError) as exc:
            connection.close()
            raise EngineUnavailable(LOST) from exc
        except EngineUnavailable:
            connection.close()  # its answer may still come: never read it as another's
            raise
        self._idle.put(connection)
        if not succeeded:
            raise result
        return result

    def _connection(self) -> SignedConnection:
        """An idle connection still open (the engine may have restarted since), or a new
        one."""
        while True:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                break
            if connection.poll(0):  # nothing is ever sent unasked: readable means closed
                connection.close()
                continue
            return connection
        try:
            if self.link.over_tcp:
                return _tcp_connection(self.link)
            unsigned = Client(self.link.address, family="AF_UNIX", authkey=self.link.key)
            _stalls_fail(unsigned)
            return signed(unsigned, self.link.key, self.link.address, calling=True)
        except (OSError, EOFError) as exc:
            raise EngineNotReached(NOT_RUNNING) from exc
        except AuthenticationError as exc:  # not the engine `ringbridge serve` started
            raise EngineNotReached(f"the engine's socket refused this process: {exc}") \
                from exc

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def status(self) -> EngineStatus:
        try:
            status: EngineStatus = self._call("status", timeout=STATUS_TIMEOUT)
        except EngineUnavailable:
            return EngineStatus(ari=False, ami=False)
        return status

    def overview(self) -> EngineOverview:
        overview: EngineOverview = self._call("overview")
        return overview

    def changes(self, seen: int, wait: float) -> int:
        count: int = self._call("changes", seen, wait, timeout=wait + self.reply_timeout)
        return count

    def panel(self, domain: str) -> PanelView:
        view: PanelView = self._call("panel", domain)
        return view

    def push(self, endpoint: SipEndpoint) -> None:
        self._call("push", endpoint)

    def remove(self, endpoint_id: str) -> None:
        self._call("remove", endpoint_id)

    def delete_recordings(self, names: list[str]) -> list[str]:
        kept: list[str] = self._call("delete_recordings", names)
        return kept

    def start_ringout(self, plan: RingOutPlan) -> None:
        self._call("start_ringout", plan)

    def cancel_ringout(self, call_id: str) -> CancelOutcome:
        outcome: CancelOutcome = self._call("cancel_ringout", call_id)
        return outcome

    def live_calls(self, domain: str) -> list[LiveCall]:
        calls: list[LiveCall] = self._call("live_calls", domain)
        return calls

    def park(self, domain: str, call_id: str, view: str, parker: Target,
             timeout: int) -> ParkedCall:
        parked: ParkedCall = self._call("park", domain, call_id, view, parker, timeout)
        return parked

    def unpark(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        continued: str = self._call("unpark", domain, call_id, target, wait)
        return continued

    def pick_up(self, domain: str, call_id: str, target: Target, wait: int) -> str:
        continued: str = self._call("pick_up", domain, call_id, target, wait)
        return continued

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        views: list[str] = self._call("hang_up", domain, call_id, view)
        return views


def _tcp_connection(link: GatewayLink) -> SignedConnection:
    """Another cluster node's engine, as Client() would connect but within
    CONNECT_TIMEOUT (Client() waits as long as TCP does, minutes for a machine gone)."""
    sock = socket.create_connection(link.host_and_port(), timeout=CONNECT_TIMEOUT)
    sock.settimeout(None)  # Connection reads the descriptor itself, blocking
    wait_at_most(sock, HANDSHAKE_SECONDS)  # the challenge, and every read after it (_stalls_fail)
    connection = Connection(sock.detach())
    try:
        answer_challenge(connection, link.key)
        deliver_challenge(connection, link.key)
        return signed(connection, link.key, link.address, calling=True)
    except BaseException:
        connection.close()
        raise


def _stalls_fail(connection: Connection) -> None:
    """A read or write on `connection` that stalls for HANDSHAKE_SECONDS fails (OSError).
    An answer is polled for (it may take REPLY_TIMEOUT), and read once it starts to come:
    an engine that stops halfway through a message (frozen, or a forged length on the
    network) must not hold an API thread for ever."""
    with socket.socket(fileno=os.dup(connection.fileno())) as same:
        wait_at_most(same, HANDSHAKE_SECONDS)
