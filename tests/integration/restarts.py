"""Helpers for restart tests: dispatched group calls, ringing or connected, and their end."""

from __future__ import annotations

import time

from tests.integration.dispatching import agents, dispatch_to
from tests.integration.ring_groups import Office
from tests.support.dispatch_receiver import DispatchReceiver, RecordedRequest
from tests.support.softphone import Call, Phone

QUEUE = "restarts@exampletaxis.com"


def group_with_dispatch(office: Office, receiver: DispatchReceiver, number: str,
                        members: list[str], **fields: object) -> dict[str, Phone]:
    phones = agents(office, *members)
    office.group(number, members, queue_id=QUEUE, queue_type="customer",
                 **{"ring_strategy": "RING_SIMULTANEOUSLY", "ring_time": 30, **fields})
    dispatch_to(office, receiver)
    return phones


def ringing_call(caller: Phone, number: str, member: Phone,
                 receiver: DispatchReceiver) -> tuple[Call, Call, str]:
    outgoing = caller.call(number)
    incoming = member.wait_incoming()
    incoming.wait_ringing()
    call_id = receiver.wait_for("/telephony/ringing")[0].json["callId"]
    return outgoing, incoming, call_id


def connected_call(office: Office, receiver: DispatchReceiver, number: str, member: str,
                   caller: str) -> tuple[Call, Call, str]:
    """A one-member group with dispatch, called and answered: `connected` has been sent."""
    members = group_with_dispatch(office, receiver, number, [member])
    outgoing, incoming, call_id = ringing_call(office.phone(caller), number, members[member],
                                               receiver)
    incoming.answer()
    outgoing.wait_answered()
    receiver.wait_for("/telephony/connected")
    return outgoing, incoming, call_id


def the_end(receiver: DispatchReceiver, call_id: str) -> list[str]:
    """The call's events once `cleared` came, and a moment after (nothing more comes)."""
    receiver.wait_for(lambda r: r.path.endswith("/cleared") and _call_of(r) == call_id,
                      timeout=10)
    time.sleep(1)
    return [r.path.rsplit("/", 1)[1] for r in list(receiver.requests) if _call_of(r) == call_id]


def _call_of(request: RecordedRequest) -> str:
    body = request.json if isinstance(request.json, dict) else {}
    return str(body.get("callId") or request.query.get("callId", [""])[0])
