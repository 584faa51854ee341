"""The actor of each history row (who asked for the change) round-trips through every store, on memory, SQLite and
PostgreSQL; a row written without one is the service's own ("system")."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.domain.broadcasts import BroadcastState, RunEventKind, RunStatus
from orchestrator.domain.egress import ChangeSource, EgressStatus
from orchestrator.domain.recordings import RecordingStatus
from tests.contracts.conftest import Backend
from tests.contracts.recording_rows import recording
from tests.contracts.rows import at, obs, record
from tests.contracts.test_broadcast_store import broadcast, run


def test_egress_history_names_who_asked(backend: Backend) -> None:
    ledger = backend.ledger
    ledger.create_many([record("egr_1")], "start requested", actor="alice")
    ledger.observe(obs("EG_1", EgressStatus.STARTING, 1), ChangeSource.API, at(1), bind_to="egr_1")
    ledger.observe(obs("EG_1", EgressStatus.ENDING, 2), ChangeSource.API, at(2), detail="stop requested", actor="bob")
    ledger.force_status("egr_1", EgressStatus.FAILED, ChangeSource.RECONCILE, at(3), error="lost")
    assert [e.actor for e in ledger.history("egr_1")] == ["alice", "system", "bob", "system"]


def test_broadcast_and_run_history_name_who_asked(backend: Backend) -> None:
    store = backend.broadcasts
    b = broadcast("brd_1")
    store.create(b, run("run_1", "brd_1"), "scheduled", actor="alice")
    store.update_broadcast(replace(b, state=BroadcastState.CANCELLED), at(5), "cancelled", actor="bob")
    store.transition("run_1", [RunStatus.SCHEDULED], RunStatus.CANCELLED, at(5), "cancelled",
                     kind=RunEventKind.CANCELLED, actor="bob")
    store.note("run_1", at(6), "noted")
    assert [(e.state_after, e.actor) for e in store.history("brd_1")] == [
        (BroadcastState.ACTIVE, "alice"), (BroadcastState.CANCELLED, "bob")]
    assert [e.actor for e in store.events("run_1")] == ["alice", "bob", "system"]


def test_recording_history_names_who_asked(backend: Backend) -> None:
    store = backend.recordings
    [added] = store.add([recording("egr_1")], "catalogued")
    deleted = store.transition(added, replace(added, status=RecordingStatus.DELETED, deleted_at=at(9)), at(9),
                               "deleted", actor="carol")
    assert deleted is not None
    assert [(e.status_after, e.actor) for e in store.history(added.id)] == [
        (RecordingStatus.VERIFYING, "system"), (RecordingStatus.DELETED, "carol")]
