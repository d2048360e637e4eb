"""A live call between two extensions of a tenant, as the engine shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.engine.live_calls import LiveCall, Party, PartyState
from tests.api.conftest import TenantAuth

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def live_call(who: TenantAuth, call_id: str, caller: str = "1001", callee: str = "1002",
              minutes: int = 0) -> LiveCall:
    started = T0 + timedelta(minutes=minutes)
    return LiveCall(call_id=call_id, domain=who.sip_domain, published=started,
                    answered=started, inbound=False, dialled=callee, parties=(
                        Party("00", "c1", caller, "Ann", False, True, PartyState.UP,
                              answered_at=started),
                        Party("01", "c2", callee, "", False, False, PartyState.UP,
                              ringing_at=started, answered_at=started)),
                    source=caller, charged=caller)
