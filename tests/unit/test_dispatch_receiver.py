"""The recording HTTP server that stands for the taxi company's dispatch system."""

from __future__ import annotations

import http.client
import threading
import time

import httpx
import pytest

from tests.support.dispatch_receiver import DispatchReceiver


def test_records_method_path_query_headers_and_json_body(receiver: DispatchReceiver) -> None:
    before = time.monotonic()
    response = httpx.post(
        f"{receiver.url}/telephony/ringing%20now?call=abc&tag=1&tag=2&empty=",
        content=b'{"from": "+442071234567"}',
        headers={"X-Api-Key": "k1", "Content-Type": "application/json"},
    )

    assert response.status_code == 200 and response.content == b""
    [request] = receiver.wait_for("/telephony/ringing now")
    assert request.method == "POST"
    assert request.raw_path == "/telephony/ringing%20now"
    assert request.path == "/telephony/ringing now"
    assert request.query == {"call": ["abc"], "tag": ["1", "2"], "empty": [""]}
    assert request.headers["x-api-key"] == "k1"
    assert request.headers["CONTENT-TYPE"] == "application/json"
    assert request.json == {"from": "+442071234567"}
    assert request.body == b'{"from": "+442071234567"}'
    assert before <= request.received_at <= time.monotonic()


def test_a_body_that_is_not_json_is_kept_raw(receiver: DispatchReceiver) -> None:
    httpx.put(f"{receiver.url}/raw", content=b"not {json")
    [request] = receiver.wait_for("/raw")
    assert (request.method, request.body, request.json) == ("PUT", b"not {json", None)


def test_reads_a_chunked_body(receiver: DispatchReceiver) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", int(receiver.url.rsplit(":", 1)[1]))
    connection.request(
        "POST",
        "/chunked",
        body=iter([b'{"a": ', b"1}"]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    assert connection.getresponse().status == 200
    connection.close()
    [request] = receiver.wait_for("/chunked")
    assert request.json == {"a": 1}


def test_answers_a_redirect_for_a_matching_path_only(receiver: DispatchReceiver) -> None:
    receiver.respond(307, headers={"Location": "john@example.com"}, match="/telephony/ringing")

    redirected = httpx.post(f"{receiver.url}/api/v1/telephony/ringing", json={})
    other = httpx.post(f"{receiver.url}/api/v1/telephony/answered", json={})

    assert redirected.status_code == 307
    assert redirected.headers["location"] == "john@example.com"
    assert other.status_code == 200


def test_the_longest_matching_suffix_wins_and_dict_bodies_are_json(
    receiver: DispatchReceiver,
) -> None:
    receiver.respond(500)
    receiver.respond(404, match="/ringing")
    receiver.respond(200, body={"driver": "john"}, match="/telephony/ringing")

    assert httpx.get(f"{receiver.url}/x/telephony/ringing").json() == {"driver": "john"}
    assert httpx.get(f"{receiver.url}/x/ringing").status_code == 404
    assert httpx.get(f"{receiver.url}/x/other").status_code == 500


def test_delay_answers_slowly_but_records_at_once(receiver: DispatchReceiver) -> None:
    """The request is recorded when it arrives, not when its delayed answer goes: the
    client still waits for its answer when the receiver has the request."""
    receiver.respond(200, delay=1.0)
    answered: list[float] = []
    client = threading.Thread(
        target=lambda: answered.append(httpx.get(f"{receiver.url}/slow").elapsed.total_seconds())
    )
    client.start()

    receiver.wait_for("/slow", timeout=5)
    assert client.is_alive() and answered == []
    client.join()
    assert answered[0] >= 1.0


def test_refuse_then_accept_on_the_same_url(receiver: DispatchReceiver) -> None:
    url = receiver.url
    receiver.refuse()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/while-refusing")

    receiver.accept()
    assert receiver.url == url
    assert httpx.get(f"{url}/after").status_code == 200
    assert [request.path for request in receiver.requests] == ["/after"]


def test_wait_for_counts_matches_and_takes_a_predicate(receiver: DispatchReceiver) -> None:
    for ride in ("1", "2", "3"):
        httpx.post(f"{receiver.url}/rides", json={"ride": ride})
    httpx.post(f"{receiver.url}/other", json={"ride": "2"})

    two = receiver.wait_for("/rides", count=2)
    assert [r.json["ride"] for r in two] == ["1", "2"]
    by_body = receiver.wait_for(lambda r: r.json == {"ride": "2"}, count=2)
    assert [r.path for r in by_body] == ["/rides", "/other"]


def test_wait_for_times_out_naming_what_came(receiver: DispatchReceiver) -> None:
    httpx.get(f"{receiver.url}/unrelated")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"'/telephony/ringing'.*got 0.*GET /unrelated"):
        receiver.wait_for("/telephony/ringing", timeout=0.3)
    assert time.monotonic() - started >= 0.3


def test_clear_forgets_requests(receiver: DispatchReceiver) -> None:
    httpx.get(f"{receiver.url}/before")
    receiver.wait_for("/before")
    receiver.clear()
    httpx.get(f"{receiver.url}/after")

    receiver.wait_for("/after")
    assert [request.path for request in receiver.requests] == ["/after"]
