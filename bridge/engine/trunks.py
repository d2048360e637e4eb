"""Carrier trunks' PJSIP endpoints (docs/carriers.md): `carrier`, which ringbridge's own
calls out go through, and any other named `carrier-<name>`."""

from __future__ import annotations

CARRIER_ENDPOINT = "carrier"


def is_trunk(endpoint: str) -> bool:
    """`carrier`, `carrier-acme`: a trunk; `1001`, `4001@acme.example`: a phone."""
    return endpoint == CARRIER_ENDPOINT or endpoint.startswith(f"{CARRIER_ENDPOINT}-")
