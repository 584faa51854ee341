"""SqlRecordingRepository: the recordings catalog and the callback outbox on SQLite or PostgreSQL.

Every status write is a guarded update (the row's version) plus a history row, and the callbacks
a change causes go into the outbox in the same transaction, so a restart loses none of them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator.domain.callbacks import CallbackEventType, Delivery, DeliveryStatus
from orchestrator.domain.egress import TERMINAL
from orchestrator.domain.recordings import (
    Recording,
    RecordingEvent,
    RecordingKind,
    RecordingStatus,
    StorageKind,
)

from .recording_tables import callback_outbox, recording_events, recordings
from .tables import egresses

_BY_ID = select(recordings).where(recordings.c.id == bindparam("id"))
_INSERT_EVENT = insert(recording_events)
_MUTABLE = frozenset({"status", "reason", "updated_at", "verified_at", "deleted_at", "check_attempts",
                      "next_check_at", "size_bytes"})


class SqlRecordingRepository:
    """The recordings catalog and the callback outbox."""

    def __init__(self, engine: Engine, write_lock: contextlib.AbstractContextManager[Any] | None = None) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        # SQLite has one writer: share the ledger's lock so writers queue instead of spinning in SQLite.
        self._write_lock: contextlib.AbstractContextManager[Any] = write_lock or (
            threading.Lock() if dialect == "sqlite" else contextlib.nullcontext()
        )
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._insert_recording = (
            dialect_insert(recordings).on_conflict_do_nothing().returning(recordings.c.id)
        )
        self._insert_delivery = dialect_insert(callback_outbox).on_conflict_do_nothing(index_elements=["id"])

    def count_by_status(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(recordings.c.status, func.count()).group_by(recordings.c.status)).all()
        return {status: count for status, count in rows}

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self._engine.begin() as conn:
            yield conn

    # ---- recordings: reads --------------------------------------------------------------------

    def get(self, recording_id: str) -> Recording | None:
        with self._engine.connect() as conn:
            row = conn.execute(_BY_ID, {"id": recording_id}).first()
        return _recording(row) if row else None

    def history(self, recording_id: str) -> list[RecordingEvent]:
        query = (select(recording_events).where(recording_events.c.recording_id == recording_id)
                 .order_by(recording_events.c.seq))
        with self._engine.connect() as conn:
            return [_event(r) for r in conn.execute(query).all()]

    def of_egress(self, egress_pk: str) -> list[Recording]:
        query = select(recordings).where(recordings.c.egress_pk == egress_pk).order_by(recordings.c.part)
        with self._engine.connect() as conn:
            return [_recording(r) for r in conn.execute(query).all()]

    def find(
        self,
        *,
        room_name: str | None = None,
        room_id: str | None = None,
        broadcast_id: str | None = None,
        rule_id: str | None = None,
        egress: str | None = None,
        statuses: Iterable[RecordingStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[Recording]:
        """Newest recording first; `before` is the (recorded_at, id) of the previous page's last row."""
        query = select(recordings)
        for column, value in ((recordings.c.room_name, room_name), (recordings.c.room_id, room_id),
                              (recordings.c.broadcast_id, broadcast_id), (recordings.c.rule_id, rule_id)):
            if value:
                query = query.where(column == value)
        if egress:
            query = query.where(or_(recordings.c.egress_pk == egress, recordings.c.egress_id == egress))
        if statuses is not None:
            query = query.where(recordings.c.status.in_([s.value for s in statuses]))
        if since:
            query = query.where(recordings.c.recorded_at >= since)
        if until:
            query = query.where(recordings.c.recorded_at < until)
        if before:
            at, pk = before
            query = query.where(or_(recordings.c.recorded_at < at,
                                    and_(recordings.c.recorded_at == at, recordings.c.id < pk)))
        query = query.order_by(recordings.c.recorded_at.desc(), recordings.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [_recording(r) for r in conn.execute(query).all()]

    def due_for_check(self, now: datetime, limit: int = 100) -> list[Recording]:
        query = (select(recordings)
                 .where(recordings.c.status == RecordingStatus.VERIFYING.value,
                        or_(recordings.c.next_check_at.is_(None), recordings.c.next_check_at <= now))
                 .order_by(recordings.c.next_check_at).limit(limit))
        with self._engine.connect() as conn:
            return [_recording(r) for r in conn.execute(query).all()]

    def older_than(self, cutoff: datetime, limit: int = 1000) -> list[Recording]:
        """Recordings not yet deleted that ended (or were catalogued) at or before `cutoff`."""
        ended = func.coalesce(recordings.c.ended_at, recordings.c.created_at)
        query = (select(recordings)
                 .where(recordings.c.status != RecordingStatus.DELETED.value, ended <= cutoff)
                 .order_by(ended).limit(limit))
        with self._engine.connect() as conn:
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
        with self._engine.connect() as conn:
            return [r[0] for r in conn.execute(query).all()]

    # ---- recordings: writes -------------------------------------------------------------------

    def add(self, items: Sequence[Recording], detail: str) -> list[Recording]:
        """Catalog new recordings; ones already catalogued are left alone. Returns those added."""
        added: list[Recording] = []
        with self._write() as conn:
            for rec in items:
                if conn.execute(self._insert_recording, _columns(rec)).first() is None:
                    continue
                _append(conn, rec.id, rec.created_at, None, rec.status, detail)
                added.append(rec)
        return added

    def transition(
        self,
        current: Recording,
        changes: dict[str, Any],
        now: datetime,
        detail: str,
        deliveries: Sequence[Delivery] = (),
    ) -> Recording | None:
        """Apply `changes` only if nobody changed the row since `current` was read; None otherwise.

        A history row and the callbacks the change causes are written in the same transaction.
        """
        unknown = set(changes) - _MUTABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values = {k: (v.value if isinstance(v, RecordingStatus) else v) for k, v in changes.items()}
        values.update(updated_at=now, version=current.version + 1)
        with self._write() as conn:
            row = conn.execute(
                update(recordings)
                .where(recordings.c.id == current.id, recordings.c.version == current.version)
                .values(**values).returning(*recordings.c)
            ).first()
            if row is None:
                return None
            updated = _recording(row)
            _append(conn, current.id, now, current.status, updated.status, detail)
            for delivery in deliveries:
                conn.execute(self._insert_delivery, _delivery_columns(delivery))
        return updated

    # ---- callback outbox -----------------------------------------------------------------------

    def enqueue(self, deliveries: Sequence[Delivery]) -> int:
        """Store deliveries; one already stored (same event and URL) is not stored twice."""
        if not deliveries:
            return 0
        with self._write() as conn:
            return sum(conn.execute(self._insert_delivery, _delivery_columns(d)).rowcount or 0
                       for d in deliveries)

    def claim_due(self, now: datetime, lease_until: datetime, limit: int = 50) -> list[Delivery]:
        """Pending deliveries that are due, each leased to the caller until `lease_until`."""
        query = (select(callback_outbox)
                 .where(callback_outbox.c.status == DeliveryStatus.PENDING.value,
                        callback_outbox.c.next_attempt_at <= now,
                        or_(callback_outbox.c.claimed_until.is_(None), callback_outbox.c.claimed_until < now))
                 .order_by(callback_outbox.c.next_attempt_at).limit(limit))
        claimed: list[Delivery] = []
        with self._write() as conn:
            for row in conn.execute(query).all():
                done = conn.execute(
                    update(callback_outbox)
                    .where(callback_outbox.c.id == row.id, callback_outbox.c.version == row.version)
                    .values(claimed_until=lease_until, version=row.version + 1).returning(*callback_outbox.c)
                ).first()
                if done is not None:
                    claimed.append(_delivery(done))
        return claimed

    def finish_attempt(
        self, delivery: Delivery, status: DeliveryStatus, now: datetime, *, next_attempt_at: datetime | None,
        error: str = "",
    ) -> bool:
        """Record one attempt of a leased delivery; False if the lease was lost meanwhile."""
        values: dict[str, Any] = {"status": status.value, "attempts": delivery.attempts + 1,
                                  "last_error": error[:1000], "claimed_until": None,
                                  "version": delivery.version + 1}
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if status == DeliveryStatus.DELIVERED:
            values["delivered_at"] = now
        with self._write() as conn:
            result = conn.execute(
                update(callback_outbox)
                .where(callback_outbox.c.id == delivery.id, callback_outbox.c.version == delivery.version)
                .values(**values))
            return bool(result.rowcount)

    def deliveries(self, *, event_id: str | None = None, limit: int = 500) -> list[Delivery]:
        query = select(callback_outbox).order_by(callback_outbox.c.created_at).limit(limit)
        if event_id:
            query = query.where(callback_outbox.c.event_id == event_id)
        with self._engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query).all()]

    def next_delivery_due(self) -> datetime | None:
        query = select(func.min(callback_outbox.c.next_attempt_at)).where(
            callback_outbox.c.status == DeliveryStatus.PENDING.value)
        with self._engine.connect() as conn:
            value: datetime | None = conn.execute(query).scalar()
        return value


# ---- row <-> domain ----------------------------------------------------------------------------


def _append(conn: Connection, recording_id: str, at: datetime, before: RecordingStatus | None,
            after: RecordingStatus, detail: str) -> None:
    conn.execute(_INSERT_EVENT, {"recording_id": recording_id, "at": at,
                                 "status_before": before.value if before else None,
                                 "status_after": after.value, "detail": detail[:2000]})


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
                          else None, status_after=RecordingStatus(m["status_after"]), detail=m["detail"])


def _delivery_columns(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "event_id": d.event_id, "event_type": d.event_type.value, "url": d.url, "body": d.body,
            "status": d.status.value, "attempts": d.attempts, "last_error": d.last_error,
            "created_at": d.created_at, "next_attempt_at": d.next_attempt_at, "delivered_at": d.delivered_at,
            "claimed_until": None, "version": d.version}


def _delivery(row: Row[Any]) -> Delivery:
    m = dict(row._mapping)
    m.pop("claimed_until", None)
    m["event_type"] = CallbackEventType(m["event_type"])
    m["status"] = DeliveryStatus(m["status"])
    m["body"] = bytes(m["body"])
    return Delivery(**m)
