"""The form's occurrence preview: the weekly builder's cron and the series as the scheduler chains it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.broadcasts import BroadcastSpec, Recurrence, occurrence
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.recurrence_preview import next_occurrences, weekly_cron


def test_weekly_cron_orders_days_and_drops_leading_zeros() -> None:
    assert weekly_cron(["fri", "mon"], "09:05") == "5 9 * * mon,fri"
    assert weekly_cron(["sun"], "00:00") == "0 0 * * sun"


@pytest.mark.parametrize(("days", "at", "field"), [
    ([], "09:00", "recurrence.days"), (["xyz"], "09:00", "recurrence.days"), (["mon"], "", "recurrence.time"),
    (["mon"], "24:00", "recurrence.time"), (["mon"], "9", "recurrence.time"), (["mon"], "09:60", "recurrence.time"),
])
def test_weekly_cron_names_the_field_it_refuses(days: list[str], at: str, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        weekly_cron(days, at)
    assert refused.value.field == field


def test_the_series_is_the_schedulers_chain_across_a_dst_change() -> None:
    start = datetime(2026, 10, 20, tzinfo=UTC)
    spec = BroadcastSpec(room_name="r", destinations=(), start_at=start, max_duration_s=600,
                         recurrence=Recurrence("0 9 * * tue,sat", "Europe/Berlin", count=4))
    slots = next_occurrences(spec)
    assert len(slots) == 4  # the count ends the series before five
    assert [s.astimezone(UTC).hour for s, _ in slots] == [7, 7, 8, 8]  # 09:00 Berlin on both sides of Oct 25
    chained, slot = [], occurrence(spec, 0)
    while slot is not None:
        chained.append(slot)
        slot = occurrence(spec, len(chained), after=slot[0] + timedelta(seconds=1))
    assert slots == chained and all(end - begin == timedelta(minutes=10) for begin, end in slots)


def test_a_one_off_has_one_occurrence() -> None:
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    spec = BroadcastSpec(room_name="r", destinations=(), start_at=start, end_at=start + timedelta(hours=1))
    assert next_occurrences(spec) == [(start, start + timedelta(hours=1))]
