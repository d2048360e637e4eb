"""The benchmarks' own Asterisk (container and ports apart from the tests') and ringbridge.

`RINGBRIDGE_TEST_SLOT` moves them too, as it does the tests'.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.asterisk import SLOT, Asterisk, ensure_image
from tests.support.bridge_process import BridgeProcess

DOMAIN = "bench.example"
# Asterisk's WARNING for a call that no engine took in time (extensions.conf).
FALLBACK = "no ringbridge engine took the call: fallback"


@dataclass
class BenchRig:
    asterisk: Asterisk
    bridge: BridgeProcess
    token: str = ""
    passwords: dict[str, str] = field(default_factory=dict)

    def extension(self, number: str, **fields: object) -> str:
        """Create extension `number` (with more API fields if given); its id."""
        created = self.bridge.api("POST", "/api/extensions", self.token,
                                  json={"extension_number": number, **fields}).json()
        self.passwords[number] = self.bridge.api(
            "GET", f"/api/extensions/{created['id']}", self.token).json()["password"]
        return str(created["id"])

    def group(self, number: str, members: list[str], **fields: object) -> None:
        group = self.bridge.api("POST", "/api/ring_groups", self.token, json={
            "name": "bench", "extension_number": number,
            "ring_strategy": "RING_SIMULTANEOUSLY", **fields}).json()["id"]
        self.bridge.api("POST", f"/api/ring_groups/{group}/agents", self.token,
                        json={"items": [{"extension_number": m} for m in members]})


def bench_asterisk() -> Asterisk:
    """The benchmarks' Asterisk (not started). The test slot (RINGBRIDGE_TEST_SLOT) moves
    the container's name and ports, as for the tests."""
    offset = 10 * SLOT
    return Asterisk(name=f"ringbridge-bench-asterisk{SLOT or ''}", sip_port=5260 + offset,
                    ari_port=8288 + offset, ami_port=5238 + offset,
                    rtp_ports=bench_rtp_ports(SLOT))


def bench_rtp_ports(slot: int) -> tuple[int, int]:
    """Slot 0 (the load benchmark's home) gets 8,000 RTP ports, 40000-47999; slots 1-8
    2,000 each above it, up to 63999 (the tests' slots use 31000-39999)."""
    first = 40000 if slot == 0 else 48000 + 2000 * (slot - 1)
    return first, first + (8000 if slot == 0 else 2000) - 1


@contextmanager
def bench_rig(settings: dict[str, str] | None = None) -> Iterator[BenchRig]:
    """`settings`: ringbridge settings (RINGBRIDGE_* names without the prefix)."""
    ensure_image()
    asterisk = bench_asterisk()
    asterisk.start()
    workdir = Path(tempfile.mkdtemp(prefix="ringbridge-bench-"))
    bridge = BridgeProcess(asterisk, workdir, log_path=workdir / "ringbridge.log")
    bridge.log_level = "WARNING"
    bridge.settings.update(settings or {})
    try:
        bridge.start()
        bridge.cli("tenants", "create", "--company-id", "bench", "--sip-domain", DOMAIN)
        rig = BenchRig(asterisk, bridge,
                       token=bridge.cli("tokens", "create", "--tenant", "bench").strip())
        yield rig
    finally:
        bridge.stop()
        asterisk.stop()


def fallbacks(asterisk: Asterisk) -> int:
    """The calls Asterisk has given its fallback so far: its WARNING lines saying so (its
    verbose lines repeat the text)."""
    return sum(1 for line in asterisk.logs().splitlines()
               if "WARNING[" in line and FALLBACK in line)
