"""Folding verified LiveKit webhooks into the ledger: deduplicated by event id, never backwards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from orchestrator.adapters.sql.egress_repository import SqlEgressRepository
from orchestrator.domain.egress import Applied, Outcome
from orchestrator.domain.events import WebhookNotice, WebhookRow

from .changes import ChangeFeed
from .group_commit import next_batch
from .ports import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    event: str
    duplicate: bool
    outcome: Outcome | None = None


@dataclass
class Handled:
    """What an intake hook did inside the webhooks' transaction."""

    event_ids: frozenset[str]  # events it dealt with: the change feed does not hear them again
    then: Any = None  # what it hands itself for after the commit


class IntakeHook(Protocol):
    """Work that must commit together with the webhooks that caused it (an automatic recording's claims).

    `in_transaction` runs in the webhooks' transaction, in a worker thread, with the notices not seen
    before; `after_commit` runs on the event loop after the commit, before the webhooks are answered.
    """

    def in_transaction(self, tx: Any, notices: list[WebhookNotice]) -> Handled | None: ...

    def after_commit(self, handled: Handled) -> Awaitable[None] | None:
        """Returns what the webhooks' answers should wait for (briefly), if anything."""


class WebhookIngestService:
    """Applies egress events to the ledger and stores room, participant and track events."""

    def __init__(self, repo: SqlEgressRepository, clock: Clock, changes: ChangeFeed | None = None) -> None:
        self._repo, self._now, self._changes = repo, clock, changes

    def ingest(self, notice: WebhookNotice) -> Ingested:
        return self.ingest_many([notice])[0]

    def ingest_many(self, notices: list[WebhookNotice]) -> list[Ingested]:
        """Store and apply several events in one transaction, in the order given."""
        return self.ingest_with(notices, None)[0]

    def ingest_with(
        self, notices: list[WebhookNotice], hook: IntakeHook | None
    ) -> tuple[list[Ingested], Handled | None]:
        """`ingest_many`, with the hook's work in the same transaction."""
        now = self._now()
        items = []
        for notice in notices:
            egress = notice.egress if notice.egress is not None and notice.egress.egress_id else None
            # LiveKit's "auto egress failed to launch" event has no egress id: it is only stored.
            detail = f"{notice.event}: LiveKit reports {egress.status.value}" if egress else ""
            items.append((egress, _row(notice, now), detail))
        also = (lambda tx, new: hook.in_transaction(tx, [notices[i] for i in new])) if hook is not None else None
        results, handled = self._repo.observe_batch(items, now, also)
        done = handled.event_ids if handled is not None else frozenset()
        if self._changes is not None:
            for notice, applied in zip(notices, results, strict=True):
                if notice.egress is None and not applied.duplicate_event and notice.id not in done:
                    self._changes.notice(notice)  # room, participant and track events, once each
        return [_ingested(n, a) for n, a in zip(notices, results, strict=True)], handled


# How long the answers to webhooks may wait for the work their hook started (start calls being written).
_HOLD_ANSWERS_S = 0.25


def _answer(batch: list[tuple[WebhookNotice, asyncio.Future[Ingested]]], results: list[Ingested]) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if not future.done():
            future.set_result(result)


async def _answer_after(
    sent: Awaitable[None], batch: list[tuple[WebhookNotice, asyncio.Future[Ingested]]], results: list[Ingested]
) -> None:
    with contextlib.suppress(Exception):  # the answers never depend on it
        async with asyncio.timeout(_HOLD_ANSWERS_S):
            await sent
    _answer(batch, results)


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

    def __init__(self, service: WebhookIngestService, hook: IntakeHook | None = None) -> None:
        self._service = service
        self.hook = hook
        self._answering: set[asyncio.Future[None]] = set()
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
            batch = await next_batch(queue, settle=True)
            notices = [n for n, _ in batch]
            try:
                results, handled = await self._store(notices)
            except Exception as exc:
                log.exception("storing %d webhook(s) failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            sent: Awaitable[None] | None = None
            if handled is not None and self.hook is not None:
                try:
                    sent = self.hook.after_commit(handled)
                except Exception:
                    log.exception("after storing %d webhook(s)", len(batch))
            if sent is None:
                _answer(batch, results)
            else:  # the hook's calls go out first (they are what is waited for); the answers right after
                task = asyncio.ensure_future(_answer_after(sent, batch, results))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)

    async def _store(self, notices: list[WebhookNotice]) -> tuple[list[Ingested], Handled | None]:
        if self.hook is None:
            return await run_in_threadpool(self._service.ingest_many, notices), None
        try:
            return await run_in_threadpool(self._service.ingest_with, notices, self.hook)
        except Exception:
            # Never lose webhooks to the hook: store them alone; the change feed then hears every one.
            log.exception("the intake hook failed; storing %d webhook(s) without it", len(notices))
            return await run_in_threadpool(self._service.ingest_many, notices), None

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._queue = None
