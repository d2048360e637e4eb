"""A live call, as the gateway passes it from the engine to the API process."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.gateway import LiveCall, Party, PartyState

CALL = LiveCall("c1", "acme.example", datetime(2026, 12, 4, tzinfo=UTC), None, True, "6001",
                (Party("00", "ch-1", "+442071234567", "Caller", True, True,
                       PartyState.OTHER_SIDE_RINGING),))
