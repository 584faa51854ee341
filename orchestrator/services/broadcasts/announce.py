"""Broadcast callbacks: broadcast.started, .ended, .failed and .preflight_failed for a run, queued in the background."""

from __future__ import annotations

import asyncio
import logging

from orchestrator.domain.broadcasts import BroadcastRun
from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.services.ports import BroadcastAnnouncer, BroadcastStore
from orchestrator.services.threads import in_thread

log = logging.getLogger(__name__)


class RunAnnouncements:
    """Tells the announcer (the callback outbox) about a run's new status without holding up the run."""

    def __init__(self, store: BroadcastStore, announcer: BroadcastAnnouncer | None) -> None:
        self._store, self._announcer = store, announcer
        self._tasks: set[asyncio.Task[object]] = set()

    async def emit(self, kind: CallbackEventType, run: BroadcastRun | None,
                   extra: dict[str, object] | None = None) -> None:
        """Queue `kind` for the run (nothing when there is no run); `extra` joins the event's data."""
        if run is None or self._announcer is None:
            return
        broadcast = await in_thread(self._store.get, run.broadcast_id)
        data: dict[str, object] = {
            "broadcast_id": run.broadcast_id, "run_id": run.id, "seq": run.seq, "status": run.status.value,
            "room_name": broadcast.spec.room_name if broadcast else "",
            "title": broadcast.spec.title if broadcast else "",
            "planned_start": run.planned_start.isoformat(), "planned_end": run.planned_end.isoformat(),
            "actual_start": run.actual_start.isoformat() if run.actual_start else None,
            "actual_end": run.actual_end.isoformat() if run.actual_end else None, "error": run.error,
        }
        data.update(extra or {})
        urls = broadcast.spec.callback_urls if broadcast else ()
        task = asyncio.ensure_future(self._announcer(kind, run.id, data, urls))
        self._tasks.add(task)
        task.add_done_callback(self._announced)

    def _announced(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("broadcast callback failed", exc_info=task.exception())
