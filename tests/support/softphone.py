"""Real SIP softphones for tests, built on pjsua2.

pjsua2 allows one ``Endpoint`` per process, so one :class:`SipStack` owns it and
hands out :class:`Phone` objects. Each phone has its own UDP port on 127.0.0.1,
so Asterisk sees a distinct contact per phone.

Threading: every pjsua2 call runs in the stack's own "SIP thread", which also
pumps ``libHandleEvents`` and runs the pjsua2 callbacks. Methods called from a
test thread are marshalled to it (a job queue plus a ``Future``), and waits
block on a ``threading.Condition`` that the callbacks signal. Callbacks only
keep books: they update plain attributes that tests read directly.

pjsua2 pitfalls handled here:

* A pjsua2 ``Call`` wrapper whose Python object dies calls
  ``pjsua_call_set_user_data`` and may hang up whatever call now uses its slot,
  and it aborts the process if that happens after ``libDestroy``. So the stack
  keeps every wrapper until ``stop()`` and drops them all before ``libDestroy``.
* pjsua reuses call slots, so a disconnected call is never touched again.
* pjsua picks the account for an incoming INVITE by user and domain, which goes
  wrong for a "carrier" phone dialled as ``+4420...@127.0.0.1``; the stack picks
  the phone whose port is in the request-URI instead (``onSelectAccount``).
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import itertools
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import unquote

import pjsua2 as pj

log = logging.getLogger(__name__)

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
MAX_PHONES = 8
"""pjsua is built with room for 8 SIP transports and 8 accounts; each phone takes one of each."""

_POLL_MS = 10  # how long the SIP thread blocks in libHandleEvents between jobs
_COMMAND_TIMEOUT = 10.0  # a job the SIP thread has not finished by then is reported stuck
_STOP_GRACE = 2.0  # how long stop() lets calls end before destroying the endpoint

CALL_STATES = ("calling", "incoming", "early", "connecting", "confirmed", "disconnected")
_STATE_NAMES = {
    pj.PJSIP_INV_STATE_CALLING: "calling",
    pj.PJSIP_INV_STATE_INCOMING: "incoming",
    pj.PJSIP_INV_STATE_EARLY: "early",
    pj.PJSIP_INV_STATE_CONNECTING: "connecting",
    pj.PJSIP_INV_STATE_CONFIRMED: "confirmed",
    pj.PJSIP_INV_STATE_DISCONNECTED: "disconnected",
}

# RFC 3261 section 7.3.3 compact header names, expanded so lookups by full name work.
_COMPACT_HEADERS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "r": "Refer-To",
    "b": "Referred-By",
    "o": "Event",
    "u": "Allow-Events",
    "x": "Session-Expires",
}


class SipError(RuntimeError):
    """A pjsua2 operation failed; the message is pjsua's own explanation."""


