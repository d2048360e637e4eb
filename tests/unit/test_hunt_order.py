"""The eight strategies' ring order (pure logic; real calls are in the integration tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.flows.hunt_order import hunt_waves
from bridge.flows.strategies import STRATEGIES, Candidate

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def keys(waves: list[list[Candidate]]) -> list[list[int]]:
    return [[member.key for member in wave] for wave in waves]


MEMBERS = [
    Candidate(key=1, position=0, skill_level=2, last_rung=at(5), last_answered=at(1)),
    Candidate(key=2, position=1, skill_level=1, last_rung=at(3), last_answered=None),
    Candidate(key=3, position=2, skill_level=1, last_rung=None, last_answered=at(9)),
    Candidate(key=4, position=3, skill_level=2, last_rung=at(1), last_answered=at(0)),
]


@pytest.mark.parametrize("strategy, expected", [
    ("RING_SIMULTANEOUSLY", [[1, 2, 3, 4]]),
    ("PAGING_INTERCOM", [[1, 2, 3, 4]]),
    ("PRIORITIZED_HUNT", [[1], [2], [3], [4]]),
    # never rung first, then longest since rung
    ("CYCLIC_HUNT", [[3], [4], [2], [1]]),
    # never answered first, then longest since answered
    ("LEAST_WORKED_HUNT", [[2], [4], [1], [3]]),
    ("SKILL_BASED_ROUTING_PRIORITIZED_HUNT", [[2], [3], [1], [4]]),
    ("SKILL_BASED_ROUTING_CYCLIC_HUNT", [[3], [2], [4], [1]]),
    ("SKILL_BASED_ROUTING_LEAST_WORKED_HUNT", [[2], [3], [4], [1]]),
])
def test_each_strategy_orders_members(strategy: str, expected: list[list[int]]) -> None:
    assert keys(hunt_waves(strategy, MEMBERS)) == expected


def test_every_strategy_is_covered() -> None:
    assert len(STRATEGIES) == 8


def test_cyclic_rotates_when_each_rung_member_is_remembered() -> None:
    members = [Candidate(key=k, position=k) for k in range(3)]
    firsts = []
    for minute in range(4):
        first = hunt_waves("CYCLIC_HUNT", members)[0][0]
        firsts.append(first.key)
        members = [Candidate(m.key, m.position, last_rung=at(minute)) if m is first else m
                   for m in members]
    assert firsts == [0, 1, 2, 0]


def test_ties_keep_list_order() -> None:
    members = [Candidate(key=k, position=k, last_rung=at(1)) for k in (2, 0, 1)]
    assert keys(hunt_waves("CYCLIC_HUNT", members)) == [[0], [1], [2]]


def test_no_members_no_waves_and_unknown_strategy_is_refused() -> None:
    assert hunt_waves("CYCLIC_HUNT", []) == []
    with pytest.raises(ValueError, match="unknown ring strategy"):
        hunt_waves("RANDOM", MEMBERS)
