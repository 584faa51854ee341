"""MemoryCallbackOutbox and FakeCallbackSender: the callback outbox in memory, and a receiver that records."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from orchestrator.domain.callbacks import Delivery, DeliveryStatus


class MemoryCallbackOutbox:
    """The CallbackOutbox port in memory: leases and version guards as the SQL outbox has them.

    `lock` and `put` are shared with MemoryRecordingStore: a recording's transition and the deliveries it
    causes are written under the one lock, all or nothing, as in one SQL transaction.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._rows: dict[str, Delivery] = {}  # by id, in insertion order
        self._leases: dict[str, datetime] = {}  # id -> claimed until

    def put(self, deliveries: Sequence[Delivery]) -> int:
        """Insert deliveries (the caller holds `lock`); ones already stored are skipped."""
        added = 0
        for delivery in deliveries:
            if delivery.id not in self._rows:
                self._rows[delivery.id] = delivery
                added += 1
        return added

    def enqueue(self, deliveries: Sequence[Delivery]) -> int:
        with self.lock:
            return self.put(deliveries)

    def claim_due(self, now: datetime, lease_until: datetime, limit: int = 50) -> list[Delivery]:
        with self.lock:
            due = sorted((d for d in self._rows.values()
                          if d.status == DeliveryStatus.PENDING and d.next_attempt_at <= now
                          and (d.id not in self._leases or self._leases[d.id] < now)),
                         key=lambda d: d.next_attempt_at)[:limit]
            claimed = []
            for delivery in due:
                leased = dataclasses.replace(delivery, version=delivery.version + 1)
                self._rows[delivery.id] = leased
                self._leases[delivery.id] = lease_until
                claimed.append(leased)
            return claimed

    def finish_attempt(self, delivery: Delivery, status: DeliveryStatus, now: datetime, *,
                       next_attempt_at: datetime | None, error: str = "") -> bool:
        with self.lock:
            stored = self._rows.get(delivery.id)
            if stored is None or stored.version != delivery.version:
                return False
            self._rows[delivery.id] = dataclasses.replace(
                stored, status=status, attempts=delivery.attempts + 1, last_error=error[:1000],
                next_attempt_at=next_attempt_at or stored.next_attempt_at,
                delivered_at=now if status == DeliveryStatus.DELIVERED else stored.delivered_at,
                version=delivery.version + 1)
            self._leases.pop(delivery.id, None)
            return True

    def deliveries(self, *, event_id: str | None = None, limit: int = 500) -> list[Delivery]:
        with self.lock:
            rows = [d for d in self._rows.values() if not event_id or d.event_id == event_id]
        return sorted(rows, key=lambda d: d.created_at)[:limit]

    def next_delivery_due(self) -> datetime | None:
        with self.lock:
            return min((d.next_attempt_at for d in self._rows.values() if d.status == DeliveryStatus.PENDING),
                       default=None)


@dataclass(frozen=True)
class SentCallback:
    url: str
    headers: dict[str, str]
    body: bytes
    error: str | None  # None: the receiver accepted it


class FakeCallbackSender:
    """The CallbackSender port without a network: every attempt is kept in `sent`; while `error` is set
    (or the URL is in `failing`) attempts fail with that text."""

    def __init__(self) -> None:
        self.sent: list[SentCallback] = []
        self.error: str | None = None
        self.failing: dict[str, str] = {}  # url -> error text
        self.closed = False

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> str | None:
        error = self.failing.get(url, self.error)
        self.sent.append(SentCallback(url, dict(headers), body, error))
        return error

    @property
    def delivered(self) -> list[SentCallback]:
        return [s for s in self.sent if s.error is None]

    async def aclose(self) -> None:
        self.closed = True
