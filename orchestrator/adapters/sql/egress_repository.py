"""Compatibility until every caller uses the ports: the old SqlEgressRepository name over SqlEgressLedger."""

from __future__ import annotations

import contextlib

from sqlalchemy import Engine

from orchestrator.domain.egress import EgressRecord
from orchestrator.domain.events import WebhookRow

from .database import SqlDatabase
from .ledger import SqlEgressLedger
from .webhook_store import SqlWebhookStore


class SqlEgressRepository(SqlEgressLedger):
    """The ledger, plus the webhook events (SqlWebhookStore) and the writer lock, under their old names."""

    def __init__(self, db: SqlDatabase | Engine) -> None:
        self.db = db if isinstance(db, SqlDatabase) else SqlDatabase(db)
        super().__init__(self.db)
        self._webhook_store = SqlWebhookStore(self.db)

    @property
    def write_lock(self) -> contextlib.AbstractContextManager[object]:
        return self.db.write_lock

    def create(self, record: EgressRecord, detail: str = "") -> EgressRecord:
        self.create_many([record], detail)
        return record

    def record_webhook(self, webhook: WebhookRow) -> bool:
        return self._webhook_store.record(webhook)

    def webhook_events(self, *, room_name: str | None = None, limit: int = 100) -> list[WebhookRow]:
        return self._webhook_store.recent(room_name=room_name, limit=limit)
