"""Telephony session notifications: call events as RingCentral sessions (pure), and the
notifier sending them to matching subscriptions through the dispatch client, to a real
local HTTP server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from standardwebhooks import Webhook

from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.signing import new_secret
from bridge.engine.session_notifier import SessionNotifier
from bridge.flows.call_log import CallLog
from bridge.flows.events import (
    CallArrived,
    CallEnded,
    CallEvent,
    MemberAnswered,
    MemberNotAnswered,
    MemberRinging,
    RingOutCalleeRinging,
    RingOutCallerAnswered,
    RingOutConnected,
    RingOutEnded,
    RingOutHungUp,
    RingOutLegFailed,
    RingOutStarted,
)
from bridge.gateway import CallState, LegState
from bridge.services.subscriptions import ActiveSubscription
from bridge.store.ids import encode_id
from bridge.surfaces.ringcentral.telephony_sessions import SessionTracker
from tests.support.dispatch_receiver import DispatchReceiver
from tests.unit.async_support import run
from tests.unit.dispatch_outbox import MemoryStore, running

TRYING, CONNECTED, NOT_REACHED = CallState.TRYING, CallState.CONNECTED, CallState.NOT_REACHED
CALLING, ANSWERED = LegState.CALLING, LegState.ANSWERED


def ringout_events(call_id: str = "R1") -> list[CallEvent]:
    """A RingOut of 3001's phone to +14155550150: answered, connected, hung up."""
    return [
        RingOutStarted(call_id=call_id, call=TRYING, caller=CALLING, callee=CALLING,
                       caller_number="3001", callee_number="+14155550150", tenant_id=1,
                       owner="3001"),
        RingOutCallerAnswered(call_id=call_id, leg="3001", call=TRYING, caller=ANSWERED,
                              callee=CALLING),
        RingOutCalleeRinging(call_id=call_id, leg="+14155550150", call=TRYING, caller=ANSWERED,
                             callee=CALLING),
        RingOutConnected(call_id=call_id, leg="+14155550150", call=CONNECTED, caller=ANSWERED,
                         callee=ANSWERED),
        RingOutHungUp(call_id=call_id, party="callee", call=CONNECTED, caller=LegState.HUNG_UP,
                      callee=LegState.HUNG_UP),
        RingOutEnded(call_id=call_id, why="callee hung up"),
    ]


def statuses(tracker: SessionTracker, events: list[CallEvent]) -> list[list[tuple[str, ...]]]:
    """Per change: each party's (number, code, reason)."""
    changes = [tracker.apply(event) for event in events]
    return [[(p.number, p.code, p.reason or "") for p in change.session.parties]
            for change in changes if change is not None]


def test_a_ringouts_parties_follow_its_leg_statuses() -> None:
    assert statuses(SessionTracker(), ringout_events()) == [
        [("3001", "Proceeding", "")],
        [("3001", "Answered", "")],
        [("3001", "Answered", ""), ("+14155550150", "Proceeding", "")],
        [("3001", "Answered", ""), ("+14155550150", "Answered", "")],
        [("3001", "Disconnected", "Finished"), ("+14155550150", "Disconnected", "Finished")],
    ]  # the end changes nothing more: no notification for it


def test_a_busy_callee_disconnects_its_party_with_the_ringout_status_as_reason() -> None:
    events = [*ringout_events("R2")[:3],
              RingOutLegFailed(call_id="R2", leg="+14155550150", failure=LegState.BUSY,
                               call=NOT_REACHED, caller=ANSWERED, callee=LegState.BUSY),
              RingOutEnded(call_id="R2", why="not reached")]
    assert statuses(SessionTracker(), events)[-2:] == [
        [("3001", "Answered", ""), ("+14155550150", "Disconnected", "Busy")],
        [("3001", "Disconnected", "Finished"), ("+14155550150", "Disconnected", "Busy")],
    ]


def test_a_hunted_calls_members_get_a_party_each_in_the_order_rung() -> None:
    events: list[CallEvent] = [
        CallArrived(call_id="H1", caller="+442071234567", dialled="6001",
                    label="ring group 6001", channel_id="ch", tenant_id=1),
        MemberRinging(call_id="H1", member="3001"),
        MemberRinging(call_id="H1", member="3002"),
        MemberNotAnswered(call_id="H1", member="3001", dial_status="BUSY", cause=17),
        MemberAnswered(call_id="H1", member="3002"),
        CallEnded(call_id="H1", why="caller hung up"),
    ]
    changes = statuses(SessionTracker(), events)
    assert changes[0] == [("+442071234567", "Proceeding", "")]
    assert changes[-2] == [("+442071234567", "Answered", ""), ("3001", "Disconnected", "Busy"),
                           ("3002", "Answered", "")]
    assert changes[-1] == [("+442071234567", "Disconnected", "Finished"),
                           ("3001", "Disconnected", "Busy"),
                           ("3002", "Disconnected", "Finished")]


