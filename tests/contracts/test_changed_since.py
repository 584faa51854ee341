"""The live event stream's reads: each store's "changed since" (by updated_at, then id), on memory, SQLite and
PostgreSQL. Changes hold only safe fields."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from orchestrator.domain.activity import Change, ChangeKind
from orchestrator.domain.broadcasts import BroadcastState
from orchestrator.domain.egress import ChangeSource, EgressStatus
from tests.contracts.conftest import Backend
from tests.contracts.recording_rows import recording
from tests.contracts.rows import T0, at, record, session
from tests.contracts.test_broadcast_store import broadcast, run

BEFORE = (T0 - timedelta(seconds=1), "")


def _ids(changes: list[Change]) -> list[str]:
    return [c.id for c in changes]


def test_egresses_in_order_after_a_position_and_bounded(backend: Backend) -> None:
    ledger = backend.ledger
    ledger.create_many([record("egr_b"), record("egr_a"), record("egr_c", created=at(1), room="room-c")])
    changes = ledger.changed_since(BEFORE, 10)  # type: ignore[attr-defined]
    assert _ids(changes) == ["egr_a", "egr_b", "egr_c"]  # same updated_at: by id
    first = changes[0]
    assert (first.kind, first.status, first.room_name, first.at) == (ChangeKind.EGRESS, "starting", "room-a", T0)
    assert _ids(ledger.changed_since(first.position, 10)) == ["egr_b", "egr_c"]  # type: ignore[attr-defined]
    assert _ids(ledger.changed_since(BEFORE, 1)) == ["egr_a"]  # type: ignore[attr-defined]
    ledger.force_status("egr_a", EgressStatus.FAILED, ChangeSource.API, at(5), error="no")
    later = ledger.changed_since(changes[-1].position, 10)  # type: ignore[attr-defined]
    assert [(c.id, c.status, c.at) for c in later] == [("egr_a", "failed", at(5))]


def test_broadcasts_and_runs_carry_their_room_and_title_never_a_destination(backend: Backend) -> None:
    store = backend.broadcasts
    b = broadcast("brd_1", room="studio")
    store.create(b, run("run_1", "brd_1"), "scheduled")
    [bc] = store.broadcasts_changed_since(BEFORE, 10)  # type: ignore[attr-defined]
    assert (bc.kind, bc.id, bc.status, bc.room_name) == (ChangeKind.BROADCAST, "brd_1", "active", "studio")
    assert dict(bc.extra) == {"title": "show brd_1"}
    [rc] = store.runs_changed_since(BEFORE, 10)  # type: ignore[attr-defined]
    assert (rc.kind, rc.id, rc.status, rc.room_name) == (ChangeKind.RUN, "run_1", "scheduled", "studio")
    assert dict(rc.extra)["broadcast_id"] == "brd_1"
    assert "key123" not in repr([bc, rc])
    store.update_broadcast(replace(b, state=BroadcastState.CANCELLED), at(3), "cancelled")
    [again] = store.broadcasts_changed_since(bc.position, 10)  # type: ignore[attr-defined]
    assert (again.status, again.at) == ("cancelled", at(3))


def test_recordings_after_a_position(backend: Backend) -> None:
    backend.recordings.add([recording("egr_1"), recording("egr_2", created=at(2), broadcast_id="brd_9")], "catalogued")
    changes = backend.recordings.changed_since(BEFORE, 10)  # type: ignore[attr-defined]
    assert [c.kind for c in changes] == [ChangeKind.RECORDING] * 2
    assert dict(changes[1].extra) == {"egress_id": "EG_egr_2", "broadcast_id": "brd_9"}
    assert backend.recordings.changed_since(changes[1].position, 10) == []  # type: ignore[attr-defined]


def test_a_session_changes_when_it_opens_and_when_it_ends(backend: Backend) -> None:
    sessions = backend.sessions
    sessions.open_sessions([(session("RM_a", room="lobby"), [], None), (session("RM_b", started=at(1)), [], None)])
    opened = sessions.changed_since(BEFORE, 10)  # type: ignore[attr-defined]
    assert [(c.id, c.status, c.room_name, c.at) for c in opened] == [
        ("RM_a", "open", "lobby", T0), ("RM_b", "open", "room-RM_b", at(1))]
    sessions.close_session("RM_a", at(9))
    ended = sessions.changed_since(opened[-1].position, 10)  # type: ignore[attr-defined]
    assert [(c.id, c.status, c.at) for c in ended] == [("RM_a", "ended", at(9))]
    assert _ids(sessions.changed_since(BEFORE, 1)) == ["RM_b"]  # type: ignore[attr-defined]
