"""A real HTTP server that records what it receives: the taxi company's dispatch system.

Tests point ringbridge at :attr:`DispatchReceiver.url`, say how to answer with
:meth:`DispatchReceiver.respond`, and wait for requests with :meth:`DispatchReceiver.wait_for`.
"""

from __future__ import annotations

import contextlib
import email.message
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    raw_path: str  # as on the request line, without the query
    path: str  # percent-decoded
    query: dict[str, list[str]]
    raw_query: str  # as on the request line, after `?` (what a GET's signature covers)
    headers: email.message.Message  # case-insensitive: headers["content-type"]
    body: bytes
    json: Any  # the body parsed as JSON, or None if it is not JSON
    received_at: float  # time.monotonic()


@dataclass(frozen=True)
class _Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    echo: tuple[str, ...] = ()  # request headers sent back as they came (a handshake)
    # Run on each request as it arrives, before the answer: what a dispatcher does first.
    react: Callable[[RecordedRequest], object] | None = None


class DispatchReceiver:
    """Records every request and answers it as told (200 with no body unless told otherwise)."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._cond = threading.Condition()
        self._answers: dict[str | None, _Answer] = {None: _Answer()}
        self._closing = threading.Event()  # cuts delayed answers short on stop()
        self._port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        self._closing.clear()
        self._listen()

    def stop(self) -> None:
        self._closing.set()
        self.refuse()

    def refuse(self) -> None:
        """Stop listening: connections to :attr:`url` are refused until :meth:`accept`."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections()
            thread.join()

    def accept(self) -> None:
        """Listen again, on the same port."""
        if self._server is None:
            self._listen()

    def respond(
        self,
        status: int = 200,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | dict[str, Any] = b"",
        delay: float = 0.0,
        match: str | None = None,
        echo: tuple[str, ...] = (),
        react: Callable[[RecordedRequest], object] | None = None,
    ) -> None:
        """Answer requests whose path ends with ``match`` like this (all others if None).

        A dict body is sent as JSON. ``delay`` seconds pass between receiving (and
        recording) the request and answering it. The longest matching suffix wins. The
        request headers named in ``echo`` are sent back when the request has them.
        ``react(request)`` runs as each request arrives, before it is answered.
        """
        headers = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        with self._cond:
            self._answers[match] = _Answer(status, headers, body, delay, echo, react)

    def wait_for(
        self, predicate: Callable[[RecordedRequest], bool] | str, count: int = 1, timeout: float = 5
    ) -> list[RecordedRequest]:
        """The first ``count`` recorded requests that match, once there are that many.

        A string predicate matches requests whose path ends with it.
        """
        matches = _matcher(predicate)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [request for request in self.requests if matches(request)]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{r.method} {r.path}" for r in self.requests]
                    raise TimeoutError(
                        f"dispatch receiver: wanted {count} request(s) matching {predicate!r} "
                        f"within {timeout:g}s, got {len(found)}; all received: {seen}"
                    )
                self._cond.wait(remaining)

    def clear(self) -> None:
        """Forget the recorded requests (the answers set with respond() stay)."""
        with self._cond:
            self.requests.clear()

    # -- serving ---------------------------------------------------------------------------

    def _listen(self) -> None:
        self._server = _Server(("127.0.0.1", self._port), _Handler, self)
        self._port = self._server.server_address[1]
        # serve_forever notices shutdown() only between polls: keep refuse() and stop() quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),
            name=f"dispatch-receiver:{self._port}",
            daemon=True,
        )
        self._thread.start()

    def _record(self, request: RecordedRequest) -> _Answer:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
            suffixes = [m for m in self._answers if m is not None and request.path.endswith(m)]
            return self._answers[max(suffixes, key=len) if suffixes else None]


def _matcher(
    predicate: Callable[[RecordedRequest], bool] | str,
) -> Callable[[RecordedRequest], bool]:
    if isinstance(predicate, str):
        suffix = predicate
        return lambda request: request.path.endswith(suffix)
    return predicate


class _Server(ThreadingHTTPServer):
    """Keeps connections alive between requests, as a real dispatcher's server would,
    and can drop them all (refuse() must mean no answer, kept-alive sockets included)."""

    daemon_threads = True  # a slow answer must not hold up stop()
    open_connections: set[socket.socket]

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        for connection in list(self.open_connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        receiver: DispatchReceiver,
    ) -> None:
        self.receiver = receiver
        self.open_connections = set()
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("dispatch receiver: " + format, *args)

    def _handle(self) -> None:
        receiver = self.server.receiver
        request = self._recorded()
        answer = receiver._record(request)
        if answer.react is not None:
            answer.react(request)
        if answer.delay and receiver._closing.wait(answer.delay):
            return  # stopping: the client gets a closed connection
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        for name in answer.echo:
            if name in self.headers:
                self.send_header(name, self.headers[name])
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _recorded(self) -> RecordedRequest:
        received_at = time.monotonic()
        split = urlsplit(self.path)
        body = self._read_body()
        return RecordedRequest(
            method=self.command,
            raw_path=split.path,
            path=unquote(split.path),
            query=parse_qs(split.query, keep_blank_values=True),
            raw_query=split.query,
            headers=self.headers,
            body=body,
            json=_json_or_none(body),
            received_at=received_at,
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunked(self) -> bytes:
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after the chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailer fields
        return b"".join(chunks)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None
