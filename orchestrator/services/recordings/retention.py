"""Deleting a recording's objects (the record stays, `deleted`), and the retention job that does it by age."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.domain.errors import StorageUnavailable
from orchestrator.domain.identity import SYSTEM
from orchestrator.domain.recordings import (
    Recording,
    RecordingKind,
    RecordingStatus,
    playlist_segments,
    retention_due,
)
from orchestrator.services.ports import Clock, RecordingStore
from orchestrator.services.threads import in_thread

from .storage import RecordingStorage, load

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime
    recordings: list[Recording]  # deleted, or that would be deleted in a dry run
    dry_run: bool
    failed: int = 0


class RecordingRetention:
    """Deletion through the API, and by age (`retention_days`; None or 0: keep everything)."""

    def __init__(self, store: RecordingStore, storage: RecordingStorage, clock: Clock, *,
                 retention_days: float | None) -> None:
        self._store = store
        self._storage = storage
        self._clock = clock
        self.retention_days = retention_days

    async def delete(self, recording_id: str, reason: str = "deleted through the API", *,
                     actor: str = SYSTEM.name) -> Recording:
        """Delete the stored objects (a playlist and its segments for HLS); the record stays as `deleted`.
        `actor`: who asked (the retention job: the service itself)."""
        recording = await load(self._store, recording_id)
        if recording.status == RecordingStatus.DELETED:
            return recording
        store = self._storage.of(recording)
        keys = [recording.key]
        if recording.kind == RecordingKind.HLS:
            text = await in_thread(store.read_text, recording.bucket, recording.key)
            keys = [*playlist_segments(recording.key, text or ""), recording.key]
        await in_thread(store.delete, recording.bucket, keys)
        now = self._clock()
        for _ in range(5):
            deleted = dataclasses.replace(recording, status=RecordingStatus.DELETED, reason=reason, deleted_at=now,
                                          next_check_at=None)
            updated = await in_thread(self._store.transition, recording, deleted, now,
                                      f"{reason}: {len(keys)} object(s) deleted", actor=actor)
            if updated is not None:
                return updated
            recording = await load(self._store, recording_id)
        raise StorageUnavailable(f"recording {recording_id} kept changing while being deleted")

    async def run(self, *, dry_run: bool = False, days: float | None = None) -> RetentionReport:
        """Delete recordings older than the retention period (or list them with `dry_run`)."""
        keep_days = days if days is not None else self.retention_days
        now = self._clock()
        if not keep_days:
            return RetentionReport(now, [], dry_run)
        keep = timedelta(days=keep_days)
        candidates = [r for r in await in_thread(self._store.older_than, now - keep)
                      if retention_due(r, now, keep)]
        if dry_run:
            return RetentionReport(now - keep, candidates, True)
        deleted, failed = [], 0
        for recording in candidates:
            try:
                deleted.append(await self.delete(recording.id, f"retention: older than {keep_days:g} days"))
            except StorageUnavailable as exc:
                failed += 1
                log.warning("retention could not delete recording %s: %s", recording.id, exc.message)
        return RetentionReport(now - keep, deleted, False, failed)