class RegistrationError(RuntimeError):
    """The registrar refused a REGISTER (or its removal)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class CallEndedError(TimeoutError):
    """A wait that can no longer succeed because the call is already over.

    It is a ``TimeoutError`` so that every failed wait can be handled alike, but
    it is raised at once instead of after the whole timeout.
    """


# --------------------------------------------------------------------------- SIP text


class SipHeaders(Mapping[str, str]):
    """Headers of a received SIP message, looked up case-insensitively.

    A header that occurs several times maps to its values joined with ", ".
    """

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, tuple[str, str]] = {}  # lower name -> (name as sent, value)
        for name, value in fields:
            key = name.lower()
            if key in self._values:
                first_name, joined = self._values[key]
                self._values[key] = (first_name, f"{joined}, {value}")
            else:
                self._values[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._values.values())

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SipHeaders({dict(self.items())!r})"


def parse_sip_message(raw: str) -> tuple[str, SipHeaders]:
    """Split a SIP message into its start line and headers (the body is ignored).

    Folded continuation lines are unfolded and compact names expanded.
    """
    head = re.split(r"\r?\n\r?\n", raw, maxsplit=1)[0]
    start_line, *lines = re.split(r"\r?\n", head)
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] = f"{unfolded[-1]} {line.strip()}"
        elif line:
            unfolded.append(line)
    fields = []
    for line in unfolded:
        name, _, value = line.partition(":")
        name = name.strip()
        fields.append((_COMPACT_HEADERS.get(name.lower(), name), value.strip()))
    return start_line, SipHeaders(fields)


def sip_uri_user(uri: str) -> str:
    """The user part of a SIP/SIPS/TEL URI, percent-decoded ("" if there is none)."""
    bare = uri.strip().strip("<>")
    scheme, _, rest = bare.partition(":")
    if scheme.lower() == "tel":
        return unquote(rest.split(";")[0])
    if "@" not in rest:
        return ""
    return unquote(rest.split("@", 1)[0].split(";")[0])


_REQUEST_URI_PORT = re.compile(r"^sips?:(?:[^@]*@)?(?:\[[^\]]*\]|[^:;?]*)(?::(\d+))?", re.I)


def _request_uri_port(raw_request: str) -> int | None:
    """The port in a request's request-URI, or None if it has none."""
    start_line = raw_request.split("\n", 1)[0].split()
    if len(start_line) < 2:
        return None
    match = _REQUEST_URI_PORT.match(start_line[1])
    return int(match.group(1)) if match and match.group(1) else None


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class IncomingPolicy:
    """What a phone does by itself, in the SIP thread, when an INVITE arrives.

    Use the constants and constructors: ``RING`` (180 and keep ringing),
    ``ANSWER`` (180 then 200), ``ANSWER_AFTER(s)`` (180, then 200 after s
    seconds), ``BUSY`` (486), ``REJECT(code)`` and ``IGNORE`` (only the
    100 Trying that pjsua always sends).
    """

    action: Literal["ring", "answer", "reject", "ignore"]
    delay: float = 0.0  # "answer": seconds between the INVITE and the 200
    code: int = 0  # "reject": the final status sent

    RING: ClassVar[IncomingPolicy]
    ANSWER: ClassVar[IncomingPolicy]
    BUSY: ClassVar[IncomingPolicy]
    IGNORE: ClassVar[IncomingPolicy]

    @staticmethod
    def ANSWER_AFTER(seconds: float) -> IncomingPolicy:
        return IncomingPolicy("answer", delay=seconds)

    @staticmethod
    def REJECT(code: int = 603) -> IncomingPolicy:
        return IncomingPolicy("reject", code=code)


IncomingPolicy.RING = IncomingPolicy("ring")
IncomingPolicy.ANSWER = IncomingPolicy("answer")
IncomingPolicy.BUSY = IncomingPolicy.REJECT(486)
IncomingPolicy.IGNORE = IncomingPolicy("ignore")


# --------------------------------------------------------------------------- pjsua2 subclasses


class _Endpoint(pj.Endpoint):
    def __init__(self, stack: SipStack) -> None:
        super().__init__()
        self._stack = stack

    def onSelectAccount(self, prm: Any) -> None:
        with self._stack._guard("onSelectAccount"):
            self._stack._select_account(prm)


class _PjAccount(pj.Account):
    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self._phone = phone

    def onIncomingCall(self, prm: Any) -> None:
        with self._phone._stack._guard("onIncomingCall"):
            self._phone._on_incoming(prm.callId, prm.rdata.wholeMsg)

    def onRegState(self, prm: Any) -> None:
        with self._phone._stack._guard("onRegState"):
            self._phone._on_reg_state(prm.code, prm.reason, prm.expiration)


class _PjCall(pj.Call):
    def __init__(self, account: _PjAccount, call: Call, call_id: int) -> None:
        super().__init__(account, call_id)
        self._call = call

    def onCallState(self, prm: Any) -> None:
        with self._call._stack._guard("onCallState"):
            self._call._on_request(_received_request(prm.e))
            self._call._on_state(self.getInfo())

    def onCallTsxState(self, prm: Any) -> None:
        """A CANCEL shows up here (its own transaction), not in onCallState."""
        with self._call._stack._guard("onCallTsxState"):
            self._call._on_request(_received_request(prm.e))

    def onCallMediaState(self, prm: Any) -> None:
        with self._call._stack._guard("onCallMediaState"):
            self._call._on_media(self.getInfo())

    def onStreamDestroyed(self, prm: Any) -> None:
        with self._call._stack._guard("onStreamDestroyed"):
            self._call._on_stream_destroyed(prm.streamIdx)

    def onDtmfDigit(self, prm: Any) -> None:
        with self._call._stack._guard("onDtmfDigit"):
            self._call._on_dtmf(prm.digit)


def _received_request(event: Any) -> str:
    """The raw request that caused a call-state event (a CANCEL, a BYE), or ""."""
    if event.type != pj.PJSIP_EVENT_TSX_STATE:
        return ""
    state = event.body.tsxState
    if state.type != pj.PJSIP_EVENT_RX_MSG:
        return ""
    raw = str(state.src.rdata.wholeMsg)
    return raw if raw and not raw.startswith("SIP/") else ""


