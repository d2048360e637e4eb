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
    """Whichever slot this run has: the tests' slots take 1,000 ports each, upwards."""
    first_of_this_slot, last_of_this_slot = Asterisk().rtp_ports
    tests_first = first_of_this_slot - 1000 * SLOT
    tests_last = last_of_this_slot + 1000 * (max(SLOTS) - SLOT)
    assert all(first > tests_last or last < tests_first
               for first, last in map(bench_rtp_ports, SLOTS))
