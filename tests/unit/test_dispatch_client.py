"""The dispatch client against a real local HTTP server, with an in-memory outbox."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bridge.dispatch.client import TENANT_LIMITS, DispatchClient
from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.deliveries import Delivery
from bridge.dispatch.signing import new_secret
from tests.support.dispatch_receiver import DispatchReceiver
from tests.unit.async_support import eventually, run
from tests.unit.dispatch_outbox import MemoryStore, config_for, running

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handle: Handler) -> AsyncIterator[str]:
    """A local asyncio HTTP server answering each connection with `handle`; its URL."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


def post(config: DispatchConfig, event: str, call_id: str = "C1") -> Delivery:
    return Delivery.new(config, call_id, event, "POST", config.url(event),
                        f'{{"callId": "{call_id}", "event": "{event}"}}')


def test_a_refused_then_failing_dispatcher_gets_the_event_after_recovery(
        receiver: DispatchReceiver) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store, retry_initial=0.05, retry_maximum=0.1) as client:
            config = config_for(receiver)
            receiver.refuse()
            client.reliably(config, post(config, "connected"))
            await eventually(lambda: any(o and o.error for _, _, o in store.rows.values()), 3)
            receiver.respond(500)
            receiver.accept()
            await asyncio.to_thread(receiver.wait_for, "/telephony/connected", 2, 3)
            receiver.respond(200)
            await eventually(lambda: store.states() == ["delivered"], 3)
            delivery, _, outcome = store.rows[1]
            assert delivery.attempts >= 3 and outcome is not None and outcome.http_status == 200
    run(scenario())


def test_events_of_one_call_arrive_in_order_even_when_the_first_is_retried(
        receiver: DispatchReceiver) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store, retry_initial=0.05, retry_maximum=0.1) as client:
            config = config_for(receiver)
            receiver.respond(503, match="/connected")
            client.reliably(config, post(config, "connected"))
            client.reliably(config, post(config, "cleared"))
            await asyncio.to_thread(receiver.wait_for, "/telephony/connected", 2, 3)
            assert client.outbox == 2  # both wait: `ringbridge status` shows them
            receiver.respond(200, match="/connected")
            await eventually(lambda: store.states() == ["delivered", "delivered"], 3)
            await eventually(lambda: client.outbox == 0, 3)
            events = [r.path.rsplit("/", 1)[1] for r in receiver.requests]
            assert events[-2:] == ["connected", "cleared"] and "cleared" not in events[:-1]
    run(scenario())


def test_a_4xx_answer_is_not_retried(receiver: DispatchReceiver) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store, retry_initial=0.05) as client:
            config = config_for(receiver)
            receiver.respond(404)
            client.reliably(config, post(config, "missed"))
            await eventually(lambda: store.states() == ["failed"], 3)
            assert len(receiver.requests) == 1
    run(scenario())


def test_retries_stop_when_the_window_closes(receiver: DispatchReceiver) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store, retry_initial=0.05, retry_maximum=0.05) as client:
            config = config_for(receiver, retry_seconds=0)
            receiver.respond(500)
            client.reliably(config, post(config, "cleared"))
            await eventually(lambda: store.states() == ["failed"], 3)
            assert len(receiver.requests) == 1
    run(scenario())


def test_stored_deliveries_are_resumed_on_start(receiver: DispatchReceiver) -> None:
    async def scenario() -> None:
        config = config_for(receiver)
        stored = post(config, "cleared", call_id="C9")
        stored.id, stored.attempts = 7, 2
        store = MemoryStore(resumable=[(stored, config)])
        store.rows[7] = (stored, "pending", None)
        async with running(store):
            request = (await asyncio.to_thread(receiver.wait_for, "/telephony/cleared"))[0]
            assert request.json == {"callId": "C9", "event": "cleared"}
            assert request.headers["webhook-id"] is None  # no secret: unsigned
            await eventually(lambda: store.rows[7][1] == "delivered", 3)
            assert store.rows[7][0].attempts == 3
    run(scenario())


def test_once_gives_up_waiting_at_the_deadline_but_logs_the_late_answer(
        receiver: DispatchReceiver) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store) as client:
            config = config_for(receiver)
            # The answer comes long after the deadline, so that giving up at the deadline
            # and waiting for the answer stay apart even on a loaded machine.
            receiver.respond(307, headers={"Location": "john@example.com"}, delay=1.0)
            started = asyncio.get_running_loop().time()
            outcome = await client.once(config, post(config, "ringing"), deadline=0.05)
            assert outcome is None
            assert asyncio.get_running_loop().time() - started < 0.6
            await eventually(lambda: len(store.logged) == 1, 5)
            _, late, state = store.logged[0]
            assert (late.http_status, late.location, state) == (307, "john@example.com",
                                                                "delivered")
    run(scenario())


