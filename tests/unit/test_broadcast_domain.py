"""Broadcast validation, recurrence across daylight-saving changes, start decisions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.domain.broadcasts import (
    BroadcastSpec,
    Destination,
    check_recurrence,
    occurrence,
    parse_destination,
    validate_spec,
)
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.runs import decide_start, healing_delay, needs_rollover

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
CAP = timedelta(hours=12)
BERLIN = ZoneInfo("Europe/Berlin")
DEST = (Destination("rtmp", "rtmp://h/app/key123456"),)


def spec(**kw: object) -> BroadcastSpec:
    base: dict[str, object] = {"room_name": "r", "destinations": DEST, "max_duration_s": 3600}
    base.update(kw)
    return BroadcastSpec(**base)  # type: ignore[arg-type]


def test_start_now_fills_start_at() -> None:
    assert validate_spec(spec(), NOW, CAP).start_at == NOW


def test_daily_9am_stays_9am_local_across_spring_forward() -> None:
    rec = check_recurrence("0 9 * * *", "Europe/Berlin", None, 5)
    s = validate_spec(spec(start_at=datetime(2026, 3, 27, 0, 0, tzinfo=BERLIN), recurrence=rec), NOW, CAP)
    starts = []
    after = None
    for i in range(5):
        slot = occurrence(s, i, after)
        assert slot is not None
        starts.append(slot[0])
        after = slot[0] + timedelta(seconds=1)
    assert [t.astimezone(BERLIN).hour for t in starts] == [9] * 5
    # Summer time starts at 02:00 on 29 March: 08:00Z on the 27th and 28th, 07:00Z from the 29th.
    assert [t.astimezone(UTC).hour for t in starts] == [8, 8, 7, 7, 7]
    assert occurrence(s, 5, after) is None  # count reached


def test_weekdays_use_cron_numbering_and_fall_back() -> None:
    rec = check_recurrence("30 18 * * 1-5", "Europe/Berlin", datetime(2026, 11, 1, tzinfo=UTC), None)
    s = validate_spec(spec(start_at=datetime(2026, 10, 23, 19, 0, tzinfo=BERLIN), recurrence=rec), NOW, CAP)
    first = occurrence(s, 0)
    assert first is not None
    assert first[0] == datetime(2026, 10, 26, 18, 30, tzinfo=BERLIN)  # Friday 19:00 is past: next is Monday
    assert first[0].utcoffset() == timedelta(hours=1)  # after the fall-back on 25 October
    assert first[1] - first[0] == timedelta(hours=1)
    assert occurrence(s, 4, datetime(2026, 11, 1, tzinfo=UTC)) is None  # past `until`


def test_a_skipped_local_time_still_runs_once() -> None:
    rec = check_recurrence("30 2 * * *", "Europe/Berlin", None, 3)
    s = validate_spec(spec(start_at=datetime(2026, 3, 28, 3, 0, tzinfo=BERLIN), recurrence=rec), NOW, CAP)
    second = occurrence(s, 1, datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN))
    assert second is not None and second[0].date().isoformat() == "2026-03-29"


@pytest.mark.parametrize(("changes", "field"), [
    ({"destinations": ()}, "destinations"),
    ({"layout": "nope"}, "layout"),
    ({"max_duration_s": None}, "end_at"),
    ({"end_at": NOW + timedelta(hours=1)}, "end_at"),
    ({"start_at": NOW - timedelta(minutes=1)}, "start_at"),
    ({"max_duration_s": 13 * 3600}, "max_duration_s"),
    ({"max_duration_s": None, "start_at": NOW + timedelta(hours=2), "end_at": NOW + timedelta(hours=1)}, "end_at"),
    ({"room_name": " "}, "room_name"),
])
def test_validation_names_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_spec(spec(**changes), NOW, CAP)
    assert err.value.field == field


@pytest.mark.parametrize(("raw", "field"), [
    ({"type": "mux", "stream_key": ""}, "d.stream_key"),
    ({"type": "rtmp", "url": "rtmp://host/key"}, "d.url"),
    ({"type": "srt", "url": "srt://x"}, "d.type"),
])
def test_destination_errors(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_destination(raw, "d")
    assert err.value.field == field


def test_recurrence_errors() -> None:
    with pytest.raises(InvalidInput, match="cron"):
        check_recurrence("every day", "UTC", None, 2)
    with pytest.raises(InvalidInput) as err:
        check_recurrence("0 9 * * *", "Nowhere/City", None, 2)
    assert err.value.field == "recurrence.timezone"
    with pytest.raises(InvalidInput) as err:
        check_recurrence("0 9 * * *", "UTC", None, None)
    assert err.value.field == "recurrence"


def test_start_decisions_and_healing() -> None:
    grace = timedelta(minutes=5)
    assert decide_start(NOW, NOW - timedelta(seconds=1), grace).action == "wait"
    assert decide_start(NOW, NOW + timedelta(minutes=4), grace).action == "start"
    assert decide_start(NOW, NOW + timedelta(minutes=6), grace).action == "missed"
    assert [healing_delay(i) for i in range(1, 7)] == [1, 2, 4, 8, 15, 15]
    assert sum(healing_delay(i) for i in range(1, 5)) < 60  # inside Mux's reconnect window
    assert needs_rollover(NOW, NOW + timedelta(hours=11, minutes=45), timedelta(hours=11, minutes=45))
    assert not needs_rollover(None, NOW, timedelta(hours=1))


def test_destination_id_and_display_hide_the_key() -> None:
    d = parse_destination({"type": "mux", "stream_key": "abcdefgh12345678"}, "d")
    assert d.url == "rtmps://global-live.mux.com:443/app/abcdefgh12345678"
    assert "abcdefgh12345678" not in d.display and "abcdefgh12345678" not in d.id
