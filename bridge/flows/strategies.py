"""The eight PortSIP ring strategies as data: one row each, read by the ordering
(hunt_order.py), the planner (bridge/services/routing.py) and the hunt.

A new strategy is one row here, plus its ordering function when none of these fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType


@dataclass(frozen=True)
class Candidate:
    """A member as the ordering sees it: list position, skill, and hunt memory."""

    key: int  # the extension id
    position: int
    skill_level: int = 1
    last_rung: datetime | None = None
    last_answered: datetime | None = None


SortKey = Callable[[Candidate], tuple[int, datetime | int, int]]


def in_list_order(member: Candidate) -> tuple[int, datetime | int, int]:
    return (0, 0, member.position)


def longest_since_rung(member: Candidate) -> tuple[int, datetime | int, int]:
    """Never rung first (in list order), then the one rung longest ago."""
    if member.last_rung is None:
        return (0, 0, member.position)
    return (1, member.last_rung, member.position)


def longest_since_answered(member: Candidate) -> tuple[int, datetime | int, int]:
    """Never answered first (in list order), then the one who answered longest ago."""
    if member.last_answered is None:
        return (0, 0, member.position)
    return (1, member.last_answered, member.position)


# The usual auto-answer forms: RFC 5373, Polycom/Yealink/Snom, Cisco/Grandstream.
# `{domain}` is the tenant's SIP domain.
PAGING_HEADERS = MappingProxyType({
    "Call-Info": "<sip:{domain}>;answer-after=0",
    "Answer-Mode": "Auto",
    "Alert-Info": "<http://127.0.0.1>;info=alert-autoanswer",
})


@dataclass(frozen=True)
class Strategy:
    """How a ring group with this strategy hunts its members."""

    name: str  # as the API names it
    order: SortKey  # members' order (inside a skill level, with by_skill)
    one_at_a_time: bool  # waves of one member; else one wave of every member
    by_skill: bool = False  # skill level 1 before 2 before …
    uses_memory: bool = False  # reads and writes the hunt memory (hunt_stats)
    marks_first_rung: bool = False  # its first member counts as rung when planned
    paging: bool = False  # every member who answers joins the caller
    headers: Mapping[str, str] = field(default_factory=dict)  # added to members' INVITEs

    def headers_for(self, domain: str) -> dict[str, str]:
        return {name: value.format(domain=domain) for name, value in self.headers.items()}


STRATEGIES = (  # in the API's order (the OpenAPI enum)
    Strategy("RING_SIMULTANEOUSLY", in_list_order, one_at_a_time=False),
    Strategy("PRIORITIZED_HUNT", in_list_order, one_at_a_time=True),
    Strategy("CYCLIC_HUNT", longest_since_rung, one_at_a_time=True, uses_memory=True,
             marks_first_rung=True),
    Strategy("LEAST_WORKED_HUNT", longest_since_answered, one_at_a_time=True,
             uses_memory=True),
    Strategy("PAGING_INTERCOM", in_list_order, one_at_a_time=False, paging=True,
             headers=PAGING_HEADERS),
    Strategy("SKILL_BASED_ROUTING_PRIORITIZED_HUNT", in_list_order, one_at_a_time=True,
             by_skill=True),
    Strategy("SKILL_BASED_ROUTING_CYCLIC_HUNT", longest_since_rung, one_at_a_time=True,
             by_skill=True, uses_memory=True, marks_first_rung=True),
    Strategy("SKILL_BASED_ROUTING_LEAST_WORKED_HUNT", longest_since_answered,
             one_at_a_time=True, by_skill=True, uses_memory=True),
)
NAMES = tuple(strategy.name for strategy in STRATEGIES)
_BY_NAME = {strategy.name: strategy for strategy in STRATEGIES}


def strategy_named(name: str) -> Strategy:
    """The row for `name`; ValueError for a name the engine does not know."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown ring strategy {name!r}") from None
