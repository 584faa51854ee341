"""The RecordingStore contract, on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.domain.egress import ChangeSource, EgressStatus, Observation
from orchestrator.domain.recordings import RecordingQuery, RecordingStatus
from tests.contracts.conftest import pg_template, sqlite_template  # noqa: F401 - fixtures
from tests.contracts.recording_stores import RecordingStores, delivery, later, recording, stores  # noqa: F401
from tests.contracts.rows import T0


def test_add_catalogs_once_with_a_first_history_row(stores: RecordingStores) -> None:  # noqa: F811
    a, b = recording("egr_1", part=0), recording("egr_1", part=1)
    assert stores.recordings.add([b, a], "catalogued") == [b, a]
    assert stores.recordings.add([a, recording("egr_2")], "again") == [recording("egr_2")]
    assert stores.recordings.get(a.id) == a
    assert stores.recordings.get("rec_unknown") is None
    assert stores.recordings.of_egress("egr_1") == [a, b]  # by part
    [event] = stores.recordings.history(a.id)
    assert (event.at, event.status_before, event.status_after, event.detail) == (
        T0, None, RecordingStatus.VERIFYING, "catalogued")
    assert stores.recordings.count_by_status() == {"verifying": 3}


def test_transition_is_guarded_and_writes_history_and_deliveries_together(stores: RecordingStores) -> None:  # noqa: F811
    current = recording("egr_1")
    stores.recordings.add([current], "catalogued")
    ready = dataclasses.replace(current, status=RecordingStatus.READY, verified_at=later(5), check_attempts=1,
                                next_check_at=None)
    sent = delivery("rec-1")
    updated = stores.recordings.transition(current, ready, later(5), "verified in storage", [sent])
    assert updated == dataclasses.replace(ready, updated_at=later(5), version=1)
    assert stores.recordings.get(current.id) == updated
    assert [d.id for d in stores.outbox.deliveries()] == [sent.id]
    # A stale copy changes nothing: no row, no history, no delivery.
    missing = dataclasses.replace(current, status=RecordingStatus.MISSING, reason="gone")
    assert stores.recordings.transition(current, missing, later(6), "stale", [delivery("rec-2")]) is None
    assert stores.recordings.get(current.id) == updated
    history = stores.recordings.history(current.id)
    assert [(e.status_before, e.status_after, e.detail) for e in history] == [
        (None, RecordingStatus.VERIFYING, "catalogued"),
        (RecordingStatus.VERIFYING, RecordingStatus.READY, "verified in storage")]
    assert len(stores.outbox.deliveries()) == 1
    # Only the catalog's mutable fields may change.
    with pytest.raises(ValueError, match="key"):
        stores.recordings.transition(updated, dataclasses.replace(updated, key="other.mp4"), later(7), "no")
    assert stores.recordings.get(current.id) == updated


def test_a_field_can_be_cleared(stores: RecordingStores) -> None:  # noqa: F811
    current = recording("egr_1", next_check_at=later(1))
    stores.recordings.add([current], "catalogued")
    cleared = stores.recordings.transition(current, dataclasses.replace(current, next_check_at=None), later(2), "x")
    assert cleared is not None and cleared.next_check_at is None
    stored = stores.recordings.get(current.id)
    assert stored is not None and stored.next_check_at is None and stored.version == 1


def test_find_filters_newest_first_and_pages(stores: RecordingStores) -> None:  # noqa: F811
    rows = [recording(f"egr_{i}", started=later(i), room="a" if i % 2 else "b", broadcast_id="brd" if i == 3 else "",
                      rule_id="rul" if i == 4 else "") for i in range(6)]
    stores.recordings.add(rows, "catalogued")
    ids = [r.id for r in reversed(rows)]
    assert [r.id for r in stores.recordings.find(RecordingQuery())] == ids
    assert [r.id for r in stores.recordings.find(RecordingQuery(room_name="a"))] == [rows[5].id, rows[3].id,
                                                                                      rows[1].id]
    assert [r.id for r in stores.recordings.find(RecordingQuery(room_id="RM_b", limit=2))] == [rows[4].id,
                                                                                                rows[2].id]
    assert [r.id for r in stores.recordings.find(RecordingQuery(broadcast_id="brd"))] == [rows[3].id]
    assert [r.id for r in stores.recordings.find(RecordingQuery(rule_id="rul"))] == [rows[4].id]
    assert [r.id for r in stores.recordings.find(RecordingQuery(egress="egr_2"))] == [rows[2].id]
    assert [r.id for r in stores.recordings.find(RecordingQuery(egress="EG_egr_2"))] == [rows[2].id]
    assert [r.id for r in stores.recordings.find(RecordingQuery(since=later(2), until=later(4)))] == [
        rows[3].id, rows[2].id]
    page = stores.recordings.find(RecordingQuery(limit=4))
    rest = stores.recordings.find(RecordingQuery(before=(page[-1].recorded_at, page[-1].id)))
    assert [r.id for r in page + rest] == ids
    # Recorded at the same instant: the id breaks the tie, on both sides of a page boundary.
    twins = [recording(f"egr_t{i}", started=later(100)) for i in range(3)]
    stores.recordings.add(twins, "catalogued")
    first = stores.recordings.find(RecordingQuery(limit=2))
    second = stores.recordings.find(RecordingQuery(before=(first[-1].recorded_at, first[-1].id), limit=1))
    assert [r.id for r in first + second] == sorted((t.id for t in twins), reverse=True)
    # Without a start time a recording is placed by when it was catalogued.
    late = recording("egr_late", started=None, created=later(200))
    stores.recordings.add([late], "catalogued")
    assert stores.recordings.find(RecordingQuery(limit=1))[0].id == late.id


def test_find_by_status(stores: RecordingStores) -> None:  # noqa: F811
    a, b = recording("egr_1", started=later(1)), recording("egr_2", started=later(2))
    stores.recordings.add([a, b], "catalogued")
    stores.recordings.transition(a, dataclasses.replace(a, status=RecordingStatus.MISSING), later(3), "gone")
    missing = RecordingQuery(statuses=frozenset({RecordingStatus.MISSING}))
    assert [r.id for r in stores.recordings.find(missing)] == [a.id]
    both = RecordingQuery(statuses=frozenset({RecordingStatus.MISSING, RecordingStatus.VERIFYING}))
    assert [r.id for r in stores.recordings.find(both)] == [b.id, a.id]
    assert stores.recordings.find(RecordingQuery(statuses=frozenset())) == []
    assert stores.recordings.count_by_status() == {"verifying": 1, "missing": 1}


def test_due_for_check(stores: RecordingStores) -> None:  # noqa: F811
    due = recording("egr_1", next_check_at=later(10))
    later_one = recording("egr_2", next_check_at=later(60))
    never_planned = recording("egr_3", next_check_at=None)
    ready = recording("egr_4", next_check_at=later(5), status=RecordingStatus.READY)
    stores.recordings.add([due, later_one, never_planned, ready], "catalogued")
    assert {r.id for r in stores.recordings.due_for_check(later(10))} == {due.id, never_planned.id}
    assert {r.id for r in stores.recordings.due_for_check(later(60))} == {due.id, later_one.id, never_planned.id}
    assert len(stores.recordings.due_for_check(later(60), limit=2)) == 2


def test_older_than(stores: RecordingStores) -> None:  # noqa: F811
    old = recording("egr_1", started=later(-100), ended=later(-50))
    older = recording("egr_2", started=later(-300), ended=later(-200))
    never_ended = dataclasses.replace(recording("egr_3", started=None, created=later(-80)), ended_at=None)
    fresh = recording("egr_4", started=later(-10), ended=later(-5))
    stores.recordings.add([old, older, never_ended, fresh], "catalogued")
    deleted = recording("egr_5", started=later(-400), ended=later(-400))
    stores.recordings.add([deleted], "catalogued")
    stores.recordings.transition(deleted, dataclasses.replace(deleted, status=RecordingStatus.DELETED), T0, "del")
    assert [r.id for r in stores.recordings.older_than(later(-50))] == [older.id, never_ended.id, old.id]
    assert [r.id for r in stores.recordings.older_than(later(-50), limit=1)] == [older.id]


def test_ended_egresses_without_recordings(stores: RecordingStores) -> None:  # noqa: F811
    def egress(egress_id: str, status: EgressStatus, ended_s: float | None) -> str:
        report = Observation(egress_id=egress_id, status=status, room_name="r", room_id="RM_r", updated_at_ns=1,
                             started_at=later(-1000), ended_at=later(ended_s) if ended_s is not None else None)
        applied = stores.ledger.observe(report, ChangeSource.WEBHOOK, later(ended_s or 0))
        assert applied.record is not None
        return applied.record.id

    complete = egress("EG_complete", EgressStatus.COMPLETE, 0)
    failed = egress("EG_failed", EgressStatus.FAILED, 10)
    egress("EG_active", EgressStatus.ACTIVE, None)
    egress("EG_long_ago", EgressStatus.COMPLETE, -500)
    catalogued = egress("EG_catalogued", EgressStatus.COMPLETE, 5)
    stores.recordings.add([recording(catalogued)], "catalogued")
    found = stores.recordings.ended_egresses_without_recordings(later(-100))
    assert sorted(found) == sorted([complete, failed])
    assert len(stores.recordings.ended_egresses_without_recordings(later(-100), limit=1)) == 1
