"""Long recordings in parts: when the next part is due before the file cap, and the gaps between parts (pure)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta


def rollover_due(started_at: datetime, now: datetime, cap: timedelta, margin: timedelta) -> bool:
    """A part should be replaced once it is within `margin` of the file cap."""
    return now - started_at >= cap - margin


@dataclass(frozen=True)
class PartSpan:
    part: int
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class Gap:
    after_part: int
    seconds: float


def gaps_between(parts: list[PartSpan]) -> list[Gap]:
    """Time not covered between consecutive parts (an overlap is no gap)."""
    ordered = sorted(parts, key=lambda p: p.part)
    found: list[Gap] = []
    for prev, nxt in itertools.pairwise(ordered):
        if prev.ended_at is None or nxt.started_at is None:
            continue
        seconds = (nxt.started_at - prev.ended_at).total_seconds()
        if seconds > 0:
            found.append(Gap(prev.part, round(seconds, 3)))
    return found
