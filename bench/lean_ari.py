"""The least an ARI application can do for a call into a one-member group, as a yardstick
for `scripts/bench load`: what any bridge built on ARI costs Asterisk, on this machine.

It takes ringbridge's place (its Stasis app name, the same dialplan and StasisBroadcast
offer) and, for every call: claims it, originates the member straight into the app,
bridges the two once the member answers, answers the caller, and when either hangs up,
hangs up the other and deletes the bridge. Seven ARI requests on the events websocket
(ringbridge's own client), no call record, no dispatch, no hunt: nothing to look up.

    python -m bench.lean_ari ARI_URL PASSWORD APP ENDPOINT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop

from bridge.asterisk.ari import AriClient, AriError, Event

EVENT_TYPES = ("CallBroadcast", "StasisStart", "StasisEnd")
MEMBER_SUFFIX = "-member"


class LeanApp:
    def __init__(self, ari_url: str, password: str, app: str, endpoint: str) -> None:
        self.app, self.endpoint = app, endpoint
        self.ari = AriClient(ari_url, "ringbridge", password, app, on_event=self.on_event,
                             event_types=EVENT_TYPES)
        self.tasks: set[asyncio.Task[None]] = set()
        self.ended: set[str] = set()  # callers whose call is being torn down

    async def on_event(self, event: Event) -> None:
        """Each event in a task of its own: a request in flight holds up no other call."""
        task = asyncio.create_task(self.handle(event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def handle(self, event: Event) -> None:
        channel: dict[str, Any] = event.get("channel") or {}
        try:
            match event["type"]:
                case "CallBroadcast":
                    await self.ari.post("/events/claim", {"channelId": channel["id"],
                                                          "application": self.app})
                case "StasisStart" if channel["id"].endswith(MEMBER_SUFFIX):
                    await self.connect(channel["id"].removesuffix(MEMBER_SUFFIX))
                case "StasisStart":
                    await self.ari.post("/channels", {
                        "endpoint": self.endpoint, "app": self.app, "timeout": 30,
                        "channelId": channel["id"] + MEMBER_SUFFIX})
                case "StasisEnd":
                    await self.end(channel["id"])
        except AriError:
            pass  # the other party hung up meanwhile: its own StasisEnd ends the call

    async def connect(self, caller: str) -> None:
        await self.ari.post(f"/bridges/lean-{caller}", {"type": "mixing"})
        await self.ari.post(f"/bridges/lean-{caller}/addChannel",
                            {"channel": f"{caller},{caller}{MEMBER_SUFFIX}"})
        await self.ari.post(f"/channels/{caller}/answer")

    async def end(self, leaver: str) -> None:
        """The first party to leave: the other is hung up and the bridge deleted; the
        second's StasisEnd finds its call ended."""
        caller = leaver.removesuffix(MEMBER_SUFFIX)
        if caller in self.ended:
            self.ended.discard(caller)
            return
        self.ended.add(caller)
        other = caller if leaver != caller else caller + MEMBER_SUFFIX
        try:
            await self.ari.delete(f"/channels/{other}")
            await self.ari.delete(f"/bridges/lean-{caller}")
        except AriError:
            pass  # the member never answered: no bridge, and maybe no channel any more


def main() -> None:
    ari_url, password, app, endpoint = sys.argv[1:5]
    uvloop.run(LeanApp(ari_url, password, app, endpoint).ari.run())  # as the engine's


if __name__ == "__main__":
    main()
