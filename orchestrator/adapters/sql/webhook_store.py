"""SqlWebhookStore: received webhook events, deduplicated by their id (a unique-key insert)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Dialect, select

from orchestrator.domain.events import WebhookRow

from .bulk import NewRows
from .database import SqlDatabase
from .ledger_rows import shallow
from .tables import webhook_events


class WebhookRows:
    """Webhook rows inserted inside a transaction someone else holds (the ledger's, the intake's)."""

    def __init__(self, dialect: Dialect) -> None:
        # Batches of rows: straight to the driver's executemany on SQLite (see bulk.py).
        self._rows = NewRows(webhook_events, dialect, key="id")

    def insert_one(self, conn: Connection, webhook: WebhookRow) -> bool:
        """False when its id was stored before."""
        return conn.execute(self._rows.returning, shallow(webhook)).first() is not None

    def insert_new(self, conn: Connection, webhooks: Sequence[WebhookRow]) -> set[str]:
        """The ids stored now: those not stored before, each once (its first occurrence)."""
        return self._rows.insert_new(conn, [shallow(w) for w in webhooks])


class SqlWebhookStore:
    """Webhook events on SQLite or PostgreSQL."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._rows = WebhookRows(db.dialect)

    def record(self, webhook: WebhookRow) -> bool:
        """Store one event; False when its id was seen before."""
        with self._db.write() as conn:
            return self._rows.insert_one(conn, webhook)

    def recent(self, *, room_name: str | None = None, limit: int = 100) -> list[WebhookRow]:
        """Newest first."""
        query = select(webhook_events).order_by(webhook_events.c.received_at.desc()).limit(limit)
        if room_name:
            query = query.where(webhook_events.c.room_name == room_name)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [WebhookRow(**{k: r._mapping[k] for k in r._mapping}) for r in rows]
