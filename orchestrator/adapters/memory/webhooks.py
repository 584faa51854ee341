"""MemoryWebhookStore and MemoryWebhookIntakeStore: webhook events and the fast path's one transaction."""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator.domain.egress import START_REQUESTED, Applied, ChangeSource, EgressRecord, Outcome, decide
from orchestrator.domain.events import WebhookRow
from orchestrator.domain.intake import IntakeBatch, IntakeResult, RoomOpened
from orchestrator.domain.sessions import ClaimState

from .database import MemoryDatabase, Tables, require_aware
from .ledger import adopt, append_event, changes_from, describe, guarded_update, insert_records
from .sessions import open_sessions


class MemoryWebhookStore:
    """The WebhookStore port on a MemoryDatabase."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def record(self, webhook: WebhookRow) -> bool:
        require_aware(webhook.received_at, webhook.created_at)
        with self._db.transaction() as t:
            if webhook.id in t.webhooks:
                return False
            t.webhooks[webhook.id] = webhook
            return True

    def recent(self, *, room_name: str | None = None, limit: int = 100) -> list[WebhookRow]:
        """Newest first."""
        rows = [w for w in reversed(self._db.read().webhooks.values()) if not room_name or w.room_name == room_name]
        rows.sort(key=lambda w: w.received_at, reverse=True)
        return rows[:limit]


class MemoryWebhookIntakeStore:
    """The WebhookIntakeStore port on a MemoryDatabase: one transaction per batch, nothing kept if it fails."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def commit(self, batch: IntakeBatch) -> IntakeResult:
        with self._db.transaction() as t:
            applied = _fold_batch(t, batch)
            new = {item.webhook.id for item, result in zip(batch.items, applied, strict=True)
                   if not result.duplicate_event}
            openings = [o for o in batch.openings if o.notice_id in new]
            stored = open_sessions(t, [(o.session, o.claims, o.expected_since) for o in openings])
            opened = []
            for opening, (session, created, won) in zip(openings, stored, strict=True):
                wanted = {c.egress_pk for c in won if c.state == ClaimState.CLAIMED and c.egress_pk}
                insert_records(t, [r for r in opening.records if r.id in wanted], START_REQUESTED)
                opened.append(RoomOpened(opening.notice_id, session, created, tuple(won)))
            return IntakeResult(tuple(applied), tuple(opened))


def _fold_batch(t: Tables, batch: IntakeBatch) -> list[Applied]:
    """Each webhook stored once; its report folded in order. As the SQL batch path does, a row changed several
    times in the batch gets one guarded update (its version moves by one) and the results carry the version
    it had before the batch."""
    results: list[Applied] = []
    before: dict[str, EgressRecord] = {}  # rows changed in this batch, as they were before it
    require_aware(batch.now)
    for item in batch.items:
        webhook, obs = item.webhook, item.observation
        require_aware(webhook.received_at, webhook.created_at)
        if webhook.id in t.webhooks:
            results.append(Applied(None, Outcome.DUPLICATE, duplicate_event=True))
            continue
        t.webhooks[webhook.id] = webhook
        if obs is None:
            results.append(Applied(None, Outcome.CREATED))
            continue
        record = t.egresses.get(t.egress_ids.get(obs.egress_id, ""))
        if record is None:
            results.append(adopt(t, obs, ChangeSource.WEBHOOK, batch.now, webhook.id, item.detail))
            continue
        decision = decide(record.status, record.livekit_updated_ns, obs.status, obs.updated_at_ns)
        append_event(t, record.id, batch.now, ChangeSource.WEBHOOK, decision.outcome, record.status,
                     decision.status, event_id=webhook.id, detail=item.detail or describe(obs))
        if not decision.changes_row:
            results.append(Applied(record, decision.outcome, record.status))
            continue
        before.setdefault(record.id, record)
        changes: dict[str, Any] = changes_from(obs, decision, batch.now)
        results.append(Applied(guarded_update(t, record, changes, bump=False), decision.outcome, record.status))
    for pk, original in before.items():
        t.egresses[pk] = dataclasses.replace(t.egresses[pk], version=original.version + 1)
    return results
