"""Who a ring group rings, in what order, as pure logic; each strategy's row
(bridge/flows/strategies.py) says how.

A hunt is a list of *waves*: every member of a wave rings at the same time, for
`ring_time` seconds; the next wave starts when the previous one rang out. Serial
strategies have waves of one member.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from bridge.flows.strategies import Candidate, strategy_named


def hunt_waves(strategy: str, members: Sequence[Candidate]) -> list[list[Candidate]]:
    """The waves of one hunt round for `strategy` over `members`."""
    row = strategy_named(strategy)
    if not members:
        return []
    if row.by_skill:
        by_level = sorted(members, key=lambda m: m.skill_level)
        ordered = [m for _, level in groupby(by_level, key=lambda m: m.skill_level)
                   for m in sorted(level, key=row.order)]
    else:
        ordered = sorted(members, key=row.order)
    if row.one_at_a_time:
        return [[member] for member in ordered]
    return [ordered]
