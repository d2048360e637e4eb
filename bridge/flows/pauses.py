"""Paused members (agent availability): a ring group's hunt passes them over.

A pause belongs to an extension and holds in every group it is a member of; it is kept
in the database (bridge/services/pauses.py), so it outlives restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Pauses(Protocol):
    def paused(self) -> Mapping[int, str]:
        """The paused extensions by id, each with its reason ("" when none was given).
        Blocking (the database): called in a worker thread."""
