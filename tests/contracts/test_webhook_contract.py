"""The WebhookStore contract: each event stored once by its id; the newest first."""

from __future__ import annotations

from tests.contracts.conftest import Backend
from tests.contracts.rows import at, webhook


def test_an_event_is_stored_once_by_its_id(backend: Backend) -> None:
    first = webhook("EV_w1", event="room_started", room="room-w", room_sid="RM_w", received=at(1))
    assert backend.webhooks.record(first)
    assert not backend.webhooks.record(webhook("EV_w1", event="room_finished", received=at(2)))
    assert backend.webhooks.recent() == [first]  # the first copy, every field as given


def test_recent_events_newest_first_by_room(backend: Backend) -> None:
    for i in range(5):
        backend.webhooks.record(webhook(f"EV_r{i}", room="room-r" if i % 2 else "room-s", received=at(10 - i)))
    assert [w.id for w in backend.webhooks.recent()] == ["EV_r0", "EV_r1", "EV_r2", "EV_r3", "EV_r4"]
    assert [w.id for w in backend.webhooks.recent(room_name="room-r")] == ["EV_r1", "EV_r3"]
    assert [w.id for w in backend.webhooks.recent(limit=2)] == ["EV_r0", "EV_r1"]
    assert backend.webhooks.recent(room_name="room-none") == []
