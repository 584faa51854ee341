"""Callbacks to the user's app: event types, stable ids, the signed body and the retry policy (pure)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .backoff import backoff_s
from .errors import InvalidInput

SIGNATURE_HEADER = "X-Orchestrator-Signature"  # "t=<unix seconds>,v1=<hex HMAC-SHA256>"
TIMESTAMP_HEADER = "X-Orchestrator-Timestamp"
EVENT_ID_HEADER = "X-Orchestrator-Event-Id"
EVENT_TYPE_HEADER = "X-Orchestrator-Event"


class CallbackEventType(StrEnum):
    RECORDING_READY = "recording.ready"
    RECORDING_MISSING = "recording.missing"
    BROADCAST_STARTED = "broadcast.started"
    BROADCAST_ENDED = "broadcast.ended"
    BROADCAST_FAILED = "broadcast.failed"
    BROADCAST_PREFLIGHT_FAILED = "broadcast.preflight_failed"
    EGRESS_FAILED = "egress.failed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    EXPIRED = "expired"  # retried for the whole delivery window without success


@dataclass(frozen=True)
class CallbackEvent:
    """One event for the user's app; its id is the same however often it is produced."""

    id: str
    type: CallbackEventType
    created_at: datetime
    data: dict[str, Any]

    def body(self) -> bytes:
        """The exact bytes that are signed and sent (stored once, so every retry sends the same)."""
        envelope = {"id": self.id, "type": self.type.value, "created_at": self.created_at.isoformat(),
                    "data": self.data}
        return json.dumps(envelope, separators=(",", ":"), sort_keys=True, default=str).encode()


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one URL (a row of the outbox)."""

    id: str
    event_id: str
    event_type: CallbackEventType
    url: str
    body: bytes
    status: DeliveryStatus
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_error: str = ""
    delivered_at: datetime | None = None
    version: int = 0


def event_id(event_type: CallbackEventType, subject: str) -> str:
    """Stable: the same event about the same subject always has the same id."""
    return "evt_" + hashlib.sha256(f"{event_type.value}:{subject}".encode()).hexdigest()[:24]


def delivery_id(event: str, url: str) -> str:
    return "dlv_" + hashlib.sha256(f"{event}|{url}".encode()).hexdigest()[:24]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>` with the shared secret, hex encoded."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, timestamp: int, event: str, event_type: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: f"t={timestamp},v1={sign(secret, timestamp, body)}",
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_ID_HEADER: event,
        EVENT_TYPE_HEADER: event_type,
    }


def verify(secret: str, header: str, body: bytes, now: float, tolerance_s: float = 300) -> bool:
    """What a receiver does: check the signature and that the timestamp is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), fields.get("v1", ""))


def next_attempt(
    attempts: int, created_at: datetime, now: datetime, *, base_s: float = 1.0, cap_s: float = 900.0,
    window: timedelta = timedelta(hours=24),
) -> datetime | None:
    """When to try again after `attempts` failed tries; None once the delivery window has passed.

    Exponential: base, 2*base, 4*base ... capped at 15 minutes, never past created_at + window.
    """
    deadline = created_at + window
    if now >= deadline:
        return None
    delay = timedelta(seconds=backoff_s(attempts, base_s, cap_s))
    return min(now + delay, deadline)


def check_callback_url(url: str, field: str) -> str:
    """A callback URL must be http(s) with a host; InvalidInput names the field otherwise."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInput(field, "is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(field, "must be an http:// or https:// URL")
    return url


def shown_url(url: str) -> str:
    """A callback URL as it may be shown (API answers, doctor): no credentials in it, no query (it may carry
    a receiver's token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