def test_signed_requests_carry_the_three_headers(receiver: DispatchReceiver) -> None:
    async def scenario() -> None:
        async with running(MemoryStore()) as client:
            config = config_for(receiver, signing_secret="whsec_" + "A" * 44,
                                headers={"Authorization": "Bearer t0k"})
            outcome = await client.once(config, post(config, "ringing"), deadline=2)
            assert outcome is not None and outcome.http_status == 200
            headers = receiver.requests[0].headers
            assert headers["webhook-id"].startswith("msg_")
            assert headers["webhook-signature"].startswith("v1,")
            assert headers["authorization"] == "Bearer t0k"
            assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 5
    run(scenario())


def test_a_dispatcher_verifies_the_invite_query_and_the_post_body_with_the_library(
        receiver: DispatchReceiver) -> None:
    """As a dispatcher writes it with the Standard Webhooks reference library: the GET's
    signature covers its query string, a POST's its body. The invite's signature used to
    cover only an empty body: its query could be changed (another phoneNumber) and the
    headers replayed."""
    secret = new_secret()

    async def scenario() -> None:
        async with running(MemoryStore()) as client:
            config = config_for(receiver, signing_secret=secret, company_in_path=True)
            query = {"companyId": "ABC Taxis", "phoneNumber": "+447700900123",
                     "queueId": "main@exampletaxis.com", "callId": "C1"}
            invite = Delivery.new(config, "C1", "invite", "GET", config.url("invite", query),
                                  None)
            for delivery in (invite, post(config, "ringing")):
                outcome = await client.once(config, delivery, deadline=2)
                assert outcome is not None and outcome.http_status == 200
    run(scenario())
    get, ringing = receiver.requests
    webhook = Webhook(secret)
    assert get.raw_query == ("companyId=ABC%20Taxis&phoneNumber=%2B447700900123"
                             "&queueId=main%40exampletaxis.com&callId=C1")
    assert webhook.verify(get.raw_query, dict(get.headers.items()), json_parse=False) is None
    assert webhook.verify(ringing.body, dict(ringing.headers.items())) == {
        "callId": "C1", "event": "ringing"}
    replayed = get.raw_query.replace("900123", "900999")
    for forged in (replayed, "", get.raw_query + "&agentId=x"):
        with pytest.raises(WebhookVerificationError):
            webhook.verify(forged, dict(get.headers.items()), json_parse=False)


def test_give_up_time_comes_from_the_retry_window() -> None:
    config = DispatchConfig(tenant_id=1, company_id="x", base_url="http://x", retry_seconds=60)
    delivery = post(config, "cleared")
    assert timedelta(seconds=59) < delivery.give_up_at - delivery.created_at \
        <= timedelta(seconds=61)


def test_a_later_event_is_stored_at_once_while_an_earlier_one_is_retried(
        receiver: DispatchReceiver) -> None:
    """So a restart in the middle loses neither (the later one used to wait unstored)."""
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store, retry_initial=5, retry_maximum=5) as client:
            config = config_for(receiver)
            receiver.respond(503)
            client.reliably(config, post(config, "missed"))
            client.reliably(config, post(config, "cleared"))
            await eventually(lambda: len(store.rows) == 2, 3)
            assert [d.event for d, _, _ in store.rows.values()] == ["missed", "cleared"]
            await asyncio.to_thread(receiver.wait_for, "/telephony/missed")
            assert [r.path for r in receiver.requests] == ["/telephony/missed"]
    run(scenario())


def test_a_hung_dispatcher_of_one_tenant_does_not_hold_up_another_tenants_ringing(
        receiver: DispatchReceiver) -> None:
    """Tenant 1's dispatcher takes connections and never answers, more of them than a
    pool holds; tenant 2's `ringing` still goes out at once."""
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()  # until the client hangs up
        writer.close()

    async def scenario() -> None:
        async with serving(never_answer) as hung_url, running(MemoryStore()) as client:
            hung = DispatchConfig(tenant_id=1, company_id="A", base_url=hung_url,
                                  delivery_timeout=10)
            assert TENANT_LIMITS.max_connections is not None
            for n in range(TENANT_LIMITS.max_connections + 20):
                client.spawn(client.once(hung, post(hung, "ringing", f"A{n}"), deadline=10))
            await eventually(lambda: len(held) == TENANT_LIMITS.max_connections, 5)
            other = config_for(receiver, tenant_id=2)
            started = asyncio.get_running_loop().time()
            outcome = await client.once(other, post(other, "ringing"), deadline=1.5)
            assert outcome is not None and outcome.http_status == 200
            assert asyncio.get_running_loop().time() - started < 1.0
    run(scenario())


def test_a_dispatcher_trickling_its_answer_is_cut_at_the_delivery_timeout() -> None:
    """A byte every 50 ms keeps each read inside httpx's timeout; the whole request is
    still given up at `delivery_timeout_ms`."""
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        try:
            while not writer.is_closing():
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        writer.close()

    async def scenario() -> None:
        async with serving(trickle) as url, running(MemoryStore()) as client:
            config = DispatchConfig(tenant_id=1, company_id="A", base_url=url,
                                    delivery_timeout=0.5)
            outcome = await client.once(config, post(config, "ringing"), deadline=5)
            assert outcome is not None and outcome.http_status is None
            assert outcome.error == "no whole answer within 0.5 s"
            assert 450 <= outcome.latency_ms < 1500
    run(scenario())


