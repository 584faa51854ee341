"""SqlRecordingStore: the recordings catalog on SQLite or PostgreSQL (guarded updates, a history row each)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator.adapters.sql import activity
from orchestrator.domain.activity import Change, Position
from orchestrator.domain.callbacks import Delivery
from orchestrator.domain.egress import TERMINAL
from orchestrator.domain.recordings import (
    Recording,
    RecordingEvent,
    RecordingKind,
    RecordingQuery,
    RecordingStatus,
    StorageKind,
    changed_fields,
)

from .callback_outbox import SqlCallbackOutbox
from .database import SqlDatabase
from .recording_tables import recording_events, recordings
from .tables import egresses

_BY_ID = select(recordings).where(recordings.c.id == bindparam("id"))
_INSERT_EVENT = insert(recording_events)


class SqlRecordingStore:
    """The `recordings` and `recording_events` tables. A transition's callbacks go into the outbox in the
    transition's own transaction, so a restart loses none of them."""

    def __init__(self, db: SqlDatabase, outbox: SqlCallbackOutbox) -> None:
        self._db = db
        self._outbox = outbox
        dialect_insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
        self._insert = dialect_insert(recordings).on_conflict_do_nothing().returning(recordings.c.id)

    # ---- reads ---------------------------------------------------------------------------------

    def changed_since(self, after: Position, limit: int) -> list[Change]:
        """Recordings by (updated_at, id) after `after`, oldest first (the live event stream)."""
        return activity.recording_changes(self._db, after, limit)

    def count_by_status(self) -> dict[str, int]:
        with self._db.read() as conn:
            rows = conn.execute(select(recordings.c.status, func.count()).group_by(recordings.c.status)).all()
        return {status: count for status, count in rows}

    def get(self, recording_id: str) -> Recording | None:
        with self._db.read() as conn:
            row = conn.execute(_BY_ID, {"id": recording_id}).first()
        return _recording(row) if row else None

    def history(self, recording_id: str) -> list[RecordingEvent]:
        query = (select(recording_events).where(recording_events.c.recording_id == recording_id)
                 .order_by(recording_events.c.seq))
        with self._db.read() as conn:
            return [_event(r) for r in conn.execute(query).all()]

    def of_egress(self, egress_pk: str) -> list[Recording]:
        query = select(recordings).where(recordings.c.egress_pk == egress_pk).order_by(recordings.c.part)
        with self._db.read() as conn:
            return [_recording(r) for r in conn.execute(query).all()]

    def find(self, q: RecordingQuery) -> list[Recording]:
        """Newest recording first; `q.before` is the (recorded_at, id) of the previous page's last row."""
        query = select(recordings)
        for column, value in ((recordings.c.room_name, q.room_name), (recordings.c.room_id, q.room_id),
                              (recordings.c.broadcast_id, q.broadcast_id), (recordings.c.rule_id, q.rule_id)):
            if value:
                query = query.where(column == value)
        if q.egress:
            query = query.where(or_(recordings.c.egress_pk == q.egress, recordings.c.egress_id == q.egress))
        if q.statuses is not None:
            query = query.where(recordings.c.status.in_([s.value for s in q.statuses]))
        if q.since:
            query = query.where(recordings.c.recorded_at >= q.since)
        if q.until:
            query = query.where(recordings.c.recorded_at < q.until)
        if q.before:
            at, pk = q.before
            query = query.where(or_(recordings.c.recorded_at < at,
                                    and_(recordings.c.recorded_at == at, recordings.c.id < pk)))
        query = query.order_by(recordings.c.recorded_at.desc(), recordings.c.id.desc()).limit(q.limit)
        with self._db.read() as conn:
            return [_recording(r) for r in conn.execute(query).all()]

    def due_for_check(self, now: datetime, limit: int = 100) -> list[Recording]:
        query = (select(recordings)
                 .where(recordings.c.status == RecordingStatus.VERIFYING.value,
                        or_(recordings.c.next_check_at.is_(None), recordings.c.next_check_at <= now))
                 .order_by(recordings.c.next_check_at).limit(limit))
        with self._db.read() as conn:
            return [_recording(r) for r in conn.execute(query).all()]

    def older_than(self, cutoff: datetime, limit: int = 1000) -> list[Recording]:
        """Recordings not yet deleted that ended (or were catalogued) at or before `cutoff`."""
        ended = func.coalesce(recordings.c.ended_at, recordings.c.created_at)
        query = (select(recordings)
                 .where(recordings.c.status != RecordingStatus.DELETED.value, ended <= cutoff)
                 .order_by(ended).limit(limit))
        with self._db.read() as conn:
            return [_recording(r) for r in conn.execute(query).all()]

    def ended_egresses_without_recordings(self, since: datetime, limit: int = 500) -> list[str]:
        """Ids of egresses that ended after `since`, have results and no recordings yet (the sweep)."""
        query = (
            select(egresses.c.id)
            .where(egresses.c.status.in_([s.value for s in TERMINAL]),
                   or_(egresses.c.ended_at.is_(None), egresses.c.ended_at >= since),
                   ~exists().where(recordings.c.egress_pk == egresses.c.id))
            .order_by(egresses.c.updated_at).limit(limit)
        )
        with self._db.read() as conn:
            return [r[0] for r in conn.execute(query).all()]

    # ---- writes --------------------------------------------------------------------------------

    def add(self, items: Sequence[Recording], detail: str) -> list[Recording]:
        """Catalog new recordings; ones already catalogued are left alone. Returns those added."""
        added: list[Recording] = []
        with self._db.write() as conn:
            for rec in items:
                if conn.execute(self._insert, _columns(rec)).first() is None:
                    continue
                _append(conn, rec.id, rec.created_at, None, rec.status, detail)
                added.append(rec)
        return added

    def transition(
        self, current: Recording, after: Recording, now: datetime, detail: str, deliveries: Sequence[Delivery] = (),
        *, actor: str = "system",
    ) -> Recording | None:
        """Store `after` only if nobody changed the row since `current` was read; None otherwise.

        A history row and the callbacks the change causes are written in the same transaction.
        """
        values = {k: (v.value if isinstance(v, RecordingStatus) else v)
                  for k, v in changed_fields(current, after).items()}
        values.update(updated_at=now, version=current.version + 1)
        with self._db.write() as conn:
            row = conn.execute(
                update(recordings)
                .where(recordings.c.id == current.id, recordings.c.version == current.version)
                .values(**values).returning(*recordings.c)
            ).first()
            if row is None:
                return None
            updated = _recording(row)
            _append(conn, current.id, now, current.status, updated.status, detail, actor)
            self._outbox.put(conn, deliveries)
        return updated


