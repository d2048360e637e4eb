"""The benchmarks' RTP port ranges: valid for every test slot, and never shared."""

from __future__ import annotations

from bench.rig import bench_rtp_ports
from tests.support.asterisk import SLOT, Asterisk

SLOTS = range(9)  # RINGBRIDGE_TEST_SLOT 0 (unset) to 8


def test_every_slot_has_valid_ports_of_its_own() -> None:
    ranges = [bench_rtp_ports(slot) for slot in SLOTS]
    assert all(1024 < first < last <= 65535 for first, last in ranges)
    ports = [set(range(first, last + 1)) for first, last in ranges]
    assert sum(map(len, ports)) == len(set().union(*ports))


def test_bench_ports_stay_clear_of_the_tests_ports() -> None:
    """Clear of every slot's test ports: slot 0's range and the 8 above it (the range of
    this run's slot, the one Asterisk() has, moved back to slot 0's)."""
    this_first, this_last = Asterisk().rtp_ports
    tests_first, tests_last = this_first - 1000 * SLOT, this_last - 1000 * SLOT
    assert all(first > tests_last + 1000 * 8 or last < tests_first
               for first, last in map(bench_rtp_ports, SLOTS))
