"""The egress ledger's writes inside a transaction the caller holds: guarded updates, each with a history row."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Update, bindparam, delete, insert, select, update

from orchestrator.domain.egress import (
    Applied,
    ChangeSource,
    EgressRecord,
    EgressStatus,
    Observation,
    Origin,
    Outcome,
    decide,
    force,
)
from orchestrator.domain.ids import new_egress_pk

from . import ledger_rows as rows
from .bulk import Rows
from .tables import egress_events, egresses

# Statements built once: building `.values(**kw)` per call costs five times more than executing.
BY_EGRESS_ID = select(egresses).where(egresses.c.egress_id == bindparam("egress_id"))
BY_EGRESS_IDS = select(egresses).where(egresses.c.egress_id.in_(bindparam("ids", expanding=True)))
_BY_PK = select(egresses).where(egresses.c.id == bindparam("pk"))
_INSERT_EGRESS = insert(egresses)
INSERT_EVENT = insert(egress_events)


@functools.cache
def _guarded_update_stmt(columns: frozenset[str]) -> Update:
    """UPDATE of exactly these columns, guarded by the row's version; one cached statement per shape."""
    return (
        update(egresses)
        .where(egresses.c.id == bindparam("pk"), egresses.c.version == bindparam("expected_version"))
        .values({name: bindparam(name) for name in (*sorted(columns), "version")})
    )


class VersionConflict(Exception):
    """Another writer changed the row between our read and our guarded update: redo the transaction."""


