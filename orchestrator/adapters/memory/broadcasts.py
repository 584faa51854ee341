"""MemoryBroadcastStore: the BroadcastStore port in memory, with the SQL store's guards and history rows."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from orchestrator.domain.activity import Change, ChangeKind, Position, after
from orchestrator.domain.broadcasts import (
    Broadcast,
    BroadcastEvent,
    BroadcastRun,
    BroadcastState,
    LaunchReason,
    RunChanges,
    RunEgress,
    RunEvent,
    RunEventKind,
    RunStatus,
)
from orchestrator.domain.runs import MISSED_ERROR, StartAction, claimed_detail, decide_start, missed_detail


class MemoryBroadcastStore:
    """Broadcasts, runs, their history and egress links in dictionaries under one lock. Rows are frozen
    dataclasses: every write replaces a row, so readers never see one half-changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._broadcasts: dict[str, Broadcast] = {}
        self._history: dict[str, list[BroadcastEvent]] = {}
        self._runs: dict[str, BroadcastRun] = {}
        self._events: dict[str, list[RunEvent]] = {}
        self._links: dict[str, list[RunEgress]] = {}  # by run id, in link order
        self._run_of_egress: dict[str, str] = {}

    # ---- broadcasts --------------------------------------------------------------------------

    def create(self, broadcast: Broadcast, first_run: BroadcastRun | None, detail: str, *,
               actor: str = "system") -> None:
        with self._lock:
            if broadcast.id in self._broadcasts:
                raise ValueError(f"broadcast {broadcast.id} exists")
            self._broadcasts[broadcast.id] = broadcast
            self._history[broadcast.id] = [BroadcastEvent(broadcast.created_at, None, broadcast.state, detail,
                                                          actor)]
            if first_run is not None:
                self._insert_run(first_run, detail, actor)

    def get(self, broadcast_id: str) -> Broadcast | None:
        return self._broadcasts.get(broadcast_id)

    def find(self, *, room_name: str | None = None, state: BroadcastState | None = None,
             before: tuple[datetime, str] | None = None, limit: int = 50) -> list[Broadcast]:
        found = [b for b in list(self._broadcasts.values())
                 if (not room_name or b.spec.room_name == room_name) and (not state or b.state == state)
                 and (before is None or (b.created_at, b.id) < before)]
        return sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)[:limit]

    def broadcasts_changed_since(self, after_: Position, limit: int) -> list[Change]:
        return after([Change(ChangeKind.BROADCAST, b.id, b.state.value, b.spec.room_name, b.updated_at,
                             (("title", b.spec.title),)) for b in list(self._broadcasts.values())], after_, limit)

    def runs_changed_since(self, after_: Position, limit: int) -> list[Change]:
        changes = []
        for r in list(self._runs.values()):
            b = self._broadcasts[r.broadcast_id]
            changes.append(Change(ChangeKind.RUN, r.id, r.status.value, b.spec.room_name, r.updated_at,
                                  (("broadcast_id", r.broadcast_id), ("seq", str(r.seq)), ("title", b.spec.title))))
        return after(changes, after_, limit)

    def history(self, broadcast_id: str) -> list[BroadcastEvent]:
        return list(self._history.get(broadcast_id, ()))

    def update_broadcast(self, broadcast: Broadcast, now: datetime, detail: str, *,
                         actor: str = "system") -> Broadcast | None:
        with self._lock:
            stored = self._broadcasts.get(broadcast.id)
            if stored is None or stored.version != broadcast.version:
                return None
            updated = replace(broadcast, created_at=stored.created_at, updated_at=now, version=stored.version + 1)
            self._broadcasts[broadcast.id] = updated
            self._history[broadcast.id] = [*self._history[broadcast.id],
                                           BroadcastEvent(now, stored.state, broadcast.state, detail, actor)]
            return updated

    # ---- runs: reads -------------------------------------------------------------------------

    def add_run(self, run: BroadcastRun, detail: str) -> bool:
        with self._lock:
            return self._insert_run(run, detail)

    def run(self, run_id: str) -> BroadcastRun | None:
        return self._runs.get(run_id)

    def runs_of(self, broadcast_id: str) -> list[BroadcastRun]:
        return sorted((r for r in list(self._runs.values()) if r.broadcast_id == broadcast_id), key=lambda r: r.seq)

    def next_runs(self, broadcast_ids: Sequence[str]) -> dict[str, BroadcastRun]:
        wanted = set(broadcast_ids)
        found: dict[str, BroadcastRun] = {}
        for r in sorted(list(self._runs.values()), key=lambda r: r.seq):
            if r.broadcast_id in wanted and not r.status.finished:
                found.setdefault(r.broadcast_id, r)
        return found

    def runs_in(self, statuses: Iterable[RunStatus], *, starting_before: datetime | None = None,
                starting_after: datetime | None = None, limit: int | None = None) -> list[BroadcastRun]:
        wanted = set(statuses)
        found = [r for r in list(self._runs.values()) if r.status in wanted
                 and (starting_before is None or r.planned_start <= starting_before)
                 and (starting_after is None or r.planned_start >= starting_after)]
        return sorted(found, key=lambda r: (r.planned_start, r.id))[:limit]

    def count_runs_by_status(self) -> dict[str, int]:
        return dict(Counter(r.status.value for r in list(self._runs.values())))

    def run_for_egress(self, egress_pk: str) -> BroadcastRun | None:
        run_id = self._run_of_egress.get(egress_pk)
        return self._runs.get(run_id) if run_id else None

    def events(self, run_id: str) -> list[RunEvent]:
        return list(self._events.get(run_id, ()))

    def egresses(self, run_id: str) -> list[RunEgress]:
        return sorted(self._links.get(run_id, ()), key=lambda e: e.created_at)

    # ---- runs: guarded writes ----------------------------------------------------------------

    def transition(self, run_id: str, from_statuses: Iterable[RunStatus], to: RunStatus, now: datetime,
                   detail: str, changes: RunChanges | None = None, *, egress_pk: str | None = None,
                   kind: RunEventKind | None = None, actor: str = "system") -> BroadcastRun | None:
        with self._lock:
            before = self._runs.get(run_id)
            if before is None or before.status not in set(from_statuses):
                return None
            after = self._write(before, changes, now, status=to)
            self._add_event(run_id, RunEvent(now, before.status, to, detail, egress_pk, kind, actor=actor))
            return after

    def note(self, run_id: str, now: datetime, detail: str, changes: RunChanges | None = None, *,
             egress_pk: str | None = None, expected_version: int | None = None, kind: RunEventKind | None = None,
             destination: str | None = None, actor: str = "system") -> BroadcastRun | None:
        with self._lock:
            before = self._runs.get(run_id)
            if before is None or (expected_version is not None and before.version != expected_version):
                return None
            after = self._write(before, changes, now)
            self._add_event(run_id, RunEvent(now, before.status, before.status, detail, egress_pk, kind,
                                             destination, actor))
            return after

    def claim_due(self, now: datetime, grace: timedelta, instance: str, limit: int = 1000
                  ) -> tuple[list[BroadcastRun], list[BroadcastRun]]:
        with self._lock:
            due = sorted((r for r in self._runs.values()
                          if r.status == RunStatus.SCHEDULED and r.planned_start <= now),
                         key=lambda r: r.planned_start)[:limit]
            claimed: list[BroadcastRun] = []
            missed: list[BroadcastRun] = []
            for run in due:
                decision = decide_start(run.planned_start, now, grace)
                if decision.action == StartAction.MISSED:
                    missed.append(self._write(run, RunChanges(error=MISSED_ERROR), now, status=RunStatus.MISSED))
                    self._add_event(run.id, RunEvent(now, RunStatus.SCHEDULED, RunStatus.MISSED,
                                                     missed_detail(decision), kind=RunEventKind.MISSED))
                elif decision.action == StartAction.START:
                    claimed.append(self._write(run, RunChanges(claimed_by=instance), now, status=RunStatus.STARTING))
                    self._add_event(run.id, RunEvent(now, RunStatus.SCHEDULED, RunStatus.STARTING,
                                                     claimed_detail(instance, decision), kind=RunEventKind.CLAIMED))
            return claimed, missed

    def attach_many(self, links: Sequence[tuple[str, str, LaunchReason]], now: datetime) -> None:
        with self._lock:
            for run_id, egress_pk, _ in links:
                if run_id not in self._runs or egress_pk in {e.egress_pk for e in self._links.get(run_id, ())}:
                    raise ValueError(f"cannot link egress {egress_pk} to run {run_id}")  # the SQL keys refuse it
            for run_id, egress_pk, reason in links:
                self._links[run_id] = [*self._links.get(run_id, ()), RunEgress(egress_pk, reason, now)]
                self._run_of_egress.setdefault(egress_pk, run_id)
                before = self._runs[run_id]
                self._write(before, RunChanges(egress_pk=egress_pk, error="", awaiting_publisher=False), now,
                            attempts=before.attempts + 1)
                self._add_event(run_id, RunEvent(now, before.status, before.status,
                                                 f"{reason.value}: starting egress {egress_pk}", egress_pk,
                                                 RunEventKind.LAUNCHING))

    # ---- internals (the lock held) -----------------------------------------------------------

    def _insert_run(self, run: BroadcastRun, detail: str, actor: str = "system") -> bool:
        if run.broadcast_id not in self._broadcasts:
            raise ValueError(f"no broadcast {run.broadcast_id}")  # the SQL foreign key refuses it
        if run.id in self._runs or any(r.broadcast_id == run.broadcast_id and r.seq == run.seq
                                       for r in self._runs.values()):
            return False
        self._runs[run.id] = run
        self._events[run.id] = [RunEvent(run.created_at, None, run.status, detail, kind=RunEventKind.SCHEDULED,
                                         actor=actor)]
        return True

    def _write(self, run: BroadcastRun, changes: RunChanges | None, now: datetime, *,
               status: RunStatus | None = None, attempts: int | None = None) -> BroadcastRun:
        after = replace(run, **(changes.values() if changes else {}), status=status or run.status,  # type: ignore[arg-type]
                        attempts=run.attempts if attempts is None else attempts, updated_at=now,
                        version=run.version + 1)
        self._runs[run.id] = after
        return after

    def _add_event(self, run_id: str, event: RunEvent) -> None:
        self._events[run_id] = [*self._events.get(run_id, ()), event]
