"""`ringbridge dispatch-receiver`: prints events, checks signatures, redirects once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from bridge.dispatch.receiver import Receiver
from bridge.dispatch.signing import new_secret, signature_headers, signed_content

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


def test_an_invites_signature_is_checked_against_its_query(
        reference: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    """What ringbridge signs for a GET (the query as sent) passes; the same headers on
    another phoneNumber do not."""
    url = (f"http://127.0.0.1:{reference.server_address[1]}/telephony/invite"
           "?companyId=ABC%20Taxis&phoneNumber=%2B447700900123&callId=C1")
    signed = signature_headers(SECRET, "msg_2", signed_content(url, None))
    assert httpx.get(url, headers=signed).status_code == 200
    assert httpx.get(url.replace("900123", "900999"), headers=signed).status_code == 200
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("/invite?companyId=ABC%20Taxis&phoneNumber=%2B447700900123"
                             "&callId=C1 -> 200  [signature ok]")
    assert "900999" in lines[1] and "[signature BAD: No matching signature found]" in lines[1]
