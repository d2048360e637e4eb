"""A member's call through another Asterisk node of the cluster: asked of every other
node's ARI at once; a node that does not answer counts as seeing no call."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from bridge.engine.other_asterisks import OtherAsterisks

CHANNELS = {"127.0.0.12": {"2001@acme.example": ["1764.7"]}, "127.0.0.13": {}}


def handler(request: httpx.Request) -> httpx.Response:
    host = request.url.host
    if host not in CHANNELS:
        raise httpx.ConnectError("connection refused", request=request)
    assert request.headers["authorization"].startswith("Basic ")
    endpoint = request.url.path.removeprefix("/ari/endpoints/PJSIP/")
    return httpx.Response(200, json={"resource": endpoint, "state": "online",
                                     "channel_ids": CHANNELS[host].get(endpoint, [])})


def on_a_call(hosts: list[str], endpoint_id: str) -> bool:
    async def ask() -> bool:
        others = OtherAsterisks([f"http://{host}:8088/ari" for host in hosts], "rb", "pw",
                                transport=httpx.MockTransport(handler))
        try:
            return await others.on_a_call(endpoint_id)
        finally:
            await others.close()
    return asyncio.run(ask())


def test_a_channel_on_any_other_node_is_a_call() -> None:
    assert on_a_call(["127.0.0.13", "127.0.0.12"], "2001@acme.example")
    assert not on_a_call(["127.0.0.13", "127.0.0.12"], "2002@acme.example")


def test_a_node_that_does_not_answer_sees_no_call_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert not on_a_call(["127.0.0.14"], "2001@acme.example")
    assert "endpoint 2001@acme.example: http://127.0.0.14:8088/ari" in caplog.text
    assert "taken as not, and not asked again for 5 s" in caplog.text


def test_a_node_that_did_not_answer_is_not_asked_again_at_once() -> None:
    asked: list[str] = []

    def refusing(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        raise httpx.ConnectError("connection refused", request=request)

    async def twice() -> list[bool]:
        others = OtherAsterisks(["http://127.0.0.14:8088/ari"], "rb", "pw",
                                transport=httpx.MockTransport(refusing))
        try:
            return [await others.on_a_call("2001@acme.example") for _ in range(2)]
        finally:
            await others.close()

    assert asyncio.run(twice()) == [False, False]
    assert len(asked) == 1
