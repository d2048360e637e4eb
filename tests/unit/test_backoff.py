"""Backoff: growth, cap, jitter bounds, reset, determinism."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bridge.asterisk.backoff import Backoff


def test_delays_grow_by_factor_until_the_cap() -> None:
    backoff = Backoff(initial=0.5, maximum=5.0, factor=2.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_by_default_asterisk_is_tried_again_at_least_every_five_seconds() -> None:
    """ARI's and AMI's reconnects: however long Asterisk has been away."""
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(100)]
    assert delays[0] <= 0.6 and max(delays) <= 5.0 and delays[-1] >= 4.0, delays


def test_jitter_stays_within_bounds_and_never_exceeds_the_maximum() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, factor=2.0, jitter=0.2, rng=random.Random(7))
    bases = [1.0, 2.0, 4.0, 8.0] + [8.0] * 200
    delays = [backoff.next_delay() for _ in bases]
    for base, delay in zip(bases, delays, strict=True):
        assert base * 0.8 <= delay <= min(base * 1.2, 8.0)
    assert len(set(delays)) > 100, "jitter should spread the delays"


def test_reset_starts_again_from_initial() -> None:
    backoff = Backoff(initial=0.1, maximum=10.0, jitter=0.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 0.1
    assert backoff.next_delay() == 0.2


def test_same_seed_gives_same_delays() -> None:
    first = Backoff(rng=random.Random(42))
    second = Backoff(rng=random.Random(42))
    assert [first.next_delay() for _ in range(10)] == [second.next_delay() for _ in range(10)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": 2.0, "maximum": 1.0},
        {"factor": 0.5},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
