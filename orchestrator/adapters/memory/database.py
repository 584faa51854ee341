"""MemoryDatabase: the in-memory stores' shared tables, one lock, and all-or-nothing transactions."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.domain.egress import EgressEvent, EgressRecord
from orchestrator.domain.events import WebhookRow
from orchestrator.domain.rules import Rule
from orchestrator.domain.sessions import ClaimEvent, RecordingClaim, RoomRequest, RoomSession


@dataclass
class Tables:
    """Every row, as the SQL tables hold them. Rows are frozen dataclasses; containers are copied per write."""

    egresses: dict[str, EgressRecord] = field(default_factory=dict)  # by our id
    egress_ids: dict[str, str] = field(default_factory=dict)  # LiveKit's EG_ id -> our id (unique)
    egress_events: list[tuple[str, EgressEvent]] = field(default_factory=list)  # (egress pk, event), in seq order
    webhooks: dict[str, WebhookRow] = field(default_factory=dict)  # by event id, in arrival order
    rules: dict[str, Rule] = field(default_factory=dict)
    rule_versions: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, RoomSession] = field(default_factory=dict)  # by room sid
    claims: dict[str, RecordingClaim] = field(default_factory=dict)  # by key (unique)
    claim_events: list[tuple[str, ClaimEvent]] = field(default_factory=list)  # (claim key, event), in order
    room_requests: dict[str, RoomRequest] = field(default_factory=dict)  # by room name

    def copy(self) -> Tables:
        """A copy whose containers may be changed without touching this one (rows are shared: immutable)."""
        return Tables(**{f.name: copy.copy(getattr(self, f.name)) for f in dataclasses.fields(self)})


def require_aware(*values: datetime | None) -> None:
    """The SQL stores refuse naive datetimes (UtcDateTime); so do these, so that a test finds the same bug."""
    if any(v is not None and v.tzinfo is None for v in values):
        raise ValueError("naive datetime given to the database")


class MemoryDatabase:
    """What one SQL database is to the SQL stores: every in-memory store built on the same instance sees the
    same rows, and a write to several of them (the webhook fast path) is one transaction.

    A transaction works on a copy of the tables under the one lock and replaces them only when it ends
    without an exception: a failure commits nothing. Readers take the last committed tables without waiting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables = Tables()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tables]:
        with self._lock:
            work = self._tables.copy()
            yield work
            self._tables = work

    def read(self) -> Tables:
        """The last committed tables; never change them."""
        return self._tables
