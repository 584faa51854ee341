"""Callbacks: put signed events in the outbox and deliver them, retrying with back-off for up to 24 h."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from orchestrator.domain.callbacks import (
    CallbackEvent,
    CallbackEventType,
    Delivery,
    DeliveryStatus,
    check_callback_url,
    delivery_id,
    event_id,
    next_attempt,
    signature_headers,
)
from orchestrator.services.ports import CallbackOutbox, CallbackSender, Clock
from orchestrator.services.threads import in_thread

log = logging.getLogger(__name__)


class CallbackService:
    """The outbox of events for the user's app, and its delivery loop.

    `enqueue` is the entry point for every feature: global URLs come from the settings, and a
    rule or a broadcast passes its own with `extra_urls`. Without any URL nothing is stored.
    """

    def __init__(
        self,
        outbox: CallbackOutbox,
        sender: CallbackSender,
        clock: Clock,
        *,
        urls: Sequence[str] = (),
        secret: str = "",
        backoff_s: float = 1.0,
        window: timedelta = timedelta(hours=24),
        poll_interval_s: float = 1.0,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._outbox = outbox
        self._sender = sender
        self._clock = clock
        self.urls = tuple(check_callback_url(u, "ORCHESTRATOR_CALLBACK_URLS") for u in urls)
        self._secret = secret
        self._backoff_s = backoff_s
        self._window = window
        self._poll = poll_interval_s
        self._lease = lease
        self._wake = asyncio.Event()

    def event(self, event_type: CallbackEventType, subject: str, data: dict[str, Any]) -> CallbackEvent:
        return CallbackEvent(event_id(event_type, subject), event_type, self._clock(), data)

    def deliveries(self, event: CallbackEvent, extra_urls: Sequence[str] = ()) -> list[Delivery]:
        """One outbox row per URL (the global ones plus `extra_urls`, each checked to be http(s))."""
        extra = [check_callback_url(u, f"callback_urls.{i}") for i, u in enumerate(extra_urls)]
        body = event.body()
        return [
            Delivery(id=delivery_id(event.id, url), event_id=event.id, event_type=event.type, url=url, body=body,
                     status=DeliveryStatus.PENDING, created_at=event.created_at,
                     next_attempt_at=event.created_at)
            for url in dict.fromkeys((*self.urls, *extra))
        ]

    async def enqueue(
        self, event_type: CallbackEventType, subject: str, data: dict[str, Any], *, extra_urls: Sequence[str] = ()
    ) -> CallbackEvent:
        """Store an event for delivery. `subject` makes the id stable: enqueueing twice sends once."""
        event = self.event(event_type, subject, data)
        rows = self.deliveries(event, extra_urls)
        if rows:
            await in_thread(self._outbox.enqueue, rows)
            self.nudge()
        return event

    def nudge(self) -> None:
        """Deliver soon (called after an outbox write on this instance)."""
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_soon_threadsafe(self._wake.set)

    async def dispatch_due(self) -> int:
        """One pass: every due delivery gets one attempt. Returns how many were delivered."""
        now = self._clock()
        claimed = await in_thread(self._outbox.claim_due, now, now + self._lease)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._attempt(d) for d in claimed))
        return sum(results)

    async def _attempt(self, delivery: Delivery) -> bool:
        timestamp = int(self._clock().timestamp())
        headers = signature_headers(self._secret, timestamp, delivery.event_id, delivery.event_type.value,
                                    delivery.body)
        error = await self._sender.send(delivery.url, headers, delivery.body)
        now = self._clock()
        if error is None:
            await in_thread(self._outbox.finish_attempt, delivery, DeliveryStatus.DELIVERED, now,
                            next_attempt_at=None)
            return True
        retry_at = next_attempt(delivery.attempts + 1, delivery.created_at, now, base_s=self._backoff_s,
                                window=self._window)
        status = DeliveryStatus.PENDING if retry_at is not None else DeliveryStatus.EXPIRED
        await in_thread(self._outbox.finish_attempt, delivery, status, now, next_attempt_at=retry_at,
                        error=error)
        if retry_at is None:
            log.warning("callback %s (%s) to %s given up after %d attempts: %s", delivery.event_id,
                        delivery.event_type.value, _host(delivery.url), delivery.attempts + 1, error)
        else:
            log.info("callback %s to %s failed (%s); next attempt at %s", delivery.event_id, _host(delivery.url),
                     error, retry_at.isoformat())
        return False

    async def aclose(self) -> None:
        await self._sender.aclose()

    async def run(self) -> None:
        """Deliver until cancelled: after each nudge, and at least every poll interval."""
        while True:
            try:
                await self.dispatch_due()
            except Exception:
                log.exception("callback delivery pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)


def _host(url: str) -> str:
    """The URL without path or query: those may carry a receiver's token."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}"