def test_deliveries_whose_claim_lapses_later_are_taken_over_once_and_claims_renewed(
        receiver: DispatchReceiver) -> None:
    """A node that stopped renewing (e.g. killed) leaves its deliveries to the others,
    which look for them on every renewal; closing down gives up this node's claims."""
    async def scenario() -> None:
        store = MemoryStore()
        config = config_for(receiver)
        async with running(store, renew_every=0.05):
            await eventually(lambda: store.renewals >= 1, 3)
            assert receiver.requests == []
            stored = post(config, "missed", call_id="C8")
            stored.id = 4
            store.rows[4] = (stored, "pending", None)
            store.resumable = [(stored, config)]
            await eventually(lambda: store.rows[4][1] == "delivered", 3)
            renewals = store.renewals
            await eventually(lambda: store.renewals >= renewals + 2, 3)
            assert [r.path for r in receiver.requests] == ["/telephony/missed"]
            assert not store.released
        assert store.released
    run(scenario())


def test_claims_are_renewed_again_after_the_database_was_away(
        caplog: pytest.LogCaptureFixture) -> None:
    """Each failed turn is a warning that says why, not an error with a traceback."""
    async def scenario() -> None:
        store = MemoryStore(renew_failures=2)
        async with running(store, renew_every=0.02):
            await eventually(lambda: store.renewals >= 1, 3)
            assert store.renew_failures == 0

    with caplog.at_level(logging.WARNING, logger="bridge.dispatch.client"):
        run(scenario())
    assert [(r.levelno, r.exc_info) for r in caplog.records] == [(logging.WARNING, None)] * 2
    assert "the database is unavailable" in caplog.records[0].getMessage()


def test_closing_with_the_database_away_still_closes() -> None:
    """The claims are not given up then: they lapse, and another node resumes them."""
    class AwayAtStop(MemoryStore):
        def release(self) -> None:
            raise ConnectionError("database away")

    async def scenario() -> None:
        async with running(AwayAtStop()) as client:
            assert client is not None

    run(scenario())


def test_a_tenants_first_event_loads_no_certificates_on_the_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each tenant's pool shares the client's TLS context: making one loaded the CA
    bundle again (tens of ms), holding up every call on the engine's loop."""
    client = DispatchClient(MemoryStore())
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        original(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    assert client._client_for(1) is not client._client_for(2)
    assert loads == []


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:abc", "http://127.0.0.1/\nx"])
def test_a_url_the_client_refuses_fails_the_event_at_once_and_is_not_retried(
        base_url: str) -> None:
    """A base_url stored before it was checked strictly: the client raised, out of the
    call's invite (which ended the call)."""
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store, retry_initial=0.05) as client:
            config = DispatchConfig(tenant_id=1, company_id="ABC Taxis", base_url=base_url)
            outcome = await client.once(config, post(config, "invite"), 1)
            assert outcome is not None and outcome.final
            assert outcome.error is not None and outcome.error.startswith("InvalidURL")
            await eventually(lambda: [s for _, _, s in store.logged] == ["failed"], 3)
            client.reliably(config, post(config, "connected"))
            await eventually(lambda: store.states() == ["failed"], 3)
            await asyncio.sleep(0.2)
            assert store.rows[1][0].attempts == 1
    run(scenario())


def test_an_event_the_outbox_cannot_take_is_delivered_all_the_same(
        receiver: DispatchReceiver, caplog: pytest.LogCaptureFixture) -> None:
    """The database restarting: the dispatcher still hears of the call (from memory)."""
    async def scenario() -> None:
        store = MemoryStore(away=True)
        async with running(store) as client:
            config = config_for(receiver)
            client.reliably(config, post(config, "ringing", call_id="C9"))
            await asyncio.to_thread(receiver.wait_for, "/telephony/ringing", 1, 3)
            assert store.rows == {}
    run(scenario())
    assert ("dispatch ringing for call C9 not stored (ConnectionError: database away): "
            "delivered from memory only") in caplog.text


def test_an_attempt_the_outbox_cannot_note_does_not_stop_the_delivery(
        receiver: DispatchReceiver, caplog: pytest.LogCaptureFixture) -> None:
    """Stored, then the database goes away: the retries go on and the event arrives;
    its row stays pending, to be sent again after a restart (at least once)."""
    async def scenario() -> None:
        store = MemoryStore()
        async with running(store, retry_initial=0.05, retry_maximum=0.1) as client:
            config = config_for(receiver)
            receiver.respond(503)
            client.reliably(config, post(config, "connected", call_id="C10"))
            await eventually(lambda: len(store.rows) == 1, 3)
            store.away = True
            await asyncio.to_thread(receiver.wait_for, "/telephony/connected", 2, 3)
            receiver.respond(200)
            await asyncio.to_thread(receiver.wait_for, "/telephony/connected", 3, 3)
            await eventually(lambda: client.outbox == 0, 3)
            assert store.states() == ["pending"]
    run(scenario())
    assert "dispatch connected for call C10: attempt " in caplog.text
    assert "not noted in the outbox (ConnectionError: database away)" in caplog.text