# --------------------------------------------------------------------------- stack


_Job = tuple[Callable[..., Any], tuple[Any, ...], "Future[Any]"]


class SipStack:
    """The process's pjsua2 endpoint, its SIP thread, and the phones on it."""

    _active: ClassVar[SipStack | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, log_level: int = 0) -> None:
        from_env = os.environ.get("RINGBRIDGE_SIP_LOG")
        self.log_level = int(from_env) if from_env else log_level
        self.errors: list[Exception] = []  # exceptions raised inside pjsua2 callbacks
        self._cond = threading.Condition()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped: Future[None] = Future()
        self._stopping = False
        self._ep: Any = None
        self._phones: dict[int, Phone] = {}  # by local port; touched in the SIP thread only
        # Transports on a fixed address and port (a carrier's), kept until stop(): a
        # closed transport stays bound while its transactions linger (up to 32 s), so a
        # new one on the same port would fail with "Address already in use".
        self._kept: dict[tuple[str, int], int] = {}
        self._calls: list[Call] = []  # every call, so that no pjsua2 wrapper dies early

    @classmethod
    def active(cls) -> SipStack | None:
        """The running stack of this process, if any (to share it rather than start another)."""
        return cls._active

    def start(self) -> None:
        """Start the SIP thread and create the pjsua2 endpoint in it."""
        if self._stopped.done():
            raise RuntimeError("a stopped SipStack cannot start again; make a new one")
        with SipStack._active_lock:
            if SipStack._active is not None:
                raise RuntimeError(
                    "a SipStack is already running in this process and pjsua2 allows only one "
                    "Endpoint per process: use SipStack.active() instead of starting another"
                )
            SipStack._active = self
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="sip", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=_COMMAND_TIMEOUT)
        except BaseException:
            self._thread = None
            SipStack._active = None
            raise
        atexit.register(self.stop)  # an endpoint left for interpreter exit aborts the process

    def stop(self) -> None:
        """Hang up everything, destroy the endpoint and end the SIP thread."""
        thread = self._thread
        if thread is None:
            return
        try:
            if not self._stopped.done():
                self._run_in_sip_thread(self._request_stop)
            self._stopped.result(timeout=_COMMAND_TIMEOUT + _STOP_GRACE)
        finally:
            thread.join(timeout=_COMMAND_TIMEOUT)
            self._thread = None
            atexit.unregister(self.stop)
            SipStack._active = None

    def phone(
        self,
        username: str,
        password: str | None = None,
        *,
        domain: str = LOOPBACK,
        registrar: str | None = "127.0.0.1:5060",
        register: bool = True,
        policy: IncomingPolicy = IncomingPolicy.RING,
        address: str = LOOPBACK,
        port: int = 0,
        forced_contact: Callable[[int], str] | None = None,
    ) -> Phone:
        """A new phone on its own UDP port; registered (and waited for) unless told not to.

        ``registrar=None`` makes a phone that never registers: others call it at ``phone.uri``.
        ``address`` and ``port`` place it (a carrier on its own address and port); port 0
        is any free port. ``forced_contact`` makes the phone's Contact from its port, whatever
        the phone's real address (a phone behind NAT names its private one).
        """
        phone = Phone(self, username, password, domain, registrar, policy)
        phone.address, phone.port, phone.forced_contact = address, port, forced_contact
        self._run_in_sip_thread(self._open_phone, phone)
        if register and registrar is not None:
            try:
                phone.register()
            except BaseException:
                phone.close()
                raise
        return phone

    # -- marshalling and waiting ---------------------------------------------------------

    def _run_in_sip_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the SIP thread and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        if self._thread is None or self._stopped.done():
            raise RuntimeError("the SipStack is not running")
        future: Future[T] = Future()
        self._jobs.put((fn, args, future))
        try:
            return future.result(timeout=_COMMAND_TIMEOUT)
        except TimeoutError:
            if future.done():  # fn itself raised a TimeoutError
                raise
            raise TimeoutError(
                f"the SIP thread did not finish {fn.__qualname__} within {_COMMAND_TIMEOUT:g}s"
            ) from None

    def _wait_for(
        self,
        probe: Callable[[], T | None],
        timeout: float,
        failure: Callable[[], str],
        hopeless: Callable[[], bool] | None = None,
    ) -> T:
        """Block until ``probe()`` returns something other than None, and return it.

        ``probe``, ``failure`` and ``hopeless`` run under the condition's lock, so they
        see a consistent state. ``hopeless`` says the wait can no longer succeed.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = probe()
                if result is not None:
                    return result
                if hopeless is not None and hopeless():
                    raise CallEndedError(failure())
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    errors = f"; errors in SIP callbacks: {self.errors!r}" if self.errors else ""
                    raise TimeoutError(f"{failure()} (waited {timeout:g}s){errors}")
                self._cond.wait(remaining)

    @contextlib.contextmanager
    def _guard(self, callback: str) -> Iterator[None]:
        """Keep an exception in a pjsua2 callback from vanishing into pjsua's C code."""
        try:
            yield
        except Exception as exc:
            log.exception("error in pjsua2 callback %s", callback)
            with self._cond:
                self.errors.append(exc)
                self._cond.notify_all()

    # -- the SIP thread ------------------------------------------------------------------

    def _run(self, ready: Future[None]) -> None:
        try:
            self._ep = self._create_endpoint()
        except BaseException as exc:
            ready.set_exception(_readable(exc))
            return
        ready.set_result(None)
        try:
            try:
                self._serve()
            finally:
                self._teardown()
        except BaseException as exc:
            self._stopped.set_exception(_readable(exc))
        else:
            self._stopped.set_result(None)

    def _create_endpoint(self) -> Any:
        ep = _Endpoint(self)
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 32
        cfg.uaConfig.userAgent = "ringbridge-test-softphone"
        cfg.uaConfig.natTypeInSdp = 0
        cfg.logConfig.level = self.log_level
        cfg.logConfig.consoleLevel = self.log_level
        cfg.medConfig.noVad = True  # send RTP all the time, silence included
        # The null sound device is the media clock: if pjsua closed it when idle, calls that
        # connect nothing to it (ours) would stop sending RTP and DTMF after a second.
        cfg.medConfig.sndAutoCloseTime = -1
        ep.libInit(cfg)
        ep.libStart()
        ep.audDevManager().setNullDev()
        return ep

    def _serve(self) -> None:
        while not self._stopping:
            self._run_jobs()
            self._run_due_timers()
            self._ep.libHandleEvents(_POLL_MS)

    def _run_jobs(self) -> None:
        while True:
            try:
                fn, args, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:
                    future.set_exception(_readable(exc))

    def _request_stop(self) -> None:
        self._stopping = True

    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the SIP thread after ``delay`` seconds (SIP thread only)."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_order), fn))

    def _run_due_timers(self) -> None:
        while self._timers and self._timers[0][0] <= time.monotonic():
            _, _, fn = heapq.heappop(self._timers)
            with self._guard(f"timer {fn.__qualname__}"):
                fn()

    def _teardown(self) -> None:
        while True:  # fail jobs that came in while stopping
            try:
                _, _, future = self._jobs.get_nowait()
            except queue.Empty:
                break
            future.set_exception(RuntimeError("the SipStack is stopping"))
        self._ep.hangupAllCalls()
        deadline = time.monotonic() + _STOP_GRACE
        while time.monotonic() < deadline and any(c.state != "disconnected" for c in self._calls):
            self._ep.libHandleEvents(_POLL_MS)
        for call in self._calls:
            call._pj = None  # the wrappers must be gone before libDestroy (see module doc)
        self._calls.clear()
        for phone in list(self._phones.values()):
            self._close_phone(phone)
        for transport_id in self._kept.values():
            self._ep.transportClose(transport_id)
        self._kept.clear()
        self._ep.libDestroy()
        self._ep = None

    # -- phones (SIP thread) ---------------------------------------------------------------

    def _open_phone(self, phone: Phone) -> None:
        kept = (phone.address, phone.port) if phone.port else None
        if kept is not None and phone.port in self._phones:
            raise RuntimeError(f"{self._phones[phone.port]!r} is on port {phone.port} already")
        transports = len(self._kept) + sum(
            1 for p in self._phones.values() if p._transport_id not in self._kept.values())
        if len(self._phones) >= MAX_PHONES or (kept not in self._kept
                                               and transports >= MAX_PHONES):
            open_phones = ", ".join(repr(p) for p in self._phones.values())
            raise RuntimeError(
                f"pjsua has room for {MAX_PHONES} phones (and transports) at a time; close() "
                f"phones that are no longer needed (open: {open_phones})"
            )
        phone._transport_id = (self._kept[kept] if kept in self._kept
                               else self._new_transport(phone))
        if kept is not None:
            self._kept[kept] = phone._transport_id
        try:
            phone.port = int(
                self._ep.transportGetInfo(phone._transport_id).localName.rsplit(":", 1)[1]
            )
            phone.uri = f"sip:{phone.username}@{phone.address}:{phone.port}"
            account = self._add_account(phone)
        except BaseException:
            if kept is None:
                self._ep.transportClose(phone._transport_id)
            raise
        phone._acc = account
        self._phones[phone.port] = phone

    def _close_phone(self, phone: Phone) -> None:
        if self._phones.pop(phone.port, None) is None:
            return
        if phone._acc is not None:
            phone._acc.shutdown()  # also un-REGISTERs, without waiting for the answer
            phone._acc = None
            phone._registered = False
        if phone._transport_id not in self._kept.values():
            self._ep.transportClose(phone._transport_id)

    def _add_account(self, phone: Phone) -> _PjAccount:
        """pjsua adds an account only while its transport 0 exists (else it aborts the
        process); a phone on a kept transport made none, so one stands in meanwhile."""
        stand_in = None
        if 0 not in self._ep.transportEnum():
            config = pj.TransportConfig()
            config.boundAddress = LOOPBACK
            stand_in = self._ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, config)
        try:
            account = _PjAccount(phone)
            account.create(_account_config(phone))
            return account
        finally:
            if stand_in is not None:
                self._ep.transportClose(stand_in)

    def _new_transport(self, phone: Phone) -> int:
        transport = pj.TransportConfig()
        transport.boundAddress = phone.address
        transport.port = phone.port
        return int(self._ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport))

    def _select_account(self, prm: Any) -> None:
        port = _request_uri_port(prm.rdata.wholeMsg)
        phone = self._phones.get(port) if port is not None else None
        if phone is not None and phone._acc is not None:
            prm.accountIndex = phone._acc.getId()


