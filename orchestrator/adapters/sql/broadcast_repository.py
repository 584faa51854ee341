"""SqlBroadcastRepository: broadcasts and runs; every run status change is a guarded update plus an event row."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator.domain.broadcasts import (
    Broadcast,
    BroadcastRun,
    BroadcastSpec,
    BroadcastState,
    Destination,
    Recurrence,
    RunEgress,
    RunEvent,
    RunStatus,
)
from orchestrator.domain.layouts import LayoutOptions
from orchestrator.domain.requests import Preset

from .broadcast_tables import broadcast_run_egresses, broadcast_run_events, broadcast_runs, broadcasts

_RUN_BY_ID = select(broadcast_runs).where(broadcast_runs.c.id == bindparam("id"))
_INSERT_EVENT = insert(broadcast_run_events)


class SqlBroadcastRepository:
    """Broadcasts and their runs on SQLite or PostgreSQL; claims are guarded updates, safe across replicas."""

    def __init__(self, engine: Engine, write_lock: contextlib.AbstractContextManager[Any] | None = None) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._lock: contextlib.AbstractContextManager[Any] = write_lock or (
            threading.Lock() if self._dialect == "sqlite" else contextlib.nullcontext())

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock, self._engine.begin() as conn:
            yield conn

    # ---- broadcasts --------------------------------------------------------------------------

    def create(self, broadcast: Broadcast, first_run: BroadcastRun | None, detail: str) -> None:
        with self._write() as conn:
            conn.execute(insert(broadcasts), _broadcast_columns(broadcast))
            if first_run is not None:
                self._insert_run(conn, first_run, detail)

    def get(self, broadcast_id: str) -> Broadcast | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(broadcasts).where(broadcasts.c.id == broadcast_id)).first()
        return _broadcast(row) if row else None

    def find(
        self, *, room_name: str | None = None, state: BroadcastState | None = None,
        before: tuple[datetime, str] | None = None, limit: int = 50,
    ) -> list[Broadcast]:
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
        with self._engine.connect() as conn:
            return [_broadcast(r) for r in conn.execute(query).all()]

    def update_broadcast(self, broadcast_id: str, now: datetime, **changes: Any) -> None:
        values = dict(changes, updated_at=now)
        if "spec" in values:
            values.update(_spec_columns(values.pop("spec")))
        if "state" in values:
            values["state"] = values["state"].value
        with self._write() as conn:
            conn.execute(update(broadcasts).where(broadcasts.c.id == broadcast_id).values(**values))

    # ---- runs --------------------------------------------------------------------------------

    def add_run(self, run: BroadcastRun, detail: str) -> bool:
        """The next occurrence; False when it already exists (another replica made it)."""
        with self._write() as conn:
            return self._insert_run(conn, run, detail)

    def run(self, run_id: str) -> BroadcastRun | None:
        with self._engine.connect() as conn:
            row = conn.execute(_RUN_BY_ID, {"id": run_id}).first()
        return _run(row) if row else None

    def runs_of(self, broadcast_id: str) -> list[BroadcastRun]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(broadcast_runs).where(broadcast_runs.c.broadcast_id == broadcast_id)
                                .order_by(broadcast_runs.c.seq)).all()
        return [_run(r) for r in rows]

    def runs_in(self, statuses: Iterable[RunStatus], *, starting_before: datetime | None = None) -> list[BroadcastRun]:
        query = select(broadcast_runs).where(broadcast_runs.c.status.in_([s.value for s in statuses]))
        if starting_before is not None:
            query = query.where(broadcast_runs.c.planned_start <= starting_before)
        with self._engine.connect() as conn:
            return [_run(r) for r in conn.execute(query.order_by(broadcast_runs.c.planned_start)).all()]

    def count_runs_by_status(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(broadcast_runs.c.status, func.count()).group_by(broadcast_runs.c.status)).all()
        return {status: count for status, count in rows}

    def run_for_egress(self, egress_pk: str) -> BroadcastRun | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(broadcast_runs).join(broadcast_run_egresses,
                                            broadcast_run_egresses.c.run_id == broadcast_runs.c.id)
                .where(broadcast_run_egresses.c.egress_pk == egress_pk)).first()
        return _run(row) if row else None

    def events(self, run_id: str) -> list[RunEvent]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(broadcast_run_events).where(broadcast_run_events.c.run_id == run_id)
                                .order_by(broadcast_run_events.c.seq)).all()
        return [RunEvent(at=r.at, status_before=RunStatus(r.status_before) if r.status_before else None,
                         status_after=RunStatus(r.status_after), detail=r.detail, egress_pk=r.egress_pk)
                for r in rows]

    def egresses(self, run_id: str) -> list[RunEgress]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(broadcast_run_egresses).where(broadcast_run_egresses.c.run_id == run_id)
                                .order_by(broadcast_run_egresses.c.created_at)).all()
        return [RunEgress(r.egress_pk, r.reason, r.created_at) for r in rows]

    def transition(
        self, run_id: str, from_statuses: Iterable[RunStatus], to: RunStatus, now: datetime, detail: str,
        *, egress_pk: str | None = None, **changes: Any,
    ) -> BroadcastRun | None:
        """Move a run to `to` only if it is in one of `from_statuses` now (the claim): None if not.

        Among replicas racing for the same run, exactly one update matches.
        """
        allowed = [s.value for s in from_statuses]
        if "current_egress" in changes:
            changes["egress_pk"] = changes.pop("current_egress")
        with self._write() as conn:
            before = conn.execute(_RUN_BY_ID, {"id": run_id}).first()
            if before is None or before.status not in allowed:
                return None
            row = conn.execute(
                update(broadcast_runs)
                .where(broadcast_runs.c.id == run_id, broadcast_runs.c.status.in_(allowed),
                       broadcast_runs.c.version == before.version)
                .values(status=to.value, updated_at=now, version=before.version + 1, **changes)
                .returning(*broadcast_runs.c)).first()
            if row is None:
                return None
            conn.execute(_INSERT_EVENT, {"run_id": run_id, "at": now, "status_before": before.status,
                                         "status_after": to.value, "egress_pk": egress_pk, "detail": detail})
            return _run(row)

    def note(self, run_id: str, now: datetime, detail: str, *, egress_pk: str | None = None,
             **changes: Any) -> BroadcastRun | None:
        """A history line (and field changes) without a change of status."""
        if "current_egress" in changes:
            changes["egress_pk"] = changes.pop("current_egress")
        with self._write() as conn:
            before = conn.execute(_RUN_BY_ID, {"id": run_id}).first()
            if before is None:
                return None
            row = conn.execute(update(broadcast_runs).where(broadcast_runs.c.id == run_id)
                               .values(updated_at=now, version=broadcast_runs.c.version + 1, **changes)
                               .returning(*broadcast_runs.c)).first()
            conn.execute(_INSERT_EVENT, {"run_id": run_id, "at": now, "status_before": before.status,
                                         "status_after": before.status, "egress_pk": egress_pk, "detail": detail})
            return _run(row) if row else None

    def claim_due(
        self, now: datetime, grace_cutoff: datetime, instance: str, limit: int = 1000
    ) -> tuple[list[BroadcastRun], list[BroadcastRun]]:
        """Claim every scheduled run whose start has come, in one transaction: (claimed, missed).

        Runs that started before `grace_cutoff` are missed instead. On PostgreSQL, replicas skip rows
        another replica is claiming (SKIP LOCKED); on SQLite the single writer decides. A run is
        claimed by exactly one replica either way.
        """
        due = select(broadcast_runs.c.id).where(broadcast_runs.c.status == RunStatus.SCHEDULED.value,
                                                broadcast_runs.c.planned_start <= now).limit(limit)
        if self._dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        with self._write() as conn:
            ids = [r.id for r in conn.execute(due).all()]
            if not ids:
                return [], []
            late = conn.execute(
                update(broadcast_runs)
                .where(broadcast_runs.c.id.in_(ids), broadcast_runs.c.status == RunStatus.SCHEDULED.value,
                       broadcast_runs.c.planned_start < grace_cutoff)
                .values(status=RunStatus.MISSED.value, updated_at=now, version=broadcast_runs.c.version + 1,
                        error="missed its start: the service was not running within the misfire grace")
                .returning(*broadcast_runs.c)).all()
            claimed = conn.execute(
                update(broadcast_runs)
                .where(broadcast_runs.c.id.in_(ids), broadcast_runs.c.status == RunStatus.SCHEDULED.value)
                .values(status=RunStatus.STARTING.value, updated_at=now, version=broadcast_runs.c.version + 1,
                        claimed_by=instance)
                .returning(*broadcast_runs.c)).all()
            events = [{"run_id": r.id, "at": now, "status_before": RunStatus.SCHEDULED.value,
                       "status_after": RunStatus.STARTING.value, "egress_pk": None,
                       "detail": f"claimed by {instance}, "
                                 f"{int((now - r.planned_start).total_seconds() * 1000)} ms after the planned start"}
                      for r in claimed]
            events += [{"run_id": r.id, "at": now, "status_before": RunStatus.SCHEDULED.value,
                        "status_after": RunStatus.MISSED.value, "egress_pk": None,
                        "detail": f"missed: the service was not running at the planned start (late by "
                                  f"{int((now - r.planned_start).total_seconds())} s, beyond the misfire grace)"}
                       for r in late]
            conn.execute(_INSERT_EVENT, events)
            return [_run(r) for r in claimed], [_run(r) for r in late]

    def note_if(self, run_id: str, expected_version: int, now: datetime, detail: str, *,
                egress_pk: str | None = None, **changes: Any) -> BroadcastRun | None:
        """Like `note`, but only if nobody changed the run since `expected_version`: the optimistic claim
        that lets exactly one replica heal, take over or roll over a run."""
        if "current_egress" in changes:
            changes["egress_pk"] = changes.pop("current_egress")
        with self._write() as conn:
            row = conn.execute(update(broadcast_runs)
                               .where(broadcast_runs.c.id == run_id, broadcast_runs.c.version == expected_version)
                               .values(updated_at=now, version=expected_version + 1, **changes)
                               .returning(*broadcast_runs.c)).first()
            if row is None:
                return None
            conn.execute(_INSERT_EVENT, {"run_id": run_id, "at": now, "status_before": row.status,
                                         "status_after": row.status, "egress_pk": egress_pk, "detail": detail})
            return _run(row)

    def attach_many(self, links: list[tuple[str, str, str]], now: datetime) -> None:
        """(run, egress, reason): the egress now carries the run; linked before its start call leaves."""
        if not links:
            return
        with self._write() as conn:
            conn.execute(insert(broadcast_run_egresses), [
                {"run_id": run_id, "egress_pk": egress_pk, "reason": reason, "created_at": now}
                for run_id, egress_pk, reason in links])
            for run_id, egress_pk, reason in links:
                row = conn.execute(update(broadcast_runs).where(broadcast_runs.c.id == run_id)
                                   .values(egress_pk=egress_pk, attempts=broadcast_runs.c.attempts + 1, error="",
                                           updated_at=now, version=broadcast_runs.c.version + 1)
                                   .returning(broadcast_runs.c.status)).first()
                status = row.status if row else RunStatus.STARTING.value
                conn.execute(_INSERT_EVENT, {"run_id": run_id, "at": now, "status_before": status,
                                             "status_after": status, "egress_pk": egress_pk,
                                             "detail": f"{reason}: starting egress {egress_pk}"})

    def link_egress(self, run_id: str, egress_pk: str, reason: str, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(insert(broadcast_run_egresses), {"run_id": run_id, "egress_pk": egress_pk,
                                                          "reason": reason, "created_at": now})

    # ---- internals ---------------------------------------------------------------------------

    def _insert_run(self, conn: Connection, run: BroadcastRun, detail: str) -> bool:
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(broadcast_runs).on_conflict_do_nothing(
            index_elements=["broadcast_id", "seq"]).returning(broadcast_runs.c.id)
        inserted = conn.execute(stmt, _run_columns(run)).first()
        if inserted is None:
            return False
        conn.execute(_INSERT_EVENT, {"run_id": run.id, "at": run.created_at, "status_before": None,
                                     "status_after": run.status.value, "egress_pk": None, "detail": detail})
        return True


def _spec_columns(spec: BroadcastSpec) -> dict[str, Any]:
    rec = spec.recurrence
    return {
        "room_name": spec.room_name, "layout": spec.layout, "preset": spec.preset.value,
        "destinations": [{"kind": d.kind, "url": d.url} for d in spec.destinations],
        "record_filepath": spec.record_filepath, "start_at": spec.start_at, "end_at": spec.end_at,
        "max_duration_s": spec.max_duration_s,
        "recurrence": {"cron": rec.cron, "timezone": rec.timezone,
                       "until": rec.until.isoformat() if rec.until else None, "count": rec.count} if rec else None,
        "wait_for_publisher": spec.wait_for_publisher, "title": spec.title, "metadata": spec.metadata,
        "callback_urls": list(spec.callback_urls),
        "layout_options": spec.layout_options.to_json() if spec.layout_options else None,
    }


def _broadcast_columns(b: Broadcast) -> dict[str, Any]:
    return {"id": b.id, **_spec_columns(b.spec), "state": b.state.value, "created_at": b.created_at,
            "updated_at": b.updated_at}


def _broadcast(row: Row[Any]) -> Broadcast:
    m = row._mapping
    rec = m["recurrence"]
    spec = BroadcastSpec(
        room_name=m["room_name"], layout=m["layout"], preset=Preset(m["preset"]),
        destinations=tuple(Destination(d["kind"], d["url"]) for d in m["destinations"]),
        record_filepath=m["record_filepath"], start_at=m["start_at"], end_at=m["end_at"],
        max_duration_s=m["max_duration_s"],
        recurrence=Recurrence(rec["cron"], rec["timezone"],
                              datetime.fromisoformat(rec["until"]) if rec["until"] else None, rec["count"])
        if rec else None,
        wait_for_publisher=m["wait_for_publisher"], title=m["title"], metadata=m["metadata"],
        callback_urls=tuple(m["callback_urls"] or ()),
        layout_options=LayoutOptions(**m["layout_options"]) if m["layout_options"] else None,
    )
    return Broadcast(id=m["id"], spec=spec, state=BroadcastState(m["state"]), created_at=m["created_at"],
                     updated_at=m["updated_at"])


def _run_columns(r: BroadcastRun) -> dict[str, Any]:
    return {
        "id": r.id, "broadcast_id": r.broadcast_id, "seq": r.seq, "planned_start": r.planned_start,
        "planned_end": r.planned_end, "status": r.status.value, "actual_start": r.actual_start,
        "actual_end": r.actual_end, "error": r.error, "egress_pk": r.egress_pk, "attempts": r.attempts,
        "claimed_by": r.claimed_by, "preflight": r.preflight, "created_at": r.created_at,
        "updated_at": r.updated_at, "version": r.version,
    }


def _run(row: Row[Any]) -> BroadcastRun:
    m = row._mapping
    return BroadcastRun(
        id=m["id"], broadcast_id=m["broadcast_id"], seq=m["seq"], planned_start=m["planned_start"],
        planned_end=m["planned_end"], status=RunStatus(m["status"]), created_at=m["created_at"],
        updated_at=m["updated_at"], actual_start=m["actual_start"], actual_end=m["actual_end"], error=m["error"],
        egress_pk=m["egress_pk"], attempts=m["attempts"], claimed_by=m["claimed_by"], preflight=m["preflight"],
        version=m["version"],
    )
