"""Times as a person types and reads them: RFC 3339, a local `18:00` or `2026-12-01 18:00`, or `+10m`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_RELATIVE = re.compile(r"^\+\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day)s?$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400}
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class TimeError(ValueError):
    """A time the CLI cannot read; the message says what it accepts."""


def zone(name: str | None) -> tzinfo:
    """An IANA zone by name, or the machine's own zone when `name` is empty."""
    if not name:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)") from None


def parse_time(text: str, now: datetime, tz: tzinfo) -> datetime:
    """An aware instant from RFC 3339, a local date and/or time in `tz`, or `+10m` after `now` (aware).

    A bare time of day that has already passed today means tomorrow.
    """
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return now + timedelta(seconds=float(relative.group(1)) * _UNIT_S[relative.group(2).lower()])
    clock = _CLOCK.match(text)
    if clock:
        hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise TimeError(f"{text!r} is not a time of day")
        today = now.astimezone(tz)
        at = today.replace(hour=hour, minute=minute, second=second, microsecond=0)
        if at <= today:
            at = (today + timedelta(days=1)).replace(hour=hour, minute=minute, second=second, microsecond=0)
        return at
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TimeError(f"cannot read {text!r}: use RFC 3339 (2026-12-01T18:00:00+01:00), a local time "
                        "(18:00, 2026-12-01 18:00) or a delay (+10m, +2h)") from None
    if parsed.tzinfo is not None:
        return parsed
    return parsed.replace(tzinfo=tz)  # a wall-clock time in `tz` (in a gap or fold, zoneinfo's fold=0)


def rfc3339(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def shown(value: str | None, tz_name: str | None = None) -> str:
    """An API timestamp for a table: in `tz_name` (else the machine's zone), to the minute, with its offset."""
    if not value:
        return "-"
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    local = at.astimezone(zone(tz_name)) if at.tzinfo else at
    return local.isoformat(sep=" ", timespec="seconds")
