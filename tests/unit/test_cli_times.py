"""The CLI's time parsing: RFC 3339, local times in a zone, delays; table times with their offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.cli.times import TimeError, parse_time, shown, zone

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)  # 17:30 in Berlin


def test_rfc3339_keeps_its_offset() -> None:
    assert parse_time("2026-12-01T18:00:00+01:00", NOW, UTC) == datetime(2026, 12, 1, 17, tzinfo=UTC)
    assert parse_time("2026-12-01T18:00:00Z", NOW, BERLIN) == datetime(2026, 12, 1, 18, tzinfo=UTC)


def test_local_date_and_time_in_the_zone_given() -> None:
    at = parse_time("2026-12-01 18:00", NOW, BERLIN)
    assert at == datetime(2026, 12, 1, 17, tzinfo=UTC) and at.utcoffset() == timedelta(hours=1)
    summer = parse_time("2026-07-01 18:00", NOW, BERLIN)
    assert summer.utcoffset() == timedelta(hours=2)


def test_a_time_of_day_is_today_or_tomorrow_when_passed() -> None:
    assert parse_time("18:00", NOW, BERLIN) == datetime(2026, 12, 1, 17, tzinfo=UTC)
    assert parse_time("17:00", NOW, BERLIN) == datetime(2026, 12, 2, 16, tzinfo=UTC)
    assert parse_time("9:05:30", NOW, UTC) == datetime(2026, 12, 2, 9, 5, 30, tzinfo=UTC)


def test_delays() -> None:
    assert parse_time("+10m", NOW, BERLIN) == NOW + timedelta(minutes=10)
    assert parse_time("+2h", NOW, BERLIN) == NOW + timedelta(hours=2)
    assert parse_time("+90s", NOW, BERLIN) == NOW + timedelta(seconds=90)
    assert parse_time("+1d", NOW, BERLIN) == NOW + timedelta(days=1)


@pytest.mark.parametrize("text", ["tomorrow", "25:00", "+10y", "2026-13-01 10:00", ""])
def test_unreadable_times_say_what_is_accepted(text: str) -> None:
    with pytest.raises(TimeError):
        parse_time(text, NOW, UTC)


def test_zones() -> None:
    assert zone("Europe/Berlin") == BERLIN
    assert zone(None).utcoffset(NOW.replace(tzinfo=None)) is not None
    with pytest.raises(TimeError, match="unknown time zone"):
        zone("Mars/Olympus")


def test_shown_in_the_zone_with_its_offset() -> None:
    assert shown("2026-12-01T17:00:00Z", "Europe/Berlin") == "2026-12-01 18:00:00+01:00"
    assert shown("2026-07-01T16:00:00+00:00", "Europe/Berlin") == "2026-07-01 18:00:00+02:00"
    assert shown(None) == "-"