# ---- row <-> domain ----------------------------------------------------------------------------


def _append(conn: Connection, recording_id: str, at: datetime, before: RecordingStatus | None,
            after: RecordingStatus, detail: str, actor: str = "system") -> None:
    conn.execute(_INSERT_EVENT, {"recording_id": recording_id, "at": at,
                                 "status_before": before.value if before else None,
                                 "status_after": after.value, "detail": detail[:2000], "actor": actor})


def _columns(rec: Recording) -> dict[str, Any]:
    return {
        "id": rec.id, "egress_pk": rec.egress_pk, "egress_id": rec.egress_id, "part": rec.part,
        "kind": rec.kind.value, "storage": rec.storage.value, "bucket": rec.bucket, "key": rec.key,
        "location": rec.location, "size_bytes": rec.size_bytes, "duration_s": rec.duration_s,
        "content_type": rec.content_type, "room_name": rec.room_name, "room_id": rec.room_id,
        "broadcast_id": rec.broadcast_id, "rule_id": rec.rule_id, "status": rec.status.value,
        "reason": rec.reason, "created_at": rec.created_at, "updated_at": rec.updated_at,
        "recorded_at": rec.recorded_at, "started_at": rec.started_at, "ended_at": rec.ended_at,
        "verified_at": rec.verified_at, "deleted_at": rec.deleted_at, "check_attempts": rec.check_attempts,
        "next_check_at": rec.next_check_at, "version": rec.version,
    }


def _recording(row: Row[Any]) -> Recording:
    m = dict(row._mapping)
    m.pop("recorded_at", None)
    m["kind"] = RecordingKind(m["kind"])
    m["storage"] = StorageKind(m["storage"])
    m["status"] = RecordingStatus(m["status"])
    return Recording(**m)


def _event(row: Row[Any]) -> RecordingEvent:
    m = row._mapping
    return RecordingEvent(at=m["at"], status_before=RecordingStatus(m["status_before"]) if m["status_before"]
                          else None, status_after=RecordingStatus(m["status_after"]), detail=m["detail"],
                          actor=m["actor"] or "system")
