"""Which PJSIP endpoints are carrier trunks (docs/carriers.md: a second carrier is
`carrier-<name>`): their parties are outside in the phone calls list and parking."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.engine.parking import ParkedCall, parked_outside
from bridge.engine.trunks import is_trunk


@pytest.mark.parametrize("endpoint, trunk", [
    ("carrier", True),
    ("carrier-acme", True),
    ("1001", False),
    ("4001@acme.example", False),
    ("carriers", False),
    ("acme-carrier", False),
])
def test_trunks_are_carrier_and_carrier_dash_name(endpoint: str, trunk: bool) -> None:
    assert is_trunk(endpoint) is trunk


@pytest.mark.parametrize("channel, external", [
    ("PJSIP/carrier-0000002a", True),
    ("PJSIP/carrier-acme-0000002a", True),
    ("PJSIP/4001@acme.example-0000002a", False),
])
def test_a_party_parked_from_a_trunk_is_outside(channel: str, external: bool) -> None:
    parked = ParkedCall(channel_id="1.2", channel=channel, lot="rb-acme.example", slot="701",
                        number="+447700900123", name="", parked_at=datetime.now(UTC),
                        timeout=60, call_id="c1", parker="4001")
    assert parked_outside(parked) is external
