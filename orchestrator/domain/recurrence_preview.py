"""The next occurrences of a broadcast as the scheduler will plan them (pure; the form's preview uses it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from .broadcasts import BroadcastSpec, occurrence
from .errors import InvalidInput

PREVIEW_COUNT = 5


def next_occurrences(spec: BroadcastSpec, count: int = PREVIEW_COUNT) -> list[tuple[datetime, datetime]]:
    """The planned (start, end) of the series' first `count` runs: occurrence 0, then each next one after the
    previous start, the same chain `services/broadcasts/timers.next_occurrence` follows run after run."""
    slots: list[tuple[datetime, datetime]] = []
    slot = occurrence(spec, 0)
    while slot is not None and len(slots) < count:
        slots.append(slot)
        slot = occurrence(spec, len(slots), after=slot[0] + timedelta(seconds=1))
    return slots


WEEKDAYS: tuple[tuple[str, str], ...] = (("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"),
                                        ("thu", "Thursday"), ("fri", "Friday"), ("sat", "Saturday"),
                                        ("sun", "Sunday"))


def weekly_cron(days: list[str], at: str) -> str:
    """A weekly builder's choice as cron: days ('mon'...'sun') at 'HH:MM' -> 'MM HH * * mon,wed'.
    InvalidInput names `recurrence.days` or `recurrence.time`."""
    known = [name for name, _ in WEEKDAYS]
    chosen = [d for d in known if d in days]
    if not chosen or len(chosen) != len(set(days)):
        raise InvalidInput("recurrence.days", "pick at least one day of the week")
    hour, sep, minute = at.strip().partition(":")
    if not (sep and hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise InvalidInput("recurrence.time", "give the time as HH:MM (24-hour clock)")
    return f"{int(minute)} {int(hour)} * * {','.join(chosen)}"
