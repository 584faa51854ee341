"""MemoryRecordingStore: the recordings catalog in memory, with the SQL store's guards and orderings."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from orchestrator.domain.activity import Change, ChangeKind, Position, after
from orchestrator.domain.callbacks import Delivery
from orchestrator.domain.egress import TERMINAL
from orchestrator.domain.recordings import (
    Recording,
    RecordingEvent,
    RecordingQuery,
    RecordingStatus,
    changed_fields,
)

from .database import MemoryDatabase
from .outbox import MemoryCallbackOutbox


class MemoryRecordingStore:
    """The RecordingStore port in memory. It writes under the outbox's lock, so a transition and its
    deliveries land together; the sweep's query reads the egresses of `db` (the ledger's MemoryDatabase)."""

    def __init__(self, outbox: MemoryCallbackOutbox, db: MemoryDatabase | None = None) -> None:
        self._outbox = outbox
        self._db = db
        self._rows: dict[str, Recording] = {}
        self._unique: set[tuple[str, str, int]] = set()  # (egress pk, kind, part), as the table's constraint
        self._events: dict[str, list[RecordingEvent]] = {}

    # ---- reads ---------------------------------------------------------------------------------

    def _all(self) -> list[Recording]:
        with self._outbox.lock:
            return list(self._rows.values())

    def changed_since(self, after_: Position, limit: int) -> list[Change]:
        return after([Change(ChangeKind.RECORDING, r.id, r.status.value, r.room_name, r.updated_at,
                             (("egress_id", r.egress_id), ("broadcast_id", r.broadcast_id))) for r in self._all()],
                     after_, limit)

    def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self._all():
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
        return counts

    def get(self, recording_id: str) -> Recording | None:
        with self._outbox.lock:
            return self._rows.get(recording_id)

    def history(self, recording_id: str) -> list[RecordingEvent]:
        with self._outbox.lock:
            return list(self._events.get(recording_id, ()))

    def of_egress(self, egress_pk: str) -> list[Recording]:
        return sorted((r for r in self._all() if r.egress_pk == egress_pk), key=lambda r: r.part)

    def find(self, query: RecordingQuery) -> list[Recording]:
        found = sorted((r for r in self._all() if query.matches(r)), key=lambda r: (r.recorded_at, r.id),
                       reverse=True)
        return found[:query.limit]

    def due_for_check(self, now: datetime, limit: int = 100) -> list[Recording]:
        due = [r for r in self._all() if r.status == RecordingStatus.VERIFYING
               and (r.next_check_at is None or r.next_check_at <= now)]
        # SQL sorts NULL first on SQLite and last on PostgreSQL; a recording without a check time is due either way.
        due.sort(key=lambda r: (r.next_check_at is not None, r.next_check_at or now))
        return due[:limit]

    def older_than(self, cutoff: datetime, limit: int = 1000) -> list[Recording]:
        old = [r for r in self._all() if r.status != RecordingStatus.DELETED
               and (r.ended_at or r.created_at) <= cutoff]
        return sorted(old, key=lambda r: r.ended_at or r.created_at)[:limit]

    def ended_egresses_without_recordings(self, since: datetime, limit: int = 500) -> list[str]:
        if self._db is None:
            return []
        catalogued = {r.egress_pk for r in self._all()}
        ended = [e for e in self._db.read().egresses.values()
                 if e.status in TERMINAL and (e.ended_at is None or e.ended_at >= since) and e.id not in catalogued]
        return [e.id for e in sorted(ended, key=lambda e: e.updated_at)[:limit]]

    # ---- writes --------------------------------------------------------------------------------

    def add(self, items: Sequence[Recording], detail: str) -> list[Recording]:
        added: list[Recording] = []
        with self._outbox.lock:
            for rec in items:
                unique = (rec.egress_pk, rec.kind.value, rec.part)
                if rec.id in self._rows or unique in self._unique:
                    continue
                self._rows[rec.id] = rec
                self._unique.add(unique)
                self._events[rec.id] = [RecordingEvent(rec.created_at, None, rec.status, detail[:2000])]
                added.append(rec)
        return added

    def transition(self, current: Recording, after: Recording, now: datetime, detail: str,
                   deliveries: Sequence[Delivery] = (), *, actor: str = "system") -> Recording | None:
        changed_fields(current, after)  # ValueError before anything is written
        with self._outbox.lock:
            stored = self._rows.get(current.id)
            if stored is None or stored.version != current.version:
                return None
            updated = dataclasses.replace(after, updated_at=now, version=current.version + 1)
            self._rows[current.id] = updated
            self._events[current.id].append(RecordingEvent(now, current.status, updated.status, detail[:2000],
                                                           actor))
            self._outbox.put(deliveries)
        return updated
