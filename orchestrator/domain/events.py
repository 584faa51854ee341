"""A LiveKit webhook event, verified and translated into our own terms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .egress import Observation

EGRESS_EVENTS = frozenset({"egress_started", "egress_updated", "egress_ended"})


class WebhookRejected(Exception):
    """The request is not a genuine, intact LiveKit webhook."""


@dataclass(frozen=True)
class WebhookNotice:
    id: str
    event: str
    created_at: datetime | None
    room_name: str = ""
    room_sid: str = ""
    participant_identity: str = ""
    track_sid: str = ""
    egress: Observation | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # redacted JSON of the event


@dataclass(frozen=True)
class WebhookRow:
    """A received webhook event, stored for deduplication and for the features that follow."""

    id: str
    event: str
    received_at: datetime
    payload: dict[str, Any]
    room_name: str = ""
    room_sid: str = ""
    egress_id: str = ""
    participant_identity: str = ""
    track_sid: str = ""
    created_at: datetime | None = None
