"""`ringbridge dispatch-receiver`: prints events, checks signatures, redirects once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from bridge.dispatch.receiver import Receiver
from bridge.dispatch.signing import new_secret, signature_headers

SECRET = new_secret()


@pytest.fixture
def reference() -> Iterator[Receiver]:
    server = Receiver(0, "mary@example.com", SECRET)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def post(server: Receiver, event: str, body: str, headers: dict[str, str]) -> httpx.Response:
    url = f"http://127.0.0.1:{server.server_address[1]}/telephony/{event}"
    return httpx.post(url, content=body, headers=headers)


def test_first_ringing_of_a_call_is_redirected_then_the_rest_pass(
        reference: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    body = '{"callId": "C1", "agentId": "john@example.com"}'
    signed = signature_headers(SECRET, "msg_1", body)
    first = post(reference, "ringing", body, signed)
    assert (first.status_code, first.headers["location"]) == (307, "mary@example.com")
    assert post(reference, "ringing", body, signed).status_code == 200
    assert post(reference, "connected", body, signed).status_code == 200
    bad = post(reference, "cleared", body, signed | {"webhook-signature": "v1,AAAA"})
    assert bad.status_code == 200
    out = capsys.readouterr().out
    assert "POST /telephony/ringing -> 307 mary@example.com [signature ok]" in out
    assert "[signature BAD" in out and '"agentId": "john@example.com"' in out
