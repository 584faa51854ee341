"""Folding verified LiveKit webhooks into the ledger: deduplicated by event id, never backwards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from orchestrator.adapters.sql.egress_repository import Applied, SqlEgressRepository, WebhookRow
from orchestrator.domain.egress import Outcome
from orchestrator.domain.events import WebhookNotice

from .changes import ChangeFeed
from .ports import Clock

log = logging.getLogger(__name__)

_MAX_BATCH = 256


@dataclass(frozen=True)
class Ingested:
    event: str
    duplicate: bool
    outcome: Outcome | None = None


class WebhookIngestService:
    """Applies egress events to the ledger and stores room, participant and track events."""

    def __init__(self, repo: SqlEgressRepository, clock: Clock, changes: ChangeFeed | None = None) -> None:
        self._repo, self._now, self._changes = repo, clock, changes

    def ingest(self, notice: WebhookNotice) -> Ingested:
        return self.ingest_many([notice])[0]

    def ingest_many(self, notices: list[WebhookNotice]) -> list[Ingested]:
        """Store and apply several events in one transaction, in the order given."""
        now = self._now()
        items = []
        for notice in notices:
            egress = notice.egress if notice.egress is not None and notice.egress.egress_id else None
            # LiveKit's "auto egress failed to launch" event has no egress id: it is only stored.
            detail = f"{notice.event}: LiveKit reports {egress.status.value}" if egress else ""
            items.append((egress, _row(notice, now), detail))
        results = self._repo.observe_batch(items, now)
        if self._changes is not None:
            for notice, applied in zip(notices, results, strict=True):
                if notice.egress is None and not applied.duplicate_event:
                    self._changes.notice(notice)  # room, participant and track events, once each
        return [_ingested(n, a) for n, a in zip(notices, results, strict=True)]


def _row(notice: WebhookNotice, now: object) -> WebhookRow:
    return WebhookRow(
        id=notice.id, event=notice.event, received_at=now, payload=notice.payload,  # type: ignore[arg-type]
        room_name=notice.room_name, room_sid=notice.room_sid,
        egress_id=notice.egress.egress_id if notice.egress else "",
        participant_identity=notice.participant_identity, track_sid=notice.track_sid,
        created_at=notice.created_at,
    )


def _ingested(notice: WebhookNotice, applied: Applied) -> Ingested:
    if applied.duplicate_event:
        return Ingested(notice.event, duplicate=True)
    if applied.status_changed and applied.record is not None:
        log.info("egress %s (%s) %s -> %s from %s", applied.record.id, applied.record.egress_id,
                 applied.status_before.value if applied.status_before else "-",
                 applied.record.status.value, notice.event)
    return Ingested(notice.event, duplicate=False, outcome=applied.outcome)


class WebhookBatcher:
    """Group commit for webhooks: requests wait while one writer stores everything queued so far.

    Each request is answered only after its event is committed, so an acknowledged event is never
    lost; under load many events share one transaction instead of paying for one each.
    """

    def __init__(self, service: WebhookIngestService) -> None:
        self._service = service
        self._queue: asyncio.Queue[tuple[WebhookNotice, asyncio.Future[Ingested]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, notice: WebhookNotice) -> Ingested:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue), name="webhook-writer")
        future: asyncio.Future[Ingested] = asyncio.get_running_loop().create_future()
        await self._queue.put((notice, future))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[WebhookNotice, asyncio.Future[Ingested]]]) -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < _MAX_BATCH:
                batch.append(queue.get_nowait())
            try:
                results = await run_in_threadpool(self._service.ingest_many, [n for n, _ in batch])
            except Exception as exc:
                log.exception("storing %d webhook(s) failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._queue = None
