"""What changed, as the live event stream (`GET /v1/events`) tells it: one `Change` per record whose status moved.

A change carries only what is safe to show anyone with the viewer role: ids, statuses, room names, a title.
Never a stream URL or key, a storage credential or a callback URL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class ChangeKind(enum.StrEnum):
    EGRESS = "egress"
    RUN = "run"  # a broadcast run
    BROADCAST = "broadcast"
    RECORDING = "recording"
    SESSION = "session"  # a room session


Position = tuple[datetime, str]
"""Where a store's changes are read from: (updated_at, id) of the last change read; changes after it follow."""


@dataclass(frozen=True, slots=True)
class Change:
    """One record as it is now, at its last change (`at`: its `updated_at`)."""

    kind: ChangeKind
    id: str
    status: str
    room_name: str
    at: datetime
    extra: tuple[tuple[str, str], ...] = ()  # safe fields: a broadcast's title, a run's broadcast_id, ...

    @property
    def position(self) -> Position:
        return (self.at, self.id)

    @property
    def order(self) -> tuple[datetime, str, str]:
        """The stream's order across kinds (and what a resumed stream continues after)."""
        return (self.at, self.kind.value, self.id)

    def payload(self) -> dict[str, str]:
        """The event's `data`, as JSON-ready strings."""
        return {"kind": self.kind.value, "id": self.id, "status": self.status, "room_name": self.room_name,
                "at": self.at.isoformat(), **dict(self.extra)}


def after(changes: list[Change], position: Position, limit: int) -> list[Change]:
    """The first `limit` changes after `position`, oldest first (for the in-memory stores)."""
    later = sorted((c for c in changes if c.position > position), key=lambda c: c.position)
    return later[:limit]
