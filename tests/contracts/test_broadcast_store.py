"""The BroadcastStore contract, on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from orchestrator.domain.broadcasts import (
    Broadcast,
    BroadcastRun,
    BroadcastSpec,
    BroadcastState,
    Destination,
    LaunchReason,
    RunChanges,
    RunEgress,
    RunEventKind,
    RunStatus,
)
from orchestrator.domain.runs import MISSED_ERROR, StartAction, decide_start
from orchestrator.services.ports import BroadcastStore
from tests.contracts.conftest import Backend
from tests.contracts.rows import T0

GRACE = timedelta(minutes=5)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(backend: Backend) -> BroadcastStore:
    return backend.broadcasts


def broadcast(bid: str, *, room: str = "studio", created: datetime = T0) -> Broadcast:
    spec = BroadcastSpec(room_name=room, destinations=(Destination("rtmp", f"rtmp://h/app/{bid}-key123"),),
                         start_at=later(60), max_duration_s=600, title=f"show {bid}")
    return Broadcast(id=bid, spec=spec, state=BroadcastState.ACTIVE, created_at=created, updated_at=created)


def run(rid: str, bid: str, *, seq: int = 0, start: datetime | None = None) -> BroadcastRun:
    start = start or later(60)
    return BroadcastRun(id=rid, broadcast_id=bid, seq=seq, planned_start=start,
                        planned_end=start + timedelta(minutes=10), status=RunStatus.SCHEDULED, created_at=T0,
                        updated_at=T0)


def test_create_stores_both_with_first_history_rows(store: BroadcastStore) -> None:
    b, r = broadcast("brd_1"), run("run_1", "brd_1")
    store.create(b, r, "scheduled")
    assert store.get("brd_1") == b and store.get("brd_x") is None
    assert store.runs_of("brd_1") == [r] and store.run("run_1") == r
    [event] = store.events("run_1")
    assert (event.at, event.status_before, event.status_after, event.detail, event.kind) == (
        T0, None, RunStatus.SCHEDULED, "scheduled", RunEventKind.SCHEDULED)
    [history] = store.history("brd_1")
    assert (history.state_before, history.state_after, history.detail) == (None, BroadcastState.ACTIVE, "scheduled")
    store.create(broadcast("brd_2"), None, "no run")
    assert store.runs_of("brd_2") == [] and len(store.history("brd_2")) == 1


def test_find_filters_and_pages_newest_first(store: BroadcastStore) -> None:
    for i in range(5):
        store.create(broadcast(f"brd_{i}", room="a" if i % 2 else "b", created=later(i)), None, "scheduled")
    assert [b.id for b in store.find()] == ["brd_4", "brd_3", "brd_2", "brd_1", "brd_0"]
    assert [b.id for b in store.find(room_name="a")] == ["brd_3", "brd_1"]
    page = store.find(limit=2)
    assert [b.id for b in store.find(before=(page[-1].created_at, page[-1].id), limit=2)] == ["brd_2", "brd_1"]
    assert store.find(state=BroadcastState.CANCELLED) == []


def test_update_broadcast_is_guarded_by_version_with_history(store: BroadcastStore) -> None:
    b = broadcast("brd_1")
    store.create(b, None, "scheduled")
    edited = replace(b, spec=replace(b.spec, layout="speaker"))
    saved = store.update_broadcast(edited, later(5), "changed: layout")
    assert saved is not None and saved.version == 1 and saved.updated_at == later(5)
    assert saved.spec.layout == "speaker" and store.get("brd_1") == saved
    # A stale copy (version 0) changes nothing and writes no history.
    assert store.update_broadcast(replace(b, state=BroadcastState.CANCELLED), later(6), "stale") is None
    cancelled = store.update_broadcast(replace(saved, state=BroadcastState.CANCELLED), later(7), "cancelled")
    assert cancelled is not None and cancelled.version == 2 and cancelled.state == BroadcastState.CANCELLED
    assert [(h.state_before, h.state_after, h.detail) for h in store.history("brd_1")] == [
        (None, BroadcastState.ACTIVE, "scheduled"),
        (BroadcastState.ACTIVE, BroadcastState.ACTIVE, "changed: layout"),
        (BroadcastState.ACTIVE, BroadcastState.CANCELLED, "cancelled")]
    assert store.update_broadcast(broadcast("brd_unknown"), later(8), "nothing") is None


def test_add_run_once_per_seq(store: BroadcastStore) -> None:
    store.create(broadcast("brd_1"), run("run_1", "brd_1"), "scheduled")
    assert store.add_run(run("run_2", "brd_1", seq=1), "next occurrence")
    assert not store.add_run(run("run_3", "brd_1", seq=1), "made by another replica")
    assert [r.id for r in store.runs_of("brd_1")] == ["run_1", "run_2"]
    assert store.run("run_3") is None and store.events("run_3") == []


def test_transition_is_guarded_and_sets_typed_changes(store: BroadcastStore) -> None:
    store.create(broadcast("brd_1"), run("run_1", "brd_1"), "scheduled")
    assert store.transition("run_1", [RunStatus.LIVE], RunStatus.STOPPING, later(1), "not live") is None
    moved = store.transition("run_1", [RunStatus.SCHEDULED], RunStatus.STARTING, later(2), "claimed",
                             RunChanges(claimed_by="replica-1", error="x"), egress_pk="egr_1",
                             kind=RunEventKind.CLAIMED)
    assert moved is not None
    assert (moved.status, moved.claimed_by, moved.error, moved.version, moved.updated_at) == (
        RunStatus.STARTING, "replica-1", "x", 1, later(2))
    assert moved.planned_start == later(60)  # fields left as they were (KEEP)
    assert store.transition("run_1", [RunStatus.SCHEDULED], RunStatus.STARTING, later(3), "again") is None
    assert store.transition("run_x", [RunStatus.SCHEDULED], RunStatus.STARTING, later(3), "unknown") is None
    last = store.events("run_1")[-1]
    assert (last.status_before, last.status_after, last.egress_pk, last.kind) == (
        RunStatus.SCHEDULED, RunStatus.STARTING, "egr_1", RunEventKind.CLAIMED)
    assert len(store.events("run_1")) == 2


def test_note_with_expected_version_is_an_optimistic_claim(store: BroadcastStore) -> None:
    store.create(broadcast("brd_1"), run("run_1", "brd_1"), "scheduled")
    noted = store.note("run_1", later(1), "waiting", RunChanges(error="waiting for a publisher",
                                                                awaiting_publisher=True),
                       kind=RunEventKind.WAITING_FOR_PUBLISHER)
    assert noted is not None and noted.awaiting_publisher and noted.version == 1
    assert noted.status == RunStatus.SCHEDULED
    assert store.note("run_1", later(2), "stale", expected_version=0) is None
    readd = store.note("run_1", later(3), "re-adding", egress_pk="egr_1", expected_version=1,
                       kind=RunEventKind.READD_DESTINATION, destination="dst_0123456789")
    assert readd is not None and readd.version == 2
    events = store.events("run_1")
    assert [(e.kind, e.destination) for e in events] == [
        (RunEventKind.SCHEDULED, None), (RunEventKind.WAITING_FOR_PUBLISHER, None),
        (RunEventKind.READD_DESTINATION, "dst_0123456789")]
    assert (events[-1].status_before, events[-1].status_after) == (RunStatus.SCHEDULED, RunStatus.SCHEDULED)
    assert store.note("run_x", later(4), "unknown") is None


def test_claim_due_follows_the_misfire_decision_exactly_once(store: BroadcastStore) -> None:
    now = later(1000)
    starts = {"on_time": now, "late": now - timedelta(seconds=90), "at_grace": now - GRACE,
              "missed": now - GRACE - timedelta(seconds=1), "future": now + timedelta(seconds=1)}
    for i, (name, start) in enumerate(starts.items()):
        store.create(broadcast(f"brd_{i}"), run(name, f"brd_{i}", start=start), "scheduled")
    claimed, missed = store.claim_due(now, GRACE, "replica-1")
    expected = {n: decide_start(s, now, GRACE).action for n, s in starts.items()}
    assert sorted(r.id for r in claimed) == sorted(n for n, a in expected.items() if a == StartAction.START)
    assert [r.id for r in missed] == [n for n, a in expected.items() if a == StartAction.MISSED] == ["missed"]
    assert all(r.status == RunStatus.STARTING and r.claimed_by == "replica-1" for r in claimed)
    assert missed[0].status == RunStatus.MISSED and missed[0].error == MISSED_ERROR
    future = store.run("future")
    assert future is not None and future.status == RunStatus.SCHEDULED
    event = store.events("late")[-1]
    assert event.kind == RunEventKind.CLAIMED
    assert event.detail == "claimed by replica-1, 90000 ms after the planned start"
    assert store.events("missed")[-1].kind == RunEventKind.MISSED
    assert "misfire grace" in store.events("missed")[-1].detail
    assert store.claim_due(now, GRACE, "replica-2") == ([], [])


def test_claim_due_between_racing_replicas_claims_each_run_once(store: BroadcastStore) -> None:
    for i in range(40):
        store.create(broadcast(f"brd_{i}"), run(f"run_{i}", f"brd_{i}", start=later(10)), "scheduled")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: store.claim_due(later(11), GRACE, f"replica-{n}", 15), range(4)))
    claimed = [r.id for got, _ in results for r in got]
    assert sorted(claimed) == sorted(f"run_{i}" for i in range(40))  # 4 x 15 >= 40: all, each once


def test_attach_many_links_egresses_with_typed_reasons(store: BroadcastStore) -> None:
    store.create(broadcast("brd_1"), run("run_1", "brd_1"), "scheduled")
    store.create(broadcast("brd_2"), run("run_2", "brd_2"), "scheduled")
    store.note("run_1", later(1), "waiting", RunChanges(error="waiting for a publisher", awaiting_publisher=True))
    store.attach_many([("run_1", "egr_1", LaunchReason.START), ("run_2", "egr_2", LaunchReason.START)], later(2))
    store.attach_many([("run_1", "egr_3", LaunchReason.REPLACEMENT)], later(3))
    first = store.run("run_1")
    assert first is not None
    assert (first.egress_pk, first.attempts, first.error, first.awaiting_publisher) == ("egr_3", 2, "", False)
    assert store.egresses("run_1") == [RunEgress("egr_1", LaunchReason.START, later(2)),
                                       RunEgress("egr_3", LaunchReason.REPLACEMENT, later(3))]
    assert store.run_for_egress("egr_1") == first and store.run_for_egress("egr_9") is None
    last = store.events("run_1")[-1]
    assert (last.kind, last.egress_pk, last.detail) == (RunEventKind.LAUNCHING, "egr_3",
                                                        "replacement: starting egress egr_3")
    cleared = store.note("run_1", later(4), "launch failed", RunChanges(egress_pk=None, error="boom"))
    assert cleared is not None and cleared.egress_pk is None and cleared.planned_end == later(660)  # KEEP: unchanged


def test_runs_in_and_counts(store: BroadcastStore) -> None:
    store.create(broadcast("brd_1"), run("run_1", "brd_1", start=later(10)), "scheduled")
    store.create(broadcast("brd_2"), run("run_2", "brd_2", start=later(5000)), "scheduled")
    store.create(broadcast("brd_3"), run("run_3", "brd_3", start=later(20)), "scheduled")
    store.transition("run_3", [RunStatus.SCHEDULED], RunStatus.LIVE, later(21), "live")
    assert [r.id for r in store.runs_in([RunStatus.SCHEDULED])] == ["run_1", "run_2"]
    assert [r.id for r in store.runs_in([RunStatus.SCHEDULED], starting_before=later(100))] == ["run_1"]
    assert [r.id for r in store.runs_in([RunStatus.STARTING, RunStatus.LIVE])] == ["run_3"]
    assert store.count_runs_by_status() == {"scheduled": 2, "live": 1}


def test_next_runs_gives_each_broadcast_its_first_unfinished_run(store: BroadcastStore) -> None:
    store.create(broadcast("brd_1"), run("run_1", "brd_1", seq=0), "scheduled")  # ended; its next is to come
    store.add_run(run("run_2", "brd_1", seq=1, start=later(3600)), "next occurrence")
    store.add_run(run("run_3", "brd_1", seq=2, start=later(7200)), "the one after")
    store.transition("run_1", [RunStatus.SCHEDULED], RunStatus.ENDED, later(1), "ended")
    store.create(broadcast("brd_2"), run("run_4", "brd_2"), "scheduled")  # live: the run under way
    store.transition("run_4", [RunStatus.SCHEDULED], RunStatus.LIVE, later(2), "live")
    store.create(broadcast("brd_3"), run("run_5", "brd_3"), "scheduled")  # every run finished: none
    store.transition("run_5", [RunStatus.SCHEDULED], RunStatus.MISSED, later(3), "missed")
    store.create(broadcast("brd_4"), None, "no run")
    store.create(broadcast("brd_5"), run("run_6", "brd_5"), "scheduled")  # not asked for
    found = store.next_runs(["brd_1", "brd_2", "brd_3", "brd_4", "brd_x"])
    assert {b: (r.id, r.status) for b, r in found.items()} == {
        "brd_1": ("run_2", RunStatus.SCHEDULED), "brd_2": ("run_4", RunStatus.LIVE)}
    assert found["brd_1"] == store.run("run_2")
    assert store.next_runs([]) == {}
