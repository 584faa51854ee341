"""The webhook fast path: verified LiveKit webhooks stored, folded into the ledger and acted on, in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.domain.egress import Applied, Outcome
from orchestrator.domain.events import WebhookNotice, WebhookRow
from orchestrator.domain.intake import IntakeBatch, IntakeItem, IntakeResult

from .autorecord import OpeningPlan, RoomIntake
from .changes import ChangeFeed
from .group_commit import next_batch
from .ports import Clock, WebhookIntakeStore
from .threads import in_thread

log = logging.getLogger(__name__)

# How long the answers to a batch of webhooks may wait for the start calls its room_started events caused.
_HOLD_ANSWERS_S = 0.25


@dataclass(frozen=True)
class Ingested:
    event: str
    duplicate: bool
    outcome: Outcome | None = None


_Waiting = tuple[WebhookNotice, "asyncio.Future[Ingested]"]


class WebhookIntake:
    """Group commit for webhooks: requests wait while one writer stores everything queued so far.

    Per batch, top to bottom: (1) plan a `RoomOpening` for each room_started (the rooms' auto-record rules,
    claims and ledger rows, as plain data); (2) one transaction on the `WebhookIntakeStore`: the events
    deduplicated by id, egress reports folded into the ledger, and the openings of new room_started events;
    (3) publish the egress changes, and the other events once each, to the change feed; (4) start the
    recordings the openings won; (5) answer the webhooks once those calls are out (a bounded wait). An
    acknowledged event is never lost: each request is answered only after its event is committed, and if the
    openings cannot be planned or stored the events are stored without them (auto-record then hears
    room_started through the change feed instead).
    """

    def __init__(self, store: WebhookIntakeStore, changes: ChangeFeed, clock: Clock,
                 rooms: RoomIntake | None = None) -> None:
        self._store, self._changes, self._now, self._rooms = store, changes, clock, rooms
        self._queue: asyncio.Queue[_Waiting] | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[None]] = set()

    async def submit(self, notice: WebhookNotice) -> Ingested:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue), name="webhook-writer")
        future: asyncio.Future[Ingested] = asyncio.get_running_loop().create_future()
        await self._queue.put((notice, future))
        return await future

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._queue = None

    async def _run(self, queue: asyncio.Queue[_Waiting]) -> None:
        while True:
            batch = await next_batch(queue, settle=True)
            try:
                await self._take(batch)
            except Exception as exc:
                log.exception("storing %d webhook(s) failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def _take(self, batch: list[_Waiting]) -> None:
        notices = [n for n, _ in batch]
        now = self._now()
        items = tuple(_item(n, now) for n in notices)
        # 1-2. Plan the room_started openings, then one transaction: both in one worker-thread hop.
        result, plan = await in_thread(self._plan_and_commit, notices, items, now)
        # 3. The change feed: egress changes, and room/participant/track events the openings did not handle.
        handled = plan.handled if plan is not None else frozenset()
        for notice, applied in zip(notices, result.applied, strict=True):
            self._changes.applied(applied)
            if notice.egress is None and not applied.duplicate_event and notice.id not in handled:
                self._changes.notice(notice)
        answers = [_ingested(n, a) for n, a in zip(notices, result.applied, strict=True)]
        # 4. The start calls of the claims won, all at once.
        calls: list[asyncio.Future[None]] = []
        if plan is not None and self._rooms is not None and result.opened:
            calls = [self._spawn(self._rooms.launch(launch))
                     for launch in self._rooms.launches(plan, result.opened)]
        # 5. The answers, once the calls are out (they go first); then what may wait.
        if not calls:
            _answer(batch, answers)
        if calls or result.opened:
            self._spawn(self._follow_up(calls, batch, answers, result))

    def _plan_and_commit(self, notices: Sequence[WebhookNotice], items: tuple[IntakeItem, ...], now: datetime
                         ) -> tuple[IntakeResult, OpeningPlan | None]:
        """(1) A `RoomOpening` for each room_started (the rooms' auto-record rules, claims and ledger rows, as
        plain data); (2) one transaction with them. Without the openings if planning or storing them fails:
        webhooks are never lost to auto-record. Blocking: runs in a worker thread (one hop for both steps: a
        burst of 100 rooms is one hop, not two)."""
        plan = self._plan(notices, now)
        if plan is not None:
            try:
                return self._store.commit(IntakeBatch(now, items, plan.openings)), plan
            except Exception:
                log.exception("storing %d webhook(s) with their room openings failed; storing them alone",
                              len(notices))
        return self._store.commit(IntakeBatch(now, items)), None

    def _plan(self, notices: Sequence[WebhookNotice], now: datetime) -> OpeningPlan | None:
        if self._rooms is None:
            return None
        try:
            return self._rooms.plan(notices, now)
        except Exception:
            log.exception("planning the room openings of %d webhook(s) failed; storing them alone", len(notices))
            return None

    async def _follow_up(self, calls: list[asyncio.Future[None]], batch: list[_Waiting],
                         answers: list[Ingested], result: IntakeResult) -> None:
        if calls:
            await asyncio.wait(calls, timeout=_HOLD_ANSWERS_S)
            _answer(batch, answers)
        if self._rooms is not None:
            await self._rooms.after_open(result.opened)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def _item(notice: WebhookNotice, now: datetime) -> IntakeItem:
    # LiveKit's "auto egress failed to launch" event has no egress id: it is only stored.
    egress = notice.egress if notice.egress is not None and notice.egress.egress_id else None
    webhook = WebhookRow(
        id=notice.id, event=notice.event, received_at=now, payload=notice.payload, room_name=notice.room_name,
        room_sid=notice.room_sid, egress_id=notice.egress.egress_id if notice.egress else "",
        participant_identity=notice.participant_identity, track_sid=notice.track_sid,
        created_at=notice.created_at)
    detail = f"{notice.event}: LiveKit reports {egress.status.value}" if egress else ""
    return IntakeItem(webhook, egress, detail)


def _ingested(notice: WebhookNotice, applied: Applied) -> Ingested:
    if applied.duplicate_event:
        return Ingested(notice.event, duplicate=True)
    if applied.status_changed and applied.record is not None:
        log.info("egress %s (%s) %s -> %s from %s", applied.record.id, applied.record.egress_id,
                 applied.status_before.value if applied.status_before else "-",
                 applied.record.status.value, notice.event)
    return Ingested(notice.event, duplicate=False, outcome=applied.outcome)


def _answer(batch: list[_Waiting], answers: list[Ingested]) -> None:
    for (_, future), answer in zip(batch, answers, strict=True):
        if not future.done():
            future.set_result(answer)
