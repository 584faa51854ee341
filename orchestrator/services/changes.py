"""In-process notifications after commit: egresses whose status changed, and room/participant/track events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orchestrator.domain.egress import Applied, EgressRecord, EgressStatus, Outcome
from orchestrator.domain.events import WebhookNotice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EgressChange:
    record: EgressRecord
    status_before: EgressStatus | None  # None: the egress just entered the ledger


EgressHandler = Callable[[EgressChange], Awaitable[None]]
NoticeHandler = Callable[[WebhookNotice], Awaitable[None]]


class ChangeFeed:
    """Fan-out of egress changes and non-egress webhook events to the services that care.

    The services publish what they committed (the `Applied` results their ledger writes return), from any
    thread; handlers run on the service's event loop. Delivery is best effort (a crash between commit and
    handler loses the call), so every consumer also has a periodic sweep over the database; the notification
    only makes it prompt.
    """

    def __init__(self) -> None:
        self._egress: list[EgressHandler] = []
        self._notice: list[NoticeHandler] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on_egress_change(self, handler: EgressHandler) -> None:
        self._egress.append(handler)

    def on_notice(self, handler: NoticeHandler) -> None:
        self._notice.append(handler)

    def egress_changed(self, change: EgressChange) -> None:
        for handler in self._egress:
            self._dispatch(handler(change) if self._loop else None, handler)

    def applied(self, applied: Applied) -> Applied:
        """Publish one ledger write's result if it changed an egress's status or added an egress; returns it."""
        if applied.record is not None and (applied.status_changed or applied.outcome == Outcome.CREATED):
            self.egress_changed(EgressChange(applied.record, applied.status_before))
        return applied

    def notice(self, notice: WebhookNotice) -> None:
        for handler in self._notice:
            self._dispatch(handler(notice) if self._loop else None, handler)

    def _dispatch(self, coro: Awaitable[None] | None, handler: object) -> None:
        if coro is None or self._loop is None or self._loop.is_closed():
            return

        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("change handler %s failed", getattr(handler, "__qualname__", handler))

        def start() -> None:
            task = self._loop.create_task(run()) if self._loop else None
            if task is not None:
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            start()
        else:
            self._loop.call_soon_threadsafe(start)
