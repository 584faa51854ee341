"""The RecordingStore contract, on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from orchestrator.domain.egress import ChangeSource, EgressStatus, Observation
from orchestrator.domain.recordings import RecordingQuery, RecordingStatus
from tests.contracts.conftest import Backend
from tests.contracts.recording_rows import delivery, later, recording
from tests.contracts.rows import T0


def test_add_catalogs_once_with_a_first_history_row(backend: Backend) -> None:
    a, b = recording("egr_1", part=0), recording("egr_1", part=1)
    assert backend.recordings.add([b, a], "catalogued") == [b, a]
    assert backend.recordings.add([a, recording("egr_2")], "again") == [recording("egr_2")]
    assert backend.recordings.get(a.id) == a
    assert backend.recordings.get("rec_unknown") is None
    assert backend.recordings.of_egress("egr_1") == [a, b]  # by part
    [event] = backend.recordings.history(a.id)
    assert (event.at, event.status_before, event.status_after, event.detail) == (
        T0, None, RecordingStatus.VERIFYING, "catalogued")
    assert backend.recordings.count_by_status() == {"verifying": 3}


def test_transition_is_guarded_and_writes_history_and_deliveries_together(backend: Backend) -> None:
    current = recording("egr_1")
    backend.recordings.add([current], "catalogued")
    ready = dataclasses.replace(current, status=RecordingStatus.READY, verified_at=later(5), check_attempts=1,
                                next_check_at=None)
    sent = delivery("rec-1")
    updated = backend.recordings.transition(current, ready, later(5), "verified in storage", [sent])
    assert updated == dataclasses.replace(ready, updated_at=later(5), version=1)
    assert backend.recordings.get(current.id) == updated
    assert [d.id for d in backend.outbox.deliveries()] == [sent.id]
    # A stale copy changes nothing: no row, no history, no delivery.
    missing = dataclasses.replace(current, status=RecordingStatus.MISSING, reason="gone")
    assert backend.recordings.transition(current, missing, later(6), "stale", [delivery("rec-2")]) is None
    assert backend.recordings.get(current.id) == updated
    history = backend.recordings.history(current.id)
    assert [(e.status_before, e.status_after, e.detail) for e in history] == [
        (None, RecordingStatus.VERIFYING, "catalogued"),
        (RecordingStatus.VERIFYING, RecordingStatus.READY, "verified in storage")]
    assert len(backend.outbox.deliveries()) == 1
    # Only the catalog's mutable fields may change.
    with pytest.raises(ValueError, match="key"):
        backend.recordings.transition(updated, dataclasses.replace(updated, key="other.mp4"), later(7), "no")
    assert backend.recordings.get(current.id) == updated


def test_a_field_can_be_cleared(backend: Backend) -> None:
    current = recording("egr_1", next_check_at=later(1))
    backend.recordings.add([current], "catalogued")
    cleared = backend.recordings.transition(current, dataclasses.replace(current, next_check_at=None), later(2), "x")
    assert cleared is not None and cleared.next_check_at is None
    stored = backend.recordings.get(current.id)
    assert stored is not None and stored.next_check_at is None and stored.version == 1


def test_find_filters_newest_first_and_pages(backend: Backend) -> None:
    rows = [recording(f"egr_{i}", started=later(i), room="a" if i % 2 else "b", broadcast_id="brd" if i == 3 else "",
                      rule_id="rul" if i == 4 else "") for i in range(6)]
    backend.recordings.add(rows, "catalogued")
    ids = [r.id for r in reversed(rows)]
    assert [r.id for r in backend.recordings.find(RecordingQuery())] == ids
    assert [r.id for r in backend.recordings.find(RecordingQuery(room_name="a"))] == [rows[5].id, rows[3].id,
                                                                                      rows[1].id]
    assert [r.id for r in backend.recordings.find(RecordingQuery(room_id="RM_b", limit=2))] == [rows[4].id,
                                                                                                rows[2].id]
    assert [r.id for r in backend.recordings.find(RecordingQuery(broadcast_id="brd"))] == [rows[3].id]
    assert [r.id for r in backend.recordings.find(RecordingQuery(rule_id="rul"))] == [rows[4].id]
    assert [r.id for r in backend.recordings.find(RecordingQuery(egress="egr_2"))] == [rows[2].id]
    assert [r.id for r in backend.recordings.find(RecordingQuery(egress="EG_egr_2"))] == [rows[2].id]
    assert [r.id for r in backend.recordings.find(RecordingQuery(since=later(2), until=later(4)))] == [
        rows[3].id, rows[2].id]
    page = backend.recordings.find(RecordingQuery(limit=4))
    rest = backend.recordings.find(RecordingQuery(before=(page[-1].recorded_at, page[-1].id)))
    assert [r.id for r in page + rest] == ids
    # Recorded at the same instant: the id breaks the tie, on both sides of a page boundary.
    twins = [recording(f"egr_t{i}", started=later(100)) for i in range(3)]
    backend.recordings.add(twins, "catalogued")
    first = backend.recordings.find(RecordingQuery(limit=2))
    second = backend.recordings.find(RecordingQuery(before=(first[-1].recorded_at, first[-1].id), limit=1))
    assert [r.id for r in first + second] == sorted((t.id for t in twins), reverse=True)
    # Without a start time a recording is placed by when it was catalogued.
    late = recording("egr_late", started=None, created=later(200))
    backend.recordings.add([late], "catalogued")
    assert backend.recordings.find(RecordingQuery(limit=1))[0].id == late.id


def test_find_by_status(backend: Backend) -> None:
    a, b = recording("egr_1", started=later(1)), recording("egr_2", started=later(2))
    backend.recordings.add([a, b], "catalogued")
    backend.recordings.transition(a, dataclasses.replace(a, status=RecordingStatus.MISSING), later(3), "gone")
    missing = RecordingQuery(statuses=frozenset({RecordingStatus.MISSING}))
    assert [r.id for r in backend.recordings.find(missing)] == [a.id]
    both = RecordingQuery(statuses=frozenset({RecordingStatus.MISSING, RecordingStatus.VERIFYING}))
    assert [r.id for r in backend.recordings.find(both)] == [b.id, a.id]
    assert backend.recordings.find(RecordingQuery(statuses=frozenset())) == []
    assert backend.recordings.count_by_status() == {"verifying": 1, "missing": 1}


def test_due_for_check(backend: Backend) -> None:
    due = recording("egr_1", next_check_at=later(10))
    later_one = recording("egr_2", next_check_at=later(60))
    never_planned = recording("egr_3", next_check_at=None)
    ready = recording("egr_4", next_check_at=later(5), status=RecordingStatus.READY)
    backend.recordings.add([due, later_one, never_planned, ready], "catalogued")
    assert {r.id for r in backend.recordings.due_for_check(later(10))} == {due.id, never_planned.id}
    assert {r.id for r in backend.recordings.due_for_check(later(60))} == {due.id, later_one.id, never_planned.id}
    assert len(backend.recordings.due_for_check(later(60), limit=2)) == 2


def test_older_than(backend: Backend) -> None:
    old = recording("egr_1", started=later(-100), ended=later(-50))
    older = recording("egr_2", started=later(-300), ended=later(-200))
    never_ended = dataclasses.replace(recording("egr_3", started=None, created=later(-80)), ended_at=None)
    fresh = recording("egr_4", started=later(-10), ended=later(-5))
    backend.recordings.add([old, older, never_ended, fresh], "catalogued")
    deleted = recording("egr_5", started=later(-400), ended=later(-400))
    backend.recordings.add([deleted], "catalogued")
    backend.recordings.transition(deleted, dataclasses.replace(deleted, status=RecordingStatus.DELETED), T0, "del")
    assert [r.id for r in backend.recordings.older_than(later(-50))] == [older.id, never_ended.id, old.id]
    assert [r.id for r in backend.recordings.older_than(later(-50), limit=1)] == [older.id]


def test_ended_egresses_without_recordings(backend: Backend) -> None:
    def egress(egress_id: str, status: EgressStatus, ended_s: float | None) -> str:
        report = Observation(egress_id=egress_id, status=status, room_name="r", room_id="RM_r", updated_at_ns=1,
                             started_at=later(-1000), ended_at=later(ended_s) if ended_s is not None else None)
        applied = backend.ledger.observe(report, ChangeSource.WEBHOOK, later(ended_s or 0))
        assert applied.record is not None
        return applied.record.id

    complete = egress("EG_complete", EgressStatus.COMPLETE, 0)
    failed = egress("EG_failed", EgressStatus.FAILED, 10)
    egress("EG_active", EgressStatus.ACTIVE, None)
    egress("EG_long_ago", EgressStatus.COMPLETE, -500)
    catalogued = egress("EG_catalogued", EgressStatus.COMPLETE, 5)
    backend.recordings.add([recording(catalogued)], "catalogued")
    found = backend.recordings.ended_egresses_without_recordings(later(-100))
    assert sorted(found) == sorted([complete, failed])
    assert len(backend.recordings.ended_egresses_without_recordings(later(-100), limit=1)) == 1
