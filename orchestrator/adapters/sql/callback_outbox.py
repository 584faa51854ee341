"""SqlCallbackOutbox: signed callbacks waiting for delivery, leased so one replica sends each attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Row, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator.domain.callbacks import CallbackEventType, Delivery, DeliveryStatus

from .database import SqlDatabase
from .recording_tables import callback_outbox


class SqlCallbackOutbox:
    """The `callback_outbox` table. `put(conn, deliveries)` lets the recordings catalog write deliveries
    inside its own transaction (a status change and the callbacks it causes commit together)."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        dialect_insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
        # RETURNING tells what was inserted on both dialects (psycopg's rowcount is -1 for this statement).
        self._insert: Insert = (dialect_insert(callback_outbox).on_conflict_do_nothing(index_elements=["id"])
                                .returning(callback_outbox.c.id))

    def put(self, conn: Connection, deliveries: Sequence[Delivery]) -> int:
        """Insert deliveries in the caller's transaction; ones already stored are skipped. Returns how many."""
        return sum(conn.execute(self._insert, _columns(d)).first() is not None for d in deliveries)

    def enqueue(self, deliveries: Sequence[Delivery]) -> int:
        """Store deliveries; one already stored (same event and URL) is not stored twice."""
        if not deliveries:
            return 0
        with self._db.write() as conn:
            return self.put(conn, deliveries)

    def claim_due(self, now: datetime, lease_until: datetime, limit: int = 50) -> list[Delivery]:
        """Pending deliveries that are due, each leased to the caller until `lease_until`."""
        query = (select(callback_outbox)
                 .where(callback_outbox.c.status == DeliveryStatus.PENDING.value,
                        callback_outbox.c.next_attempt_at <= now,
                        or_(callback_outbox.c.claimed_until.is_(None), callback_outbox.c.claimed_until < now))
                 .order_by(callback_outbox.c.next_attempt_at).limit(limit))
        claimed: list[Delivery] = []
        with self._db.write() as conn:
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
        with self._db.write() as conn:
            result = conn.execute(
                update(callback_outbox)
                .where(callback_outbox.c.id == delivery.id, callback_outbox.c.version == delivery.version)
                .values(**values))
            return bool(result.rowcount)

    def deliveries(self, *, event_id: str | None = None, limit: int = 500) -> list[Delivery]:
        query = select(callback_outbox).order_by(callback_outbox.c.created_at).limit(limit)
        if event_id:
            query = query.where(callback_outbox.c.event_id == event_id)
        with self._db.read() as conn:
            return [_delivery(r) for r in conn.execute(query).all()]

    def next_delivery_due(self) -> datetime | None:
        query = select(func.min(callback_outbox.c.next_attempt_at)).where(
            callback_outbox.c.status == DeliveryStatus.PENDING.value)
        with self._db.read() as conn:
            value: datetime | None = conn.execute(query).scalar()
        return value


def _columns(d: Delivery) -> dict[str, Any]:
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
