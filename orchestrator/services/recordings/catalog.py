"""Cataloguing what ended egresses wrote, and verifying it in storage (with the callbacks that follow)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.domain.egress import EgressRecord, EgressStatus
from orchestrator.domain.errors import StorageUnavailable
from orchestrator.domain.recordings import (
    Recording,
    RecordingStatus,
    catalog_egress,
    describe_object,
    next_check_delay,
    verification,
)
from orchestrator.services.callbacks import CallbackService
from orchestrator.services.changes import EgressChange
from orchestrator.services.ports import Clock, EgressLedger, RecordingStore
from orchestrator.services.threads import in_thread

from .storage import RecordingStorage

log = logging.getLogger(__name__)


class RecordingCatalog:
    """An ended egress's recordings enter the catalog `verifying`; a HEAD makes each `ready` or `missing`
    (with a callback, in the same transaction); while storage is unreachable the check backs off."""

    def __init__(self, store: RecordingStore, egresses: EgressLedger, callbacks: CallbackService, clock: Clock,
                 storage: RecordingStorage, *, default_bucket: str, sweep_lookback: timedelta) -> None:
        self._store = store
        self._egresses = egresses
        self._callbacks = callbacks
        self._clock = clock
        self._storage = storage
        self._default_bucket = default_bucket
        self._lookback = sweep_lookback

    async def on_egress_change(self, change: EgressChange) -> None:
        """Change-feed handler: an ended egress gets its recordings catalogued and checked at once."""
        record = change.record
        if not record.status.terminal:
            return
        if record.status == EgressStatus.FAILED:
            await self._callbacks.enqueue(CallbackEventType.EGRESS_FAILED, record.id, egress_data(record))
        added = await in_thread(self.catalog, record)
        for recording in added:
            await self.verify(recording)

    def catalog(self, record: EgressRecord) -> list[Recording]:
        """The recordings of an ended egress not catalogued yet (blocking: call it in a worker thread)."""
        items = catalog_egress(record, self._default_bucket, self._clock(),
                               local_locations=self._storage.local is not None)
        if not items:
            return []
        added = self._store.add(items, f"catalogued from egress {record.egress_id or record.id} ({record.status})")
        for rec in added:
            log.info("recording %s catalogued: %s", rec.id, describe_object(rec))
        return added

    async def sweep(self) -> int:
        """Catalog ended egresses the change feed missed, then verify what is due. Returns recordings added."""
        now = self._clock()
        pks = await in_thread(self._store.ended_egresses_without_recordings, now - self._lookback)
        added = 0
        for pk in pks:
            record = await in_thread(self._egresses.get, pk)
            if record is None:
                continue
            added += len(await in_thread(self.catalog, record))
            if record.status == EgressStatus.FAILED:
                await self._callbacks.enqueue(CallbackEventType.EGRESS_FAILED, record.id, egress_data(record))
        await self.verify_due()
        return added

    async def verify_due(self) -> int:
        due = await in_thread(self._store.due_for_check, self._clock())
        checked = 0
        for recording in due:
            checked += await self.verify(recording) is not None
        return checked

    async def verify(self, recording: Recording) -> Recording | None:
        """HEAD the object: ready, or missing with the reason (and a callback); unreachable: try later."""
        try:
            head = await in_thread(self._storage.of(recording).head, recording.bucket, recording.key)
        except StorageUnavailable as exc:
            now = self._clock()
            attempts = recording.check_attempts + 1
            later = dataclasses.replace(recording, check_attempts=attempts,
                                        next_check_at=now + next_check_delay(attempts))
            return await in_thread(self._store.transition, recording, later, now,
                                   f"verification postponed: {exc.message}")
        status, reason = verification(recording, head)
        now = self._clock()
        ready = status == RecordingStatus.READY
        after = dataclasses.replace(recording, status=status, reason=reason, next_check_at=None,
                                    check_attempts=recording.check_attempts + 1,
                                    verified_at=now if ready else recording.verified_at)
        event_type = CallbackEventType.RECORDING_READY if ready else CallbackEventType.RECORDING_MISSING
        event = self._callbacks.event(event_type, recording.id, recording_data(after))
        updated = await in_thread(self._store.transition, recording, after, now,
                                  "verified in storage" if ready else reason, self._callbacks.deliveries(event))
        if updated is not None:
            self._callbacks.nudge()
            log.info("recording %s is %s%s", recording.id, status.value, f": {reason}" if reason else "")
        return updated


def recording_data(recording: Recording) -> dict[str, object]:
    """A recording as callbacks carry it (no links: they expire; the app asks for one)."""
    return {
        "recording_id": recording.id, "egress_id": recording.egress_id, "status": recording.status.value,
        "reason": recording.reason, "kind": recording.kind.value, "storage": recording.storage.value,
        "bucket": recording.bucket, "key": recording.key, "size_bytes": recording.size_bytes,
        "duration_s": recording.duration_s, "content_type": recording.content_type,
        "room_name": recording.room_name, "room_id": recording.room_id, "broadcast_id": recording.broadcast_id,
        "rule_id": recording.rule_id, "part": recording.part,
        "started_at": recording.started_at.isoformat() if recording.started_at else None,
        "ended_at": recording.ended_at.isoformat() if recording.ended_at else None,
    }


def egress_data(record: EgressRecord) -> dict[str, object]:
    """A failed egress as the `egress.failed` callback carries it."""
    return {
        "id": record.id, "egress_id": record.egress_id, "room_name": record.room_name, "room_id": record.room_id,
        "status": record.status.value, "error": record.error, "error_code": record.error_code,
        "ended_at": record.ended_at.isoformat() if record.ended_at else None,
    }
