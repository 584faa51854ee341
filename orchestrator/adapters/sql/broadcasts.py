"""SqlBroadcastStore: broadcasts and runs; every change is a guarded update plus a history row, one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator.adapters.sql import activity
from orchestrator.domain.activity import Change, Position
from orchestrator.domain.broadcasts import (
    RUN_FINISHED,
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

from .broadcast_rows import (
    broadcast_columns,
    broadcast_event_row,
    run_columns,
    run_event_row,
    spec_columns,
    to_broadcast,
    to_broadcast_event,
    to_run,
    to_run_egress,
    to_run_event,
)
from .broadcast_tables import (
    broadcast_events,
    broadcast_run_egresses,
    broadcast_run_events,
    broadcast_runs,
    broadcasts,
)
from .database import SqlDatabase

_RUN_BY_ID = select(broadcast_runs).where(broadcast_runs.c.id == bindparam("id"))
_INSERT_RUN_EVENT = insert(broadcast_run_events)
_runs = broadcast_runs.c


class SqlBroadcastStore:
    """The BroadcastStore port on SQLite or PostgreSQL; run claims are guarded updates, safe across replicas."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    # ---- broadcasts --------------------------------------------------------------------------

    def create(self, broadcast: Broadcast, first_run: BroadcastRun | None, detail: str, *,
               actor: str = "system") -> None:
        with self._db.write() as conn:
            conn.execute(insert(broadcasts), broadcast_columns(broadcast))
            conn.execute(insert(broadcast_events), broadcast_event_row(
                broadcast.id, broadcast.created_at, None, broadcast.state, detail, actor))
            if first_run is not None:
                self._insert_run(conn, first_run, detail, actor)

    def get(self, broadcast_id: str) -> Broadcast | None:
        with self._db.read() as conn:
            row = conn.execute(select(broadcasts).where(broadcasts.c.id == broadcast_id)).first()
        return to_broadcast(row) if row else None

    def find(self, *, room_name: str | None = None, state: BroadcastState | None = None,
             before: tuple[datetime, str] | None = None, limit: int = 50) -> list[Broadcast]:
        query = select(broadcasts)
        if room_name:
            query = query.where(broadcasts.c.room_name == room_name)
        if state:
            query = query.where(broadcasts.c.state == state.value)
        if before:
            created, pk = before
            query = query.where(or_(broadcasts.c.created_at < created,
                                    (broadcasts.c.created_at == created) & (broadcasts.c.id < pk)))
        query = query.order_by(broadcasts.c.created_at.desc(), broadcasts.c.id.desc()).limit(limit)
        with self._db.read() as conn:
            return [to_broadcast(r) for r in conn.execute(query).all()]

    def history(self, broadcast_id: str) -> list[BroadcastEvent]:
        with self._db.read() as conn:
            rows = conn.execute(select(broadcast_events).where(broadcast_events.c.broadcast_id == broadcast_id)
                                .order_by(broadcast_events.c.seq)).all()
        return [to_broadcast_event(r) for r in rows]

    def update_broadcast(self, broadcast: Broadcast, now: datetime, detail: str, *,
                         actor: str = "system") -> Broadcast | None:
        with self._db.write() as conn:
            before = conn.execute(select(broadcasts.c.state)
                                  .where(broadcasts.c.id == broadcast.id,
                                         broadcasts.c.version == broadcast.version)).first()
            if before is None:
                return None
            row = conn.execute(
                update(broadcasts).where(broadcasts.c.id == broadcast.id, broadcasts.c.version == broadcast.version)
                .values(**spec_columns(broadcast.spec), state=broadcast.state.value, updated_at=now,
                        version=broadcast.version + 1)
                .returning(*broadcasts.c)).first()
            if row is None:
                return None
            conn.execute(insert(broadcast_events), broadcast_event_row(
                broadcast.id, now, before.state, broadcast.state, detail, actor))
            return to_broadcast(row)

    # ---- runs: reads -------------------------------------------------------------------------

    def add_run(self, run: BroadcastRun, detail: str) -> bool:
        with self._db.write() as conn:
            return self._insert_run(conn, run, detail)

    def run(self, run_id: str) -> BroadcastRun | None:
        with self._db.read() as conn:
            row = conn.execute(_RUN_BY_ID, {"id": run_id}).first()
        return to_run(row) if row else None

    def runs_of(self, broadcast_id: str) -> list[BroadcastRun]:
        with self._db.read() as conn:
            rows = conn.execute(select(broadcast_runs).where(_runs.broadcast_id == broadcast_id)
                                .order_by(_runs.seq)).all()
        return [to_run(r) for r in rows]

    def next_runs(self, broadcast_ids: Sequence[str]) -> dict[str, BroadcastRun]:
        if not broadcast_ids:
            return {}
        query = (select(broadcast_runs)
                 .where(_runs.broadcast_id.in_(list(broadcast_ids)),
                        _runs.status.not_in([s.value for s in RUN_FINISHED]))
                 .order_by(_runs.broadcast_id, _runs.seq.desc()))
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return {r.broadcast_id: to_run(r) for r in rows}  # the lowest seq of each comes last, and stays

    def runs_in(self, statuses: Iterable[RunStatus], *, starting_before: datetime | None = None,
                starting_after: datetime | None = None, limit: int | None = None) -> list[BroadcastRun]:
        query = select(broadcast_runs)
        if starting_before is not None:
            query = query.where(_runs.planned_start <= starting_before)
        if starting_after is not None:
            query = query.where(_runs.planned_start >= starting_after)
        # One query per status, each a range of ix_broadcast_runs_due (status, planned_start), merged here:
        # SQLite read `status IN (...)` over 50,000 runs as a full scan once it had statistics.
        found: list[Row[Any]] = []
        with self._db.read() as conn:
            for status in sorted({s.value for s in statuses}):
                one = query.where(_runs.status == status).order_by(_runs.planned_start, _runs.id)
                found += conn.execute(one if limit is None else one.limit(limit)).all()
        found.sort(key=lambda r: (r.planned_start, r.id))
        return [to_run(r) for r in (found if limit is None else found[:limit])]

    def broadcasts_changed_since(self, after: Position, limit: int) -> list[Change]:
        """Broadcasts by (updated_at, id) after `after`, oldest first (the live event stream)."""
        return activity.broadcast_changes(self._db, after, limit)

    def runs_changed_since(self, after: Position, limit: int) -> list[Change]:
        """Runs by (updated_at, id) after `after`, oldest first, with their broadcast's room and title."""
        return activity.run_changes(self._db, after, limit)

    def count_runs_by_status(self) -> dict[str, int]:
        with self._db.read() as conn:
            rows = conn.execute(select(_runs.status, func.count()).group_by(_runs.status)).all()
        return {status: count for status, count in rows}

    def run_for_egress(self, egress_pk: str) -> BroadcastRun | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(broadcast_runs).join(broadcast_run_egresses, broadcast_run_egresses.c.run_id == _runs.id)
                .where(broadcast_run_egresses.c.egress_pk == egress_pk)).first()
        return to_run(row) if row else None

    def events(self, run_id: str) -> list[RunEvent]:
        with self._db.read() as conn:
            rows = conn.execute(select(broadcast_run_events).where(broadcast_run_events.c.run_id == run_id)
                                .order_by(broadcast_run_events.c.seq)).all()
        return [to_run_event(r) for r in rows]

    def egresses(self, run_id: str) -> list[RunEgress]:
        with self._db.read() as conn:
            rows = conn.execute(select(broadcast_run_egresses).where(broadcast_run_egresses.c.run_id == run_id)
                                .order_by(broadcast_run_egresses.c.created_at)).all()
        return [to_run_egress(r) for r in rows]

    # ---- runs: guarded writes ----------------------------------------------------------------

    def transition(self, run_id: str, from_statuses: Iterable[RunStatus], to: RunStatus, now: datetime,
                   detail: str, changes: RunChanges | None = None, *, egress_pk: str | None = None,
                   kind: RunEventKind | None = None, actor: str = "system") -> BroadcastRun | None:
        """Among replicas racing for the same run, exactly one update matches."""
        allowed = [s.value for s in from_statuses]
        values = changes.values() if changes else {}
        with self._db.write() as conn:
            before = conn.execute(_RUN_BY_ID, {"id": run_id}).first()
            if before is None or before.status not in allowed:
                return None
            row = conn.execute(
                update(broadcast_runs)
                .where(_runs.id == run_id, _runs.status.in_(allowed), _runs.version == before.version)
                .values(status=to.value, updated_at=now, version=before.version + 1, **values)
                .returning(*broadcast_runs.c)).first()
            if row is None:
                return None
            conn.execute(_INSERT_RUN_EVENT, run_event_row(run_id, now, before.status, to.value, detail,
                                                          egress_pk=egress_pk, kind=kind, actor=actor))
            return to_run(row)

    def note(self, run_id: str, now: datetime, detail: str, changes: RunChanges | None = None, *,
             egress_pk: str | None = None, expected_version: int | None = None, kind: RunEventKind | None = None,
             destination: str | None = None, actor: str = "system") -> BroadcastRun | None:
        values = changes.values() if changes else {}
        guard = [_runs.id == run_id]
        if expected_version is not None:
            guard.append(_runs.version == expected_version)
        with self._db.write() as conn:
            row = conn.execute(update(broadcast_runs).where(*guard)
                               .values(updated_at=now, version=_runs.version + 1, **values)
                               .returning(*broadcast_runs.c)).first()
            if row is None:
                return None
            conn.execute(_INSERT_RUN_EVENT, run_event_row(run_id, now, row.status, row.status, detail,
                                                          egress_pk=egress_pk, kind=kind, destination=destination,
                                                          actor=actor))
            return to_run(row)

    def claim_due(self, now: datetime, grace: timedelta, instance: str, limit: int = 1000
                  ) -> tuple[list[BroadcastRun], list[BroadcastRun]]:
        """Load the scheduled runs whose start has come, decide each (`decide_start`: start, or missed beyond
        the grace), and apply both guarded updates with their history rows, in one transaction.

        On PostgreSQL, replicas skip rows another replica is claiming (SKIP LOCKED); on SQLite the single
        writer decides. A run is claimed by exactly one replica either way.
        """
        due = (select(_runs.id, _runs.planned_start)
               .where(_runs.status == RunStatus.SCHEDULED.value, _runs.planned_start <= now)
               .order_by(_runs.planned_start).limit(limit))
        if self._db.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        with self._db.write() as conn:
            decisions = {r.id: decide_start(r.planned_start, now, grace) for r in conn.execute(due).all()}
            if not decisions:
                return [], []
            late = self._claim(conn, [i for i, d in decisions.items() if d.action == StartAction.MISSED],
                               RunStatus.MISSED, now, {"error": MISSED_ERROR})
            claimed = self._claim(conn, [i for i, d in decisions.items() if d.action == StartAction.START],
                                  RunStatus.STARTING, now, {"claimed_by": instance})
            events = [run_event_row(r.id, now, RunStatus.SCHEDULED.value, RunStatus.STARTING.value,
                                    claimed_detail(instance, decisions[r.id]), kind=RunEventKind.CLAIMED)
                      for r in claimed]
            events += [run_event_row(r.id, now, RunStatus.SCHEDULED.value, RunStatus.MISSED.value,
                                     missed_detail(decisions[r.id]), kind=RunEventKind.MISSED) for r in late]
            if events:
                conn.execute(_INSERT_RUN_EVENT, events)
            return claimed, late

    def attach_many(self, links: Sequence[tuple[str, str, LaunchReason]], now: datetime) -> None:
        if not links:
            return
        with self._db.write() as conn:
            conn.execute(insert(broadcast_run_egresses), [
                {"run_id": run_id, "egress_pk": egress_pk, "reason": reason.value, "created_at": now}
                for run_id, egress_pk, reason in links])
            for run_id, egress_pk, reason in links:
                row = conn.execute(update(broadcast_runs).where(_runs.id == run_id)
                                   .values(egress_pk=egress_pk, attempts=_runs.attempts + 1, error="",
                                           awaiting_publisher=False, updated_at=now, version=_runs.version + 1)
                                   .returning(_runs.status)).first()
                status = row.status if row else RunStatus.STARTING.value
                conn.execute(_INSERT_RUN_EVENT, run_event_row(
                    run_id, now, status, status, f"{reason.value}: starting egress {egress_pk}",
                    egress_pk=egress_pk, kind=RunEventKind.LAUNCHING))

    # ---- internals ---------------------------------------------------------------------------

    @staticmethod
    def _claim(conn: Connection, ids: list[str], to: RunStatus, now: datetime, values: dict[str, Any]
               ) -> list[BroadcastRun]:
        """Scheduled runs among `ids` to `to` (a guarded update: still scheduled)."""
        if not ids:
            return []
        rows = conn.execute(
            update(broadcast_runs).where(_runs.id.in_(ids), _runs.status == RunStatus.SCHEDULED.value)
            .values(status=to.value, updated_at=now, version=_runs.version + 1, **values)
            .returning(*broadcast_runs.c)).all()
        return [to_run(r) for r in rows]

    def _insert_run(self, conn: Connection, run: BroadcastRun, detail: str, actor: str = "system") -> bool:
        dialect_insert = postgresql.insert if self._db.dialect.name == "postgresql" else sqlite.insert
        stmt = dialect_insert(broadcast_runs).on_conflict_do_nothing(
            index_elements=["broadcast_id", "seq"]).returning(_runs.id)
        if conn.execute(stmt, run_columns(run)).first() is None:
            return False
        conn.execute(_INSERT_RUN_EVENT, run_event_row(run.id, run.created_at, None, run.status.value, detail,
                                                      kind=RunEventKind.SCHEDULED, actor=actor))
        return True