class LedgerWrites:
    """Ledger writes on a connection inside a write transaction (the ledger's own, or the webhook intake's)."""

    def __init__(self, dialect: Dialect) -> None:
        # Batches of rows: straight to the driver's executemany on SQLite (see bulk.py).
        self._egress_rows = Rows(egresses, dialect)
        self._event_rows = Rows(egress_events, dialect, columns=[c.name for c in egress_events.columns
                                                                  if c.name != "seq"])

    def create(self, conn: Connection, records: Sequence[EgressRecord], detail: str, actor: str = "system") -> None:
        """New egresses about to be started, each with its first history row (`actor`: who asked)."""
        self._egress_rows.insert(conn, [rows.columns(r) for r in records])
        self._event_rows.insert(conn, [rows.history_row(r.id, r.created_at, ChangeSource.API, Outcome.CREATED,
                                                        None, r.status, detail=detail, actor=actor) for r in records])

    def observe(self, conn: Connection, obs: Observation, source: ChangeSource, now: datetime, *,
                event_id: str = "", bind_to: str | None = None, detail: str = "", actor: str = "system") -> Applied:
        """Fold one report in; with `bind_to`, the answer to our own start call for that row (a row adopted
        earlier from a webhook for the same `EG_` id is merged into it). An unknown egress is adopted."""
        found = conn.execute(BY_EGRESS_ID, {"egress_id": obs.egress_id}).first()
        if bind_to is not None:
            own = conn.execute(_BY_PK, {"pk": bind_to}).first()
            if own is None:
                raise KeyError(bind_to)
            current = rows.record(own)
            if found is not None and found.id != bind_to:
                current = self._merge_adopted(conn, current, rows.record(found), now)
            elif current.egress_id is None:
                conn.execute(update(egresses).where(egresses.c.id == bind_to).values(egress_id=obs.egress_id))
                current = dataclasses.replace(current, egress_id=obs.egress_id)
        elif found is None:
            return self.adopt(conn, obs, source, now, event_id, detail)
        else:
            current = rows.record(found)

        decision = decide(current.status, current.livekit_updated_ns, obs.status, obs.updated_at_ns)
        self.append(conn, rows.history_row(current.id, now, source, decision.outcome, current.status,
                                           decision.status, event_id=event_id, detail=detail or rows.describe(obs),
                                           actor=actor))
        if not decision.changes_row:
            return Applied(current, decision.outcome, current.status)
        updated = self.guarded_update(conn, current, rows.changes_from(obs, decision, now))
        return Applied(updated, decision.outcome, current.status)

    def force(self, conn: Connection, pk: str, target: EgressStatus, source: ChangeSource, now: datetime, *,
              error: str, error_code: int, detail: str, actor: str = "system") -> Applied:
        """A status the service decides itself, as far as the domain allows (`force`)."""
        row = conn.execute(_BY_PK, {"pk": pk}).first()
        if row is None:
            raise KeyError(pk)
        current = rows.record(row)
        decision = force(current.status, target)
        self.append(conn, rows.history_row(pk, now, source, decision.outcome, current.status, decision.status,
                                           detail=detail or error, actor=actor))
        if decision.outcome != Outcome.APPLIED:
            return Applied(current, decision.outcome, current.status)
        changes: dict[str, Any] = {"status": target.value, "updated_at": now}
        if error:
            changes.update(error=error, error_code=error_code)
        if target.terminal:
            changes["ended_at"] = now
        return Applied(self.guarded_update(conn, current, changes), Outcome.APPLIED, current.status)

    def adopt(self, conn: Connection, obs: Observation, source: ChangeSource, now: datetime, event_id: str,
              detail: str) -> Applied:
        """An egress the ledger had not seen (started by someone else, or LiveKit's auto egress)."""
        record = EgressRecord(
            id=new_egress_pk(), egress_id=obs.egress_id, kind=obs.kind, room_name=obs.room_name,
            room_id=obs.room_id, status=obs.status, origin=Origin.ADOPTED, created_at=now, updated_at=now,
            error=obs.error, error_code=obs.error_code, details=obs.details, request=obs.request,
            results=obs.results, started_at=obs.started_at, ended_at=obs.ended_at,
            livekit_updated_ns=obs.updated_at_ns,
        )
        conn.execute(_INSERT_EGRESS, rows.columns(record))
        self.append(conn, rows.history_row(
            record.id, now, source, Outcome.CREATED, None, record.status, event_id=event_id,
            detail=detail or f"adopted: LiveKit reported {obs.egress_id}, which the ledger had not seen"))
        return Applied(record, Outcome.CREATED, None)

    def _merge_adopted(self, conn: Connection, own: EgressRecord, adopted: EgressRecord, now: datetime
                       ) -> EgressRecord:
        """A webhook beat our start call's answer: fold the adopted row into ours, keeping its history."""
        conn.execute(update(egress_events).where(egress_events.c.egress_pk == adopted.id).values(egress_pk=own.id))
        conn.execute(delete(egresses).where(egresses.c.id == adopted.id))
        self.append(conn, rows.history_row(
            own.id, now, ChangeSource.API, Outcome.REFRESHED, own.status, own.status,
            detail=f"merged {adopted.egress_id}: LiveKit's webhook arrived before the start call returned"))
        decision = decide(own.status, own.livekit_updated_ns, adopted.status, adopted.livekit_updated_ns)
        changes: dict[str, Any] = {"egress_id": adopted.egress_id, "updated_at": now}
        if decision.changes_row:
            changes.update(rows.state_of(adopted, decision))
        return self.guarded_update(conn, own, changes)

    @staticmethod
    def append(conn: Connection, history: dict[str, Any] | list[dict[str, Any]]) -> None:
        """History rows (one, or many in one executemany)."""
        conn.execute(INSERT_EVENT, history)

    @staticmethod
    def guarded_update(conn: Connection, current: EgressRecord, changes: dict[str, Any]) -> EgressRecord:
        """Write the changed columns only if nobody else changed the row since we read it."""
        unknown = set(changes) - set(rows.MUTABLE)
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        params = dict(changes, pk=current.id, expected_version=current.version, version=current.version + 1)
        if conn.execute(_guarded_update_stmt(frozenset(changes)), params).rowcount != 1:
            raise VersionConflict(current.id)
        # The row now holds exactly `changes` over `current`: build it here rather than read it back.
        return rows.with_changes(current, changes, current.version + 1)