def _account_config(phone: Phone) -> Any:
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:{phone.username}@{phone.domain}"
    cfg.sipConfig.transportId = phone._transport_id
    if phone.registrar is not None:
        cfg.regConfig.registrarUri = f"sip:{phone.registrar}"
        cfg.regConfig.registerOnAdd = False
        cfg.regConfig.retryIntervalSec = 0  # a failed REGISTER stays failed
    if phone.password is not None:
        cfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", phone.username, 0, phone.password)
        )
    # Loopback needs no NAT tricks, and they would re-REGISTER behind the test's back.
    cfg.natConfig.contactRewriteUse = 0
    cfg.natConfig.viaRewriteUse = 0
    cfg.natConfig.sdpNatRewriteUse = 0
    cfg.natConfig.sipOutboundUse = 0
    cfg.natConfig.udpKaIntervalSec = 0
    cfg.mediaConfig.transportConfig.boundAddress = phone.address
    if phone.forced_contact is not None:
        cfg.sipConfig.contactForced = phone.forced_contact(phone.port)
    return cfg


def _readable(exc: BaseException) -> BaseException:
    """pjsua2 errors print as nothing; turn them into a SipError that says what failed."""
    if isinstance(exc, pj.Error):
        readable = SipError(f"{exc.title}: {exc.reason} (status {exc.status})")
        readable.__cause__ = exc
        return readable
    return exc


