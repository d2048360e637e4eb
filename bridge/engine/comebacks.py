"""Parked calls whose time ran out while no ringbridge was there to ring the parker.

Asterisk then rings the parker itself ([parking-timeout] in asterisk-conf/extensions.conf)
and keeps what happened in AstDB, family `rb-comeback`: key `<call id>.rang` when it
starts ringing, `<call id>.ended` when that call ends, each
`<status>|<POSIX seconds>|<parker>|<seconds answered>`. Each entry becomes a step of the
parked call's record (the `ended` one closes it) and is then deleted: read on every AMI
connect, and at once when the dialplan says it wrote one (UserEvent RingbridgeComeback)
while ringbridge is up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.asterisk.ami import AmiClient, AmiError, AmiEvent
from bridge.flows.call_log import CallLog
from bridge.flows.earlier_calls import Closer
from bridge.flows.events import ParkedCallCameBack

log = logging.getLogger(__name__)

FAMILY = "rb-comeback"
USER_EVENT = "RingbridgeComeback"

# Dial's DIALSTATUS, as a record says it.
_OUTCOMES = {"ANSWER": "answered", "NOANSWER": "not answered", "BUSY": "busy",
             "CANCEL": "the parked caller hung up first", "CONGESTION": "congestion",
             "CHANUNAVAIL": "the parker's phone was unavailable"}


@dataclass(frozen=True)
class Comeback:
    key: str  # its AstDB key within FAMILY
    call_id: str  # the parked call's id (RB_CALL)
    ended: bool  # the ring back (and the call it made) is over
    status: str
    at: datetime
    parker: str
    answered_for: int  # seconds

    @classmethod
    def parse(cls, key: str, value: str) -> Comeback | None:
        call_id, _, stage = key.rpartition(".")
        fields = value.split("|")
        if not call_id or stage not in ("rang", "ended") or len(fields) != 4:
            return None
        status, epoch, parker, answered = fields
        try:
            at = datetime.fromtimestamp(int(epoch), UTC)
            answered_for = int(answered or "0")
        except ValueError:
            return None
        return cls(key, call_id, stage == "ended", status, at, parker, answered_for)

    def describe(self) -> str:
        started = f"at {self.at:%H:%M:%S} UTC"
        if not self.ended:
            return (f"the parking time ran out while ringbridge was down: Asterisk rang "
                    f"back {self.parker} without the bridge ({started})")
        outcome = _OUTCOMES.get(self.status, self.status.lower() or "no outcome")
        if self.status == "ANSWER":
            outcome += f", talked {self.answered_for} s"
        return (f"Asterisk's ring back of {self.parker} without the bridge ({started}) "
                f"ended: {outcome}")


class Comebacks:
    def __init__(self, ami: AmiClient, call_log: CallLog, closer: Closer) -> None:
        self.ami = ami
        self.call_log = call_log
        self.closer = closer
        self._lock = asyncio.Lock()
        ami.on("UserEvent", self._user_event)

    async def record(self) -> None:
        """Every entry Asterisk keeps: out of AstDB, then into its call's record."""
        async with self._lock:
            for comeback in await self._read():
                if not await self._take(comeback):
                    continue
                self.call_log.publish(ParkedCallCameBack(
                    call_id=comeback.call_id, member=comeback.parker,
                    description=comeback.describe()))
                if comeback.ended:  # the parked call ended with its ring back
                    await self.closer.close(comeback.call_id, "the call ended with "
                                            "Asterisk's ring back of the parker")

    async def _take(self, comeback: Comeback) -> bool:
        """Delete the entry: every engine hears the dialplan's UserEvent and reads the
        same entries, and the one whose delete succeeds records it."""
        try:
            await self.ami.action({"Action": "DBDel", "Family": FAMILY, "Key": comeback.key})
        except AmiError as exc:
            if "not found" not in exc.message.lower():
                log.warning("parked call %s: AstDB %s/%s not deleted (recorded on the next "
                            "read): %s", comeback.call_id, FAMILY, comeback.key, exc.message)
            return False
        return True

    async def _read(self) -> list[Comeback]:
        try:
            reply = await self.ami.action({"Action": "DBGetTree", "Family": FAMILY})
        except AmiError as exc:
            if "not found" in exc.message.lower():
                return []
            raise
        comebacks = []
        for event in reply if isinstance(reply, list) else []:
            if event.get("Event") != "DBGetTreeResponse":
                continue
            key = event.get("Key", "").removeprefix(f"/{FAMILY}/")
            comeback = Comeback.parse(key, event.get("Val", ""))
            if comeback is None:
                log.warning("AstDB %s/%s: not a ring back entry (%r); left alone", FAMILY,
                            key, event.get("Val", ""))
            else:
                comebacks.append(comeback)
        return sorted(comebacks, key=lambda c: (c.at, c.ended))

    async def _user_event(self, event: AmiEvent) -> None:
        if event.get("UserEvent") == USER_EVENT:
            await self.record()
