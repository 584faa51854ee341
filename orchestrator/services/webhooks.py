"""Folding verified LiveKit webhooks into the ledger: deduplicated by event id, never backwards."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from orchestrator.adapters.sql.egress_repository import Applied, SqlEgressRepository, WebhookRow
from orchestrator.domain.egress import ChangeSource, Outcome
from orchestrator.domain.events import WebhookNotice

from .ports import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    event: str
    duplicate: bool
    outcome: Outcome | None = None


class WebhookIngestService:
    """Applies egress events to the ledger and stores room, participant and track events."""

    def __init__(self, repo: SqlEgressRepository, clock: Clock) -> None:
        self._repo, self._now = repo, clock

    def ingest(self, notice: WebhookNotice) -> Ingested:
        now = self._now()
        row = WebhookRow(
            id=notice.id, event=notice.event, received_at=now, payload=notice.payload,
            room_name=notice.room_name, room_sid=notice.room_sid,
            egress_id=notice.egress.egress_id if notice.egress else "",
            participant_identity=notice.participant_identity, track_sid=notice.track_sid,
            created_at=notice.created_at,
        )
        if notice.egress is None or not notice.egress.egress_id:
            # Room, participant and track events (and LiveKit's id-less "auto egress failed" event).
            stored = self._repo.record_webhook(row)
            return Ingested(notice.event, duplicate=not stored)
        applied: Applied = self._repo.observe(notice.egress, ChangeSource.WEBHOOK, now, webhook=row,
                                              detail=f"{notice.event}: LiveKit reports "
                                                     f"{notice.egress.status.value}")
        if applied.duplicate_event:
            return Ingested(notice.event, duplicate=True)
        if applied.status_changed and applied.record is not None:
            log.info("egress %s (%s) %s -> %s from %s", applied.record.id, applied.record.egress_id,
                     applied.status_before.value if applied.status_before else "-",
                     applied.record.status.value, notice.event)
        return Ingested(notice.event, duplicate=False, outcome=applied.outcome)
