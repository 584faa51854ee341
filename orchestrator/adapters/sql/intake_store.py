"""SqlWebhookIntakeStore: the webhook fast path's one transaction (events, ledger, sessions, claims, new rows)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from orchestrator.domain.egress import START_REQUESTED, Applied, ChangeSource, EgressRecord, Outcome, decide
from orchestrator.domain.intake import IntakeBatch, IntakeItem, IntakeResult, RoomOpened
from orchestrator.domain.sessions import ClaimState

from . import ledger_rows as rows
from .claim_writes import ClaimWrites
from .database import SqlDatabase
from .ledger import SqlEgressLedger
from .ledger_writes import BY_EGRESS_IDS, LedgerWrites, VersionConflict
from .webhook_store import SqlWebhookStore, WebhookRows

log = logging.getLogger(__name__)



class SqlWebhookIntakeStore:
    """`commit(batch)`: the batch's webhooks deduplicated by id, their egress reports folded into the ledger,
    and, for each room_started not seen before, its session, its claims and the ledger rows of the claims won;
    all in one transaction, so the start calls of those claims can leave right after the commit."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._webhooks = WebhookRows(db.dialect)
        self._ledger = LedgerWrites(db.dialect)
        self._claims = ClaimWrites(db.dialect)
        # For the fallback, one item at a time (each in its own transaction).
        self._alone_ledger, self._alone_webhooks = SqlEgressLedger(db), SqlWebhookStore(db)

    def commit(self, batch: IntakeBatch) -> IntakeResult:
        try:
            with self._db.write() as conn:
                applied = self._fold(conn, batch.items, batch.now)
                opened = self._open(conn, batch, applied)
        except (IntegrityError, VersionConflict):
            # Another writer (a replica on PostgreSQL) changed one of these egresses between our read and our
            # guarded update: nothing was committed. Each item is redone on its own (retrying its conflicts),
            # then the rooms opened in a transaction of their own.
            log.debug("a webhook batch of %d met another writer; one by one", len(batch.items))
            applied = [self._alone(item, batch.now) for item in batch.items]
            with self._db.write() as conn:
                opened = self._open(conn, batch, applied)
        return IntakeResult(tuple(applied), tuple(opened))

    def _fold(self, conn: Connection, items: Sequence[IntakeItem], now: datetime) -> list[Applied]:
        """One insert for the event ids, one read of the egresses, one insert of the history, then one
        guarded update per egress that changed (with its last state in the batch)."""
        inserted = self._webhooks.insert_new(conn, [item.webhook for item in items])
        wanted = list({item.observation.egress_id for item in items
                       if item.observation is not None and item.webhook.id in inserted})
        current = {row.egress_id: rows.record(row) for row in conn.execute(BY_EGRESS_IDS, {"ids": wanted})} \
            if wanted else {}
        history: list[dict[str, Any]] = []
        dirty: dict[str, tuple[EgressRecord, dict[str, Any]]] = {}
        results: list[Applied] = []
        for item in items:
            obs, webhook = item.observation, item.webhook
            if webhook.id not in inserted:  # seen before, or earlier in this same batch
                results.append(Applied(None, Outcome.DUPLICATE, duplicate_event=True))
                continue
            inserted.discard(webhook.id)
            if obs is None:
                results.append(Applied(None, Outcome.CREATED))
                continue
            record = current.get(obs.egress_id)
            if record is None:
                adopted = self._ledger.adopt(conn, obs, ChangeSource.WEBHOOK, now, webhook.id, item.detail)
                assert adopted.record is not None
                current[obs.egress_id] = adopted.record
                results.append(adopted)
                continue
            decision = decide(record.status, record.livekit_updated_ns, obs.status, obs.updated_at_ns)
            history.append(rows.history_row(record.id, now, ChangeSource.WEBHOOK, decision.outcome, record.status,
                                            decision.status, event_id=webhook.id,
                                            detail=item.detail or rows.describe(obs)))
            if not decision.changes_row:
                results.append(Applied(record, decision.outcome, record.status))
                continue
            changes = rows.changes_from(obs, decision, now)
            base, pending = dirty.get(record.id, (record, {}))
            dirty[record.id] = (base, {**pending, **changes})
            current[obs.egress_id] = rows.with_changes(record, changes, record.version)
            results.append(Applied(current[obs.egress_id], decision.outcome, record.status))
        if history:
            self._ledger.append(conn, history)
        for base, changes in dirty.values():
            self._ledger.guarded_update(conn, base, changes)
        return results

    def _alone(self, item: IntakeItem, now: datetime) -> Applied:
        if item.observation is not None:
            return self._alone_ledger.observe(item.observation, ChangeSource.WEBHOOK, now, webhook=item.webhook,
                                              detail=item.detail)
        if self._alone_webhooks.record(item.webhook):
            return Applied(None, Outcome.CREATED)
        return Applied(None, Outcome.DUPLICATE, duplicate_event=True)

    def _open(self, conn: Connection, batch: IntakeBatch, applied: Sequence[Applied]) -> list[RoomOpened]:
        """The openings whose webhook was new: sessions and claims, then the ledger rows of the claims won."""
        new = {item.webhook.id for item, a in zip(batch.items, applied, strict=True) if not a.duplicate_event}
        openings = [o for o in batch.openings if o.notice_id in new]
        if not openings:
            return []
        results = self._claims.open_sessions(conn, [(o.session, o.claims, o.expected_since) for o in openings])
        launched: list[EgressRecord] = []
        for opening, (_, _, won) in zip(openings, results, strict=True):
            records = {r.id: r for r in opening.records}
            launched.extend(records[c.egress_pk] for c in won
                            if c.state == ClaimState.CLAIMED and c.egress_pk in records)
        if launched:
            self._ledger.create(conn, launched, START_REQUESTED)
        return [RoomOpened(o.notice_id, stored, created, tuple(won))
                for o, (stored, created, won) in zip(openings, results, strict=True)]