# --------------------------------------------------------------------------- phone


class Phone:
    """A SIP user agent on its own port. Made by :meth:`SipStack.phone`."""

    def __init__(
        self,
        stack: SipStack,
        username: str,
        password: str | None,
        domain: str,
        registrar: str | None,
        policy: IncomingPolicy,
    ) -> None:
        self.username = username
        self.password = password
        self.domain = domain
        self.registrar = registrar
        self.policy = policy  # read when an INVITE arrives, so it may be changed at any time
        self.address = LOOPBACK
        self.port = 0
        self.forced_contact: Callable[[int], str] | None = None  # its Contact, by port
        self.uri = ""
        self.incoming: list[Call] = []
        self._outgoing: list[Call] = []
        self._stack = stack
        self._transport_id = -1
        self._acc: _PjAccount | None = None
        self._registered = False
        self._reg_answers = 0  # REGISTER outcomes seen so far, to wait for the next one
        self._reg_status = (0, "")

    def __repr__(self) -> str:
        return f"<Phone {self.username} {self.uri}>"

    @property
    def registered(self) -> bool:
        return self._registered

    def register(self, timeout: float = 5) -> None:
        """REGISTER and wait for the answer; raise RegistrationError unless it is a 2xx."""
        self._change_registration(True, timeout)

    def unregister(self, timeout: float = 5) -> None:
        """Remove the registration and wait for the registrar to confirm (no-op if none)."""
        if self._registered:
            self._change_registration(False, timeout)

    def call(self, target: str, headers: Mapping[str, str] | None = None) -> Call:
        """Call a number or user at the registrar's domain, or a full ``sip:`` URI.

        ``headers`` are added to the INVITE as they are.
        """
        if target.lower().startswith(("sip:", "sips:")):
            uri = target
        else:
            uri = f"sip:{target}@{self.registrar or self.domain}"
        return self._stack._run_in_sip_thread(self._make_call, uri, dict(headers or {}))

    def wait_incoming(self, timeout: float = 5) -> Call:
        """The next incoming call not yet handed out by a ``wait_incoming*`` method."""
        return self._claim(lambda call: True, timeout, "incoming call")

    def wait_incoming_for(self, number: str, timeout: float = 5) -> Call:
        """The next not yet handed out incoming call whose request-URI user is ``number``."""
        return self._claim(
            lambda call: call.request_user == number, timeout, f"incoming call for {number!r}"
        )

    def hangup_all(self) -> None:
        """End every call of this phone that is not over yet (without waiting)."""
        self._stack._run_in_sip_thread(self._hangup_all)

    def close(self, timeout: float = 5) -> None:
        """Hang up, unregister, and give the port back (pjsua has room for 8 phones).

        Does nothing if the phone is closed already, also by ``SipStack.stop()``. A
        registrar that refuses the un-REGISTER (the extension was deleted, so it no
        longer knows this phone) does not stop the phone from closing.
        """
        if self._acc is None:
            return
        try:
            self.hangup_all()
            for call in [*self.incoming, *self._outgoing]:
                call.wait_disconnected(timeout)
            with contextlib.suppress(RegistrationError):
                self.unregister(timeout)
        finally:
            self._stack._run_in_sip_thread(self._stack._close_phone, self)

    # -- SIP thread ----------------------------------------------------------------------

    def _live_account(self) -> _PjAccount:
        if self._acc is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._acc

    def _change_registration(self, renew: bool, timeout: float) -> None:
        if self.registrar is None:
            raise RuntimeError(f"{self!r} was made with registrar=None and cannot register")
        answers_before = self._stack._run_in_sip_thread(self._send_register, renew)
        action = "REGISTER" if renew else "un-REGISTER"
        self._stack._wait_for(
            lambda: True if self._reg_answers > answers_before else None,
            timeout,
            lambda: f"{self.username}: no answer to {action} from {self.registrar}",
        )
        code, reason = self._reg_status
        if not 200 <= code < 300:
            raise RegistrationError(
                f"{self.username}: {action} at {self.registrar} failed: {code} {reason}", code
            )

    def _send_register(self, renew: bool) -> int:
        answers_before = self._reg_answers
        self._live_account().setRegistration(renew)
        return answers_before

    def _on_reg_state(self, code: int, reason: str, expiration: int) -> None:
        with self._stack._cond:
            self._reg_status = (code, reason)
            self._registered = 200 <= code < 300 and expiration > 0
            self._reg_answers += 1
            self._stack._cond.notify_all()

    def _make_call(self, uri: str, headers: dict[str, str]) -> Call:
        call = Call(self, "out", request_uri=uri)
        pj_call = _PjCall(self._live_account(), call, pj.PJSUA_INVALID_ID)
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        for name, value in headers.items():
            header = pj.SipHeader()
            header.hName = name
            header.hValue = value
            prm.txOption.headers.append(header)
        call.arrived_at = time.monotonic()
        call._pj = pj_call
        pj_call.makeCall(uri, prm)
        self._stack._calls.append(call)
        info = pj_call.getInfo()
        call.from_header, call.to_header = info.localUri, info.remoteUri
        call.sip_call_id = info.callIdString
        self._outgoing.append(call)
        return call

    def _on_incoming(self, call_id: int, raw_invite: str) -> None:
        arrived_at = time.monotonic()
        start_line, headers = parse_sip_message(raw_invite)
        call = Call(self, "in", request_uri=start_line.split()[1], invite_headers=headers)
        call.arrived_at = arrived_at
        call._pj = _PjCall(self._live_account(), call, call_id)
        self._stack._calls.append(call)
        with self._stack._cond:
            self.incoming.append(call)
            self._stack._cond.notify_all()
        self._apply_policy(call, self.policy)

    def _apply_policy(self, call: Call, policy: IncomingPolicy) -> None:
        if policy.action == "reject":
            call._reject(policy.code)
            return
        if policy.action == "ignore":
            return
        call._answer(180)
        if policy.action == "answer":
            if policy.delay > 0:
                self._stack._schedule(policy.delay, call._answer_if_still_ringing)
            else:
                call._answer(200)

    def _hangup_all(self) -> None:
        for call in [*self.incoming, *self._outgoing]:
            call._hangup()

    def _claim(self, wanted: Callable[[Call], bool], timeout: float, what: str) -> Call:
        def first_unclaimed() -> Call | None:
            for call in self.incoming:
                if not call._claimed and wanted(call):
                    call._claimed = True
                    return call
            return None

        def failure() -> str:
            seen = [call.request_uri for call in self.incoming]
            return f"{self.username} ({self.uri}): no {what}; incoming so far: {seen}"

        return self._stack._wait_for(first_unclaimed, timeout, failure)


