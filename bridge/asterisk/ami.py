"""Asterisk Manager Interface (AMI) client on top of panoramisk.

panoramisk's ``Manager`` is used for what it does well: AMI framing, matching responses
to actions by ActionID and collecting event lists (``ParkedCalls`` -> ``ParkedCall`` ...
``ParkedCallsComplete``). Its connection management is switched off, because
``AmiClient.run`` must always know the truth about the connection and panoramisk's does
not fit that:

* it reconnects on a fixed whole-second timer whose handle it does not keep, so
  ``Manager.close()`` during an outage does not stop it reconnecting;
* a failed connect raising anything but OSError (e.g. a timeout) escapes from a loop
  callback and ends reconnection for good;
* a failed Login just leaves ``authenticated`` False, with no error and no retry;
* its keep-alive sends Ping but never checks the answer, so a silently dead peer is only
  noticed when TCP gives up, minutes later;
* unanswered actions are re-sent after a reconnect (on ``FullyBooted``), which could
  repeat an Originate or Redirect that Asterisk had already carried out;
* event callbacks returning coroutines are started as independent tasks, so their order
  is not preserved.

Each connection therefore gets a fresh ``_Session`` (a Manager with those behaviours
overridden); ``AmiClient`` connects, logs in, pings, dispatches events in order and
reconnects with our own backoff.

A connection counts as open (``on_connected`` runs) only once Asterisk says it is
``FullyBooted``: Asterisk accepts AMI logins while it is still loading its modules, and
an action of one not loaded yet (``ParkedCalls`` before res_parking) fails there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from panoramisk import Manager

from bridge.asterisk.backoff import Backoff
from bridge.asterisk.supervised import Supervised

log = logging.getLogger(__name__)

AmiEvent = dict[str, str]
"""An AMI event or response: header -> value (a repeated header's values joined by newlines)."""
AmiHandler = Callable[[AmiEvent], Awaitable[None] | None]
BOOTED = "FullyBooted"  # sent at login once Asterisk has booted, else when it has


class AmiError(Exception):
    """An AMI action failed: ``Response: Error``, no response in time, or no connection."""

    def __init__(self, action: str, message: str, response: AmiEvent | None = None) -> None:
        super().__init__(f"AMI {action} failed: {message}")
        self.action = action
        self.message = message
        self.response = response


class _Session(Manager):  # type: ignore[misc,unused-ignore]  # panoramisk is untyped
    """One AMI TCP connection; see the module docstring for what is overridden and why."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host=host, port=port, loop=asyncio.get_running_loop())
        self.lost: asyncio.Future[str] = self.loop.create_future()
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()  # panoramisk Messages, then None
        self.booted: asyncio.Future[None] = self.loop.create_future()  # FullyBooted came

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        # A failed connect is handled by AmiClient, which awaits the same future.
        if not f.cancelled() and f.exception() is None:
            super().connection_made(f)

    def connection_lost(self, exc: object) -> None:
        if exc is None:
            self._mark_lost("connection closed by Asterisk")
        elif getattr(exc, "event", "") == "Shutdown":  # panoramisk passes the Shutdown event
            self._mark_lost("Asterisk shut down")
        else:
            self._mark_lost(str(exc))

    def dispatch(self, event: Any) -> None:
        if event.get("Event") == BOOTED and not self.booted.done():
            self.booted.set_result(None)
        self.inbox.put_nowait(event)

    def ping(self) -> None:
        """Disabled: ``AmiClient._heartbeat`` pings and also checks that Asterisk answers."""

    def shutdown(self, reason: str) -> None:
        """Drop the socket at once (the peer may be gone) and wake everyone waiting on it."""
        if self.protocol is not None:
            self.protocol.transport.abort()
        self.close()
        self._mark_lost(reason)

    def _mark_lost(self, reason: str) -> None:
        if self.lost.done():
            return
        self.lost.set_result(reason)
        # Queued with call_soon so that the Shutdown event, which panoramisk dispatches
        # right after reporting the loss, still reaches the handlers before the end marker.
        self.loop.call_soon(self.inbox.put_nowait, None)


class AmiClient(Supervised):
    """A supervised AMI connection: actions, ordered event dispatch and reconnection."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_connected: Callable[[], Awaitable[None]] | None = None,
        backoff: Backoff | None = None,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        ping_interval: float = 2.0,
        ping_timeout: float = 3.0,
        stable_after: float = 10.0,
        boot_timeout: float = 60.0,
    ) -> None:
        """A dead Asterisk is noticed within ``ping_interval + ping_timeout`` seconds.

        ``stable_after``: a connection that lasted this long resets the backoff.
        ``boot_timeout``: how long a login waits for Asterisk to finish booting before
        the connection is dropped and tried again.
        """
        self._host = host
        self._port = port
        self._username = username
        self._secret = secret
        super().__init__(backoff, on_connected, stable_after)
        self._connect_timeout = connect_timeout
        self._action_timeout = action_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._boot_timeout = boot_timeout
        self._handlers: dict[str, list[AmiHandler]] = {}
        self._session: _Session | None = None

    @property
    def connected(self) -> bool:
        """True while logged in and the connection is alive (safe to read from other threads)."""
        session = self._session
        return session is not None and not session.lost.done()

    def on(self, event_name: str, handler: AmiHandler) -> None:
        """Call ``handler`` for every event named ``event_name`` (exact name), or all with "*".

        Register handlers before ``run()``: Asterisk is asked at login for only the events
        that have one. Handlers run one at a time in arrival order, specific ones before
        "*" ones; an exception is logged and does not stop later handlers or events.
        """
        self._handlers.setdefault(event_name, []).append(handler)

    async def action(
        self, action: Mapping[str, str | list[str]], *, timeout: float | None = None
    ) -> list[AmiEvent] | AmiEvent:
        """Send an action and return its response.

        Actions answered with an event list (``ParkedCalls``, ``Status``...) return a list:
        the Response, the events, then the ``...Complete`` event. A list value sends the
        header once per item (e.g. several ``Variable``). Raises AmiError on
        ``Response: Error``, when not connected, on connection loss or after ``timeout``
        (default ``action_timeout``; an async Originate waits for its OriginateResponse).
        """
        name = str(action.get("Action", "?"))
        session = self._session
        if session is None or session.lost.done():
            raise AmiError(name, "not connected to Asterisk")
        reply = await self._send(session, action, timeout or self._action_timeout)
        return _checked(name, reply)

    async def close(self) -> None:
        """Stop ``run()`` and drop the connection.

        Not from inside handlers or ``on_connected``, which run() would then wait for: use
        ``asyncio.create_task(client.close())`` there.
        """
        await self._stop_running()

    async def _connection(self) -> None:
        """One AMI connection, from connect to loss. Only cancellation escapes."""
        try:
            await self._connect_and_dispatch()
        except Exception as exc:
            self._connection_ended(exc)

    async def _connect_and_dispatch(self) -> None:
        session = _Session(self._host, self._port)
        heartbeat: asyncio.Task[None] | None = None
        try:
            # Manager.connect() returns the connect task; its done-callback (which wires up
            # the protocol) was registered first, so it has run when this await returns.
            await asyncio.wait_for(session.connect(), self._connect_timeout)
            await self._login(session)
            await self._until_booted(session)
            self._session = session
            heartbeat = asyncio.create_task(self._heartbeat(session))
            await self._opened()
            await self._dispatch_until_lost(session)
        finally:
            self._session = None
            if heartbeat is not None:
                heartbeat.cancel()
            session.shutdown("connection closed by ringbridge")

    async def _login(self, session: _Session) -> None:
        login = {"Action": "Login", "Username": self._username, "Secret": self._secret,
                 "Events": "on"}
        _checked("Login", await self._send(session, login, self._action_timeout))
        await self._ask_only_for_handled_events(session)

    async def _ask_only_for_handled_events(self, session: _Session) -> None:
        """Asterisk sends every event of the classes the user may read: on a busy system,
        a dozen per call that nobody here reads. Filters (per connection) keep only the
        events with a handler, and FullyBooted; with a "*" handler, everything still
        comes. FullyBooted's filter comes first: with none yet, every event passes."""
        if "*" in self._handlers:
            return
        for name in (BOOTED, *sorted(self._handlers.keys() - {BOOTED})):
            _checked("Filter", await self._send(session, {
                "Action": "Filter", "Operation": "Add", "MatchCriteria": f"name({name})",
                "Filter": ""}, self._action_timeout))

    async def _until_booted(self, session: _Session) -> None:
        """Wait for Asterisk's FullyBooted (at once when it has booted already)."""
        await asyncio.wait((session.booted, session.lost), timeout=self._boot_timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if session.booted.done():
            return
        if session.lost.done():
            raise ConnectionError(session.lost.result())
        raise AmiError(BOOTED, f"Asterisk not fully booted within {self._boot_timeout:g} s "
                       "(or the AMI user may not read the 'system' class, which carries "
                       "FullyBooted: manager.conf's read=)")

    def _describe_target(self) -> str:
        return f"AMI connection to {self._host}:{self._port}"

    async def _dispatch_until_lost(self, session: _Session) -> None:
        while (message := await session.inbox.get()) is not None:
            await self._dispatch(message)
        raise ConnectionError(session.lost.result())

    async def _dispatch(self, message: Any) -> None:
        name = message.get("Event", "")
        handlers = (*self._handlers.get(name, ()), *self._handlers.get("*", ()))
        if not handlers:
            return  # most of Asterisk's events: skip building a dict nobody reads
        event = _as_dict(message)
        for handler in handlers:
            try:
                result = handler(event)
                if result is not None:
                    await result
            except Exception:
                log.exception("AMI handler %s failed on %s event; continuing",
                              getattr(handler, "__qualname__", handler), name)

    async def _heartbeat(self, session: _Session) -> None:
        """Ping every ``ping_interval``; an unanswered Ping means the connection is dead."""
        while True:
            await asyncio.sleep(self._ping_interval)
            try:
                await self._send(session, {"Action": "Ping"}, self._ping_timeout)
            except AmiError as exc:  # the loss is logged once, with this reason, by run()
                session.shutdown(f"Ping unanswered: {exc.message}")
                return

    async def _send(
        self, session: _Session, action: Mapping[str, str | list[str]], timeout: float
    ) -> Any:
        """Send through panoramisk; return its Message (or list of them) or raise AmiError."""
        name = str(action.get("Action", "?"))
        reply = session.send_action(dict(action))
        await asyncio.wait((reply, session.lost), timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if reply.done():
            return reply.result()
        reply.cancel()
        if session.lost.done():
            raise AmiError(name, f"connection lost before the response ({session.lost.result()})")
        raise AmiError(name, f"no response within {timeout:g} s")

    def _connection_ended(self, exc: Exception) -> None:
        self._lost(exc)

def _as_dict(message: Any) -> AmiEvent:
    """A panoramisk Message as a plain dict, without its empty ``content`` pseudo-header."""
    return {
        key: value if isinstance(value, str) else "\n".join(value)
        for key, value in message.items()
        if value or key != "content"
    }


def _checked(name: str, reply: Any) -> list[AmiEvent] | AmiEvent:
    """Convert panoramisk's reply; raise AmiError if Asterisk refused the action."""
    first = reply[0] if isinstance(reply, list) else reply
    if not first.success:
        raise AmiError(name, first.message or "request failed", _as_dict(first))
    if isinstance(reply, list):
        return [_as_dict(message) for message in reply]
    return _as_dict(reply)

