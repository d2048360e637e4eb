"""RingOuts an earlier ringbridge left open, closed on the first connect after a restart."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bridge.config import Settings
from bridge.telephony.call_log import CallLog
from bridge.telephony.engine import Engine
from bridge.telephony.hunt import NoRedirects
from bridge.telephony.ringouts_left import ringouts_left


def test_only_ringouts_with_no_channel_left_and_no_one_closing_them_are_closed() -> None:
    channels = {"rb-11-1", "rb-12-2", "1733.4"}
    left = ringouts_left(["10", "11", "12", "13", "14"], channels, {"13", "14"})
    assert left == ["10"]  # 11, 12: a leg is left; 13, 14: run by a flow or taken up


class Steps:
    def __init__(self) -> None:
        self.kinds: list[tuple[str, str]] = []

    def record(self, call_id: str, kind: str, target: str, detail: str,
               fields: dict[str, Any]) -> None:
        self.kinds.append((call_id, kind))


class ChannelsAri:
    """GET /channels answers the given channels; 20's bridge is left, empty."""

    def __init__(self, channels: list[dict[str, Any]]) -> None:
        self.channels = channels
        self.deleted: list[str] = []
        self.bridges: list[dict[str, Any]] = [{"id": "rb-20", "channels": []}]

    async def get(self, path: str, params: Any = None) -> Any:
        return self.channels if path == "/channels" else self.bridges

    async def delete(self, path: str, params: Any = None) -> Any:
        self.deleted.append(path)
        return {}


def test_the_first_connect_ends_each_ringout_whose_legs_are_gone_once() -> None:
    steps, asked = Steps(), []

    def open_ringouts(before: datetime) -> list[str]:
        asked.append(before)
        return ["20", "21"]

    engine = Engine(Settings(ari_password="x", ami_secret="y"), lambda: [], NoRedirects(),
                    CallLog(steps), open_ringouts=open_ringouts)
    leg = {"id": "rb-21-1", "state": "Ring",  # 21's leg still rings; 20's are gone
           "dialplan": {"app_name": "Stasis", "app_data": f"{engine.app},ringout,21"}}
    ari = ChannelsAri([leg])
    engine.ari = ari  # type: ignore[assignment]

    async def connects() -> None:
        await engine._resync_calls()
        ari.channels = []
        await engine._resync_calls()  # a reconnect later: nothing more to close

    asyncio.run(connects())
    assert ari.deleted == ["/channels/rb-21-1", "/bridges/rb-20"]
    assert asked == [engine.started_at]
    # 21: closed once, by the take-up that hung its leg up; 20: by nobody else.
    assert steps.kinds == [("21", "ended"), ("20", "ended")]
