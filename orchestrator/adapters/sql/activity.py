"""The "changed since" reads behind the live event stream: each aggregate's rows by (updated_at, id).

Each store calls the query of its own tables from here. A read takes the rows after a position in index order
(`ix_*_updated`, migration 0011) and maps them to `Change`s holding only fields that are safe to show.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, and_, or_, select

from orchestrator.adapters.sql.broadcast_tables import broadcast_runs, broadcasts
from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.recording_tables import recordings
from orchestrator.adapters.sql.rule_tables import room_sessions
from orchestrator.adapters.sql.tables import egresses
from orchestrator.domain.activity import Change, ChangeKind, Position


def _after(at: Column[Any], key: Column[Any], position: Position) -> ColumnElement[bool]:
    when, pk = position
    return or_(at > when, and_(at == when, key > pk))


def _read(db: SqlDatabase, query: Select[Any], to_change: Callable[[Any], Change]) -> list[Change]:
    with db.read() as conn:
        return [to_change(r) for r in conn.execute(query).all()]


def egress_changes(db: SqlDatabase, after: Position, limit: int) -> list[Change]:
    t = egresses
    query = (select(t.c.id, t.c.status, t.c.room_name, t.c.updated_at, t.c.egress_id)
             .where(_after(t.c.updated_at, t.c.id, after)).order_by(t.c.updated_at, t.c.id).limit(limit))
    return _read(db, query, lambda r: Change(ChangeKind.EGRESS, r.id, r.status, r.room_name, r.updated_at,
                                             (("egress_id", r.egress_id or ""),)))


def broadcast_changes(db: SqlDatabase, after: Position, limit: int) -> list[Change]:
    t = broadcasts
    query = (select(t.c.id, t.c.state, t.c.room_name, t.c.updated_at, t.c.title)
             .where(_after(t.c.updated_at, t.c.id, after)).order_by(t.c.updated_at, t.c.id).limit(limit))
    return _read(db, query, lambda r: Change(ChangeKind.BROADCAST, r.id, r.state, r.room_name, r.updated_at,
                                             (("title", r.title),)))


def run_changes(db: SqlDatabase, after: Position, limit: int) -> list[Change]:
    t = broadcast_runs
    query = (select(t.c.id, t.c.status, t.c.updated_at, t.c.broadcast_id, t.c.seq, broadcasts.c.room_name,
                    broadcasts.c.title)
             .join(broadcasts, broadcasts.c.id == t.c.broadcast_id)
             .where(_after(t.c.updated_at, t.c.id, after)).order_by(t.c.updated_at, t.c.id).limit(limit))
    return _read(db, query, lambda r: Change(
        ChangeKind.RUN, r.id, r.status, r.room_name, r.updated_at,
        (("broadcast_id", r.broadcast_id), ("seq", str(r.seq)), ("title", r.title))))


def recording_changes(db: SqlDatabase, after: Position, limit: int) -> list[Change]:
    t = recordings
    query = (select(t.c.id, t.c.status, t.c.room_name, t.c.updated_at, t.c.egress_id, t.c.broadcast_id)
             .where(_after(t.c.updated_at, t.c.id, after)).order_by(t.c.updated_at, t.c.id).limit(limit))
    return _read(db, query, lambda r: Change(
        ChangeKind.RECORDING, r.id, r.status, r.room_name, r.updated_at,
        (("egress_id", r.egress_id), ("broadcast_id", r.broadcast_id))))


def session_changes(db: SqlDatabase, after: Position, limit: int) -> list[Change]:
    """A session changes twice: when it opens (`started_at`) and when it ends (`ended_at`); two index reads."""
    t = room_sessions

    def change(r: Any) -> Change:
        ended: datetime | None = r.ended_at
        return Change(ChangeKind.SESSION, r.room_sid, "ended" if ended else "open", r.room_name,
                      ended or r.started_at)

    columns = (t.c.room_sid, t.c.room_name, t.c.started_at, t.c.ended_at)
    # An ended session's position is its end (the second read), so the first reads only sessions still open.
    opened = (select(*columns).where(t.c.ended_at.is_(None), _after(t.c.started_at, t.c.room_sid, after))
              .order_by(t.c.started_at, t.c.room_sid).limit(limit))
    ended = (select(*columns).where(t.c.ended_at.is_not(None), _after(t.c.ended_at, t.c.room_sid, after))
             .order_by(t.c.ended_at, t.c.room_sid).limit(limit))
    return sorted(_read(db, opened, change) + _read(db, ended, change), key=lambda c: c.position)[:limit]
