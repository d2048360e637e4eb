"""Who a ring group rings, in what order: the eight PortSIP strategies, as pure logic.

A hunt is a list of *waves*: every member of a wave rings at the same time, for
`ring_time` seconds; the next wave starts when the previous one rang out. Serial
strategies have waves of one member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

STRATEGIES = (
    "RING_SIMULTANEOUSLY", "PRIORITIZED_HUNT", "CYCLIC_HUNT", "LEAST_WORKED_HUNT",
    "PAGING_INTERCOM", "SKILL_BASED_ROUTING_PRIORITIZED_HUNT",
    "SKILL_BASED_ROUTING_CYCLIC_HUNT", "SKILL_BASED_ROUTING_LEAST_WORKED_HUNT",
)
SIMULTANEOUS = {"RING_SIMULTANEOUSLY", "PAGING_INTERCOM"}


@dataclass(frozen=True)
class Candidate:
    """A member as the ordering sees it: list position, skill, and hunt memory."""

    key: int  # the extension id
    position: int
    skill_level: int = 1
    last_rung: datetime | None = None
    last_answered: datetime | None = None


SortKey = Callable[[Candidate], tuple[int, datetime | int, int]]


def _prioritized(member: Candidate) -> tuple[int, datetime | int, int]:
    return (0, 0, member.position)


def _cyclic(member: Candidate) -> tuple[int, datetime | int, int]:
    # Never rung first (in list order), then the one rung longest ago.
    if member.last_rung is None:
        return (0, 0, member.position)
    return (1, member.last_rung, member.position)


def _least_worked(member: Candidate) -> tuple[int, datetime | int, int]:
    if member.last_answered is None:
        return (0, 0, member.position)
    return (1, member.last_answered, member.position)


_INNER_ORDER: dict[str, SortKey] = {
    "PRIORITIZED_HUNT": _prioritized,
    "CYCLIC_HUNT": _cyclic,
    "LEAST_WORKED_HUNT": _least_worked,
    "SKILL_BASED_ROUTING_PRIORITIZED_HUNT": _prioritized,
    "SKILL_BASED_ROUTING_CYCLIC_HUNT": _cyclic,
    "SKILL_BASED_ROUTING_LEAST_WORKED_HUNT": _least_worked,
}


def hunt_waves(strategy: str, members: Sequence[Candidate]) -> list[list[Candidate]]:
    """The waves of one hunt round for `strategy` over `members`."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown ring strategy {strategy!r}")
    if not members:
        return []
    if strategy in SIMULTANEOUS:
        return [sorted(members, key=lambda m: m.position)]
    inner = _INNER_ORDER[strategy]
    if strategy.startswith("SKILL_BASED_ROUTING_"):
        by_level = sorted(members, key=lambda m: m.skill_level)
        ordered = [m for _, level in groupby(by_level, key=lambda m: m.skill_level)
                   for m in sorted(level, key=inner)]
    else:
        ordered = sorted(members, key=inner)
    return [[member] for member in ordered]