def test_a_call_of_no_tenant_is_no_session() -> None:
    tracker = SessionTracker()
    assert tracker.apply(CallArrived(call_id="U1", caller="1", dialled="2", label="x",
                                     channel_id="c", tenant_id=None)) is None
    assert tracker.apply(MemberRinging(call_id="U1", member="3001")) is None


def subscription(key: int, receiver: DispatchReceiver, tenant_id: int = 1,
                 account_level: bool = False, extensions: dict[str, int] | None = None,
                 **config: Any) -> ActiveSubscription:
    return ActiveSubscription(key, tenant_id, 77, account_level, extensions or {},
                              DispatchConfig(tenant_id=tenant_id, company_id="ABC",
                                             base_url=f"{receiver.url}/hook/{key}", **config))


def test_notifications_go_to_the_subscriptions_that_follow_the_session(
        receiver: DispatchReceiver) -> None:
    secret = new_secret()
    live = [subscription(1, receiver, extensions={"3001": 501}, signing_secret=secret,
                         headers={"Verification-Token": "pass-phrase"}),
            subscription(2, receiver, account_level=True,
                         extensions={"3001": 501, "3002": 502}),
            subscription(3, receiver, extensions={"3002": 502}),  # not a party
            subscription(4, receiver, tenant_id=2, account_level=True)]  # another tenant
    reads: list[int] = []

    def index() -> list[ActiveSubscription]:
        reads.append(1)
        return live

    async def scenario() -> None:
        async with running(MemoryStore()) as client:
            call_log = CallLog()
            SessionNotifier(client, index, refresh=60).follow(call_log)
            for event in ringout_events():
                call_log.publish(event)
            await asyncio.to_thread(receiver.wait_for, "/hook/2", 5)
            await asyncio.to_thread(receiver.wait_for, "/hook/1", 5)

    run(scenario())
    assert reads == [1]  # one read for the whole call (refresh every 60 s)
    paths = sorted({request.path for request in receiver.requests})
    assert paths == ["/hook/1", "/hook/2"]
    first = [r for r in receiver.requests if r.path == "/hook/1"]
    assert [r.json["body"]["sequence"] for r in first] == [1, 2, 3, 4, 5]  # in order
    note = first[2].json
    account = encode_id(1)
    assert note["event"] == f"/restapi/v1.0/account/{account}/extension/{encode_id(501)}" \
                            "/telephony/sessions"
    assert (note["subscriptionId"], note["ownerId"]) == ("1", encode_id(77))
    session = note["body"]
    assert (session["sessionId"], session["telephonySessionId"]) == ("R1", "s-R1")
    assert session["origin"] == {"type": "RingOut"}
    assert session["parties"] == [
        {"id": "p-R1-1", "accountId": account, "direction": "Outbound",
         "extensionId": encode_id(501),
         "from": {"phoneNumber": "3001", "extensionId": encode_id(501)},
         "to": {"phoneNumber": "+14155550150"}, "status": {"code": "Answered"},
         "missedCall": False, "standAlone": False, "muted": False},
        {"id": "p-R1-2", "accountId": account, "direction": "Inbound",
         "from": {"phoneNumber": "3001", "extensionId": encode_id(501)},
         "to": {"phoneNumber": "+14155550150"}, "status": {"code": "Proceeding"},
         "missedCall": False, "standAlone": False, "muted": False}]
    assert first[0].headers["Verification-Token"] == "pass-phrase"
    Webhook(secret).verify(first[0].body, {k: v for k, v in first[0].headers.items()})
    account_wide = [r for r in receiver.requests if r.path == "/hook/2"]
    assert account_wide[0].json["event"] == f"/restapi/v1.0/account/{account}" \
                                            "/telephony/sessions"
    assert account_wide[0].headers["webhook-signature"] is None  # no secret: unsigned


def test_a_failed_read_of_the_subscriptions_falls_back_on_the_last_one(
        receiver: DispatchReceiver, caplog: pytest.LogCaptureFixture) -> None:
    """The database restarting while a call goes on: its later changes still go to the
    subscriptions read before, with one warning per failed read."""
    live = [subscription(1, receiver, account_level=True)]
    reads: list[str] = []

    def index() -> list[ActiveSubscription]:
        if reads:
            reads.append("failed")
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        reads.append("read")
        return live

    async def scenario() -> None:
        async with running(MemoryStore()) as client:
            call_log = CallLog()
            SessionNotifier(client, index, refresh=0).follow(call_log)
            events = ringout_events()
            call_log.publish(events[0])
            await asyncio.to_thread(receiver.wait_for, "/hook/1", 1)
            for event in events[1:]:
                call_log.publish(event)
            await asyncio.to_thread(receiver.wait_for, "/hook/1", 5)

    with caplog.at_level(logging.WARNING, logger="bridge.engine.session_notifier"):
        run(scenario())
    assert reads[0] == "read" and set(reads[1:]) == {"failed"}
    assert [r.json["body"]["sequence"] for r in receiver.requests] == [1, 2, 3, 4, 5]
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings and all("notifying those read before" in w for w in warnings)
    assert len(warnings) == len(reads) - 1