# --------------------------------------------------------------------------- call


class Call:
    """One call leg of a phone. Attributes are kept up to date by the SIP thread."""

    def __init__(
        self,
        phone: Phone,
        direction: Literal["in", "out"],
        *,
        request_uri: str,
        invite_headers: SipHeaders | None = None,
    ) -> None:
        self.phone = phone
        self.direction = direction
        self.arrived_at = 0.0  # time.monotonic() when the INVITE arrived / was sent
        self.request_uri = request_uri
        self.invite_headers = invite_headers if invite_headers is not None else SipHeaders()
        # The request that ended the call from the other side, with its headers.
        self.ended_by: tuple[str, SipHeaders] | None = None
        self.from_header = self.invite_headers.get("From", "")
        self.to_header = self.invite_headers.get("To", "")
        self.sip_call_id = self.invite_headers.get("Call-ID", "")
        self.state = "incoming" if direction == "in" else "calling"
        self.last_status = 0
        self.disconnect_reason = ""
        self.received_dtmf = ""
        self._stack = phone._stack
        self._pj: _PjCall | None = None
        self._states_seen = {self.state}
        self._ringing_seen = False
        self._claimed = False
        self._audio_index: int | None = None
        self._rtp_of_ended_streams = 0

    def __repr__(self) -> str:
        peer = f"from {self.from_header}" if self.direction == "in" else f"to {self.request_uri}"
        return (
            f"<Call {self.phone.username} {self.direction} {peer} state={self.state} "
            f"last_status={self.last_status}>"
        )

    @property
    def request_user(self) -> str:
        """The user part of the request-URI: the dialled number on a carrier phone."""
        return sip_uri_user(self.request_uri)

    # -- commands --------------------------------------------------------------------------

    def answer(self, code: int = 200) -> None:
        """Send a 180, 183 (with early media) or 200 to an incoming call."""
        self._stack._run_in_sip_thread(self._answer, code)

    def reject(self, code: int = 486) -> None:
        """Refuse an incoming call that is not answered yet with a final ``code``."""
        self._stack._run_in_sip_thread(self._reject, code)

    def hangup(self) -> None:
        """CANCEL, decline or BYE, whatever fits the state; nothing if already over."""
        self._stack._run_in_sip_thread(self._hangup)

    def send_dtmf(self, digits: str) -> None:
        """Send ``digits`` as RFC 4733 telephone-events in the RTP stream."""
        self._stack._run_in_sip_thread(lambda: self._live("send DTMF").dialDtmf(digits))

    def hold(self) -> None:
        """Put the other party on hold: a re-INVITE offering sendonly media."""
        self._stack._run_in_sip_thread(
            lambda: self._live("hold").setHold(pj.CallOpParam(True)))

    def unhold(self) -> None:
        """Take the other party off hold: a re-INVITE offering sendrecv media again."""
        def reinvite() -> None:
            param = pj.CallOpParam(True)
            param.opt.flag = pj.PJSUA_CALL_UNHOLD
            self._live("unhold").reinvite(param)
        self._stack._run_in_sip_thread(reinvite)

    def rtp_received(self) -> int:
        """RTP packets received on the audio stream so far (0 before media starts)."""
        return self._stack._run_in_sip_thread(self._rtp_received)

    # -- waits -----------------------------------------------------------------------------

    def wait_state(self, state: str, timeout: float = 5) -> None:
        """Wait until the call has been in ``state`` (it may have moved on since)."""
        if state not in CALL_STATES:
            raise ValueError(f"unknown call state {state!r}; one of {CALL_STATES}")
        self._wait(lambda: state in self._states_seen, timeout, f"reach state {state!r}")

    def wait_ringing(self, timeout: float = 5) -> None:
        """Wait for a 180 or 183 (sent, on an incoming call)."""
        self._wait(lambda: self._ringing_seen, timeout, "ring (180/183)")

    def wait_answered(self, timeout: float = 5) -> None:
        self.wait_state("confirmed", timeout)

    def wait_disconnected(self, timeout: float = 5) -> None:
        self.wait_state("disconnected", timeout)

    def wait_rtp(self, packets: int, timeout: float = 5) -> None:
        """Wait until ``packets`` more RTP packets have arrived than when called: audio
        flows. Polled, as pjsua reports no event per packet."""
        wanted = self.rtp_received() + packets
        deadline = time.monotonic() + timeout
        while (received := self.rtp_received()) < wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self!r}: {packets - (wanted - received)} of {packets} "
                                   f"RTP packets in {timeout:g}s")
            time.sleep(0.05)

    def wait_dtmf(self, digits: str, timeout: float = 5) -> None:
        """Wait until ``digits`` occur in what was received so far."""
        self._stack._wait_for(
            lambda: True if digits in self.received_dtmf else None,
            timeout,
            lambda: f"{self!r} did not receive DTMF {digits!r}; got {self.received_dtmf!r}",
        )

    def _wait(self, reached: Callable[[], bool], timeout: float, goal: str) -> None:
        self._stack._wait_for(
            lambda: True if reached() else None,
            timeout,
            lambda: f"{self!r} did not {goal} (reason {self.disconnect_reason!r})",
            hopeless=lambda: self.state == "disconnected",
        )

    # -- SIP thread ------------------------------------------------------------------------

    def _live(self, action: str) -> _PjCall:
        """The pjsua2 call, unless the call is over (its slot may belong to another call)."""
        if self._pj is None or self.state == "disconnected":
            raise RuntimeError(f"cannot {action}: {self!r} is over")
        return self._pj

    def _answer(self, code: int) -> None:
        if self.direction != "in":
            raise RuntimeError(f"cannot answer {self!r}: it is an outgoing call")
        prm = pj.CallOpParam()
        prm.statusCode = code
        self._live(f"answer {code}").answer(prm)

    def _answer_if_still_ringing(self) -> None:
        if self.state in ("incoming", "early"):
            self._answer(200)

    def _reject(self, code: int) -> None:
        if self.direction != "in":
            raise RuntimeError(f"cannot reject {self!r}: it is an outgoing call")
        prm = pj.CallOpParam()
        prm.statusCode = code
        self._live(f"reject with {code}").hangup(prm)

    def _hangup(self) -> None:
        if self._pj is not None and self.state != "disconnected":
            self._pj.hangup(pj.CallOpParam())

    def _rtp_received(self) -> int:
        if self._pj is None or self._audio_index is None or self.state == "disconnected":
            return self._rtp_of_ended_streams
        stat = self._pj.getStreamStat(self._audio_index)
        return int(self._rtp_of_ended_streams + stat.rtcp.rxStat.pkt)

    def _on_request(self, raw: str) -> None:
        """Keep the headers of a CANCEL or BYE that ended the call (Reason, ...)."""
        if raw.startswith(("CANCEL ", "BYE ")):
            method = raw.split(" ", 1)[0]
            self.ended_by = (method, parse_sip_message(raw)[1])

    def _on_state(self, info: Any) -> None:
        with self._stack._cond:
            self.state = _STATE_NAMES.get(info.state, self.state)
            self.last_status = info.lastStatusCode
            if 180 <= info.lastStatusCode < 190:
                self._ringing_seen = True
            if self.state == "disconnected":
                self.disconnect_reason = info.lastReason
            self._states_seen.add(self.state)
            self._stack._cond.notify_all()

    def _on_media(self, info: Any) -> None:
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self._audio_index = media.index

    def _on_stream_destroyed(self, index: int) -> None:
        if self._pj is not None and index == self._audio_index:
            self._rtp_of_ended_streams += self._pj.getStreamStat(index).rtcp.rxStat.pkt
            self._audio_index = None

    def _on_dtmf(self, digit: str) -> None:
        with self._stack._cond:
            self.received_dtmf += digit
            self._stack._cond.notify_all()
