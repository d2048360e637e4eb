"""What the served process (waitress) answers itself, before the app sees a request:
in the error body of the request's surface, as the app's own errors are (it was
waitress's text/plain)."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from waitress.adjustments import Adjustments

from tests.support.bridge_process import BridgeProcess

HEADER_LIMIT = Adjustments.max_request_header_size  # ringbridge keeps waitress's limit


def exchange(bridge: BridgeProcess, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send raw bytes, read the answer to the end: status, headers, JSON body."""
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def oversized(path: str) -> bytes:
    """A request whose headers reach waitress's limit with their last byte (sent whole,
    nothing is left unread when waitress answers and closes)."""
    start = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ".encode()
    return start + b"a" * (HEADER_LIMIT - len(start))


@pytest.mark.parametrize(("path", "code_of"), [
    ("/api/extensions", lambda body: body["errors"][0]["code"]),
    ("/restapi/v1.0/account/~/extension/~/ring-out", lambda body: body["errorCode"]),
    ("/uapi/phoneCalls/@me/100", lambda body: body["error"]["code"]),
])
def test_oversized_headers_are_431_in_the_surfaces_format(
        bridge: BridgeProcess, path: str, code_of: Any) -> None:
    status, headers, body = exchange(bridge, oversized(path))
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert code_of(body) == {"/api/": "REQUEST_HEADERS_TOO_LARGE", "/restapi/": "CMN-431",
                             "/uapi/": "request_headers_too_large"}[path[:path.index("/", 1) + 1]]
    assert "Header Fields Too Large" in json.dumps(body)


def test_a_request_waitress_cannot_parse_is_400_in_the_surfaces_format(
        bridge: BridgeProcess) -> None:
    status, headers, body = exchange(
        bridge, b"GET /uapi/phoneCalls/@me/100 HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon\r\n\r\n")
    assert (status, headers["content-type"]) == (400, "application/json")
    assert body["error"]["code"] == "invalid_request"
    assert bridge.health().status_code == 200
