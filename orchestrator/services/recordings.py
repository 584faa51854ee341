"""Recordings: catalog what ended egresses wrote, verify it in storage, hand out links, delete, retain."""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from orchestrator.adapters.sql.egress_repository import SqlEgressRepository
from orchestrator.adapters.sql.recording_repository import SqlRecordingRepository
from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.domain.egress import EgressRecord, EgressStatus
from orchestrator.domain.errors import NotFound, StorageUnavailable
from orchestrator.domain.recordings import (
    ObjectHead,
    Recording,
    RecordingEvent,
    RecordingKind,
    RecordingStatus,
    StorageKind,
    catalog_egress,
    describe_object,
    ensure_downloadable,
    link_signature,
    link_valid,
    next_check_delay,
    playlist_segments,
    retention_due,
    rewrite_playlist,
    verification,
)
from orchestrator.services.callbacks import CallbackService
from orchestrator.services.changes import EgressChange

log = logging.getLogger(__name__)


class ObjectStore(Protocol):
    """The storage port: S3ObjectStore or LocalObjectStore."""

    def head(self, bucket: str, key: str) -> ObjectHead | None: ...
    def read_text(self, bucket: str, key: str, limit: int = ...) -> str | None: ...
    def delete(self, bucket: str, keys: list[str]) -> None: ...


class PresigningStore(ObjectStore, Protocol):
    def presign_get(self, bucket: str, key: str, expires_s: int, *, filename: str = "") -> str: ...


@dataclass(frozen=True)
class DownloadLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class RecordingView:
    recording: Recording
    events: list[RecordingEvent]


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime
    recordings: list[Recording]  # deleted, or that would be deleted in a dry run
    dry_run: bool
    failed: int = 0


class RecordingService:
    """Everything the API, the scheduler and the change feed do with recordings."""

    def __init__(
        self,
        repo: SqlRecordingRepository,
        egresses: SqlEgressRepository,
        callbacks: CallbackService,
        clock: Callable[[], datetime],
        *,
        s3: Callable[[], PresigningStore] | None,
        local: ObjectStore | None,
        default_bucket: str,
        public_url: str,
        link_key: bytes,
        link_expiry_s: int = 3600,
        retention_days: float | None = None,
        sweep_lookback: timedelta = timedelta(days=2),
    ) -> None:
        self._repo = repo
        self._egresses = egresses
        self._callbacks = callbacks
        self._clock = clock
        self._s3_factory = s3
        self._s3: PresigningStore | None = None
        self._local = local
        self._default_bucket = default_bucket
        self._public_url = public_url.rstrip("/")
        self._link_key = link_key
        self.link_expiry_s = link_expiry_s
        self.retention_days = retention_days
        self._lookback = sweep_lookback

    # ---- catalog -----------------------------------------------------------------------------

    async def on_egress_change(self, change: EgressChange) -> None:
        """Change-feed handler: an ended egress gets its recordings catalogued and checked at once."""
        record = change.record
        if not record.status.terminal:
            return
        if record.status == EgressStatus.FAILED:
            await self._callbacks.enqueue(CallbackEventType.EGRESS_FAILED, record.id, egress_data(record))
        added = await asyncio.to_thread(self.catalog, record)
        for recording in added:
            await self.verify(recording)

    def catalog(self, record: EgressRecord) -> list[Recording]:
        items = catalog_egress(record, self._default_bucket, self._clock(), local_locations=self._local is not None)
        if not items:
            return []
        added = self._repo.add(items, f"catalogued from egress {record.egress_id or record.id} ({record.status})")
        for rec in added:
            log.info("recording %s catalogued: %s", rec.id, describe_object(rec))
        return added

    async def sweep(self) -> int:
        """Catalog ended egresses the change feed missed, then verify what is due. Returns recordings added."""
        now = self._clock()
        pks = await asyncio.to_thread(self._repo.ended_egresses_without_recordings, now - self._lookback)
        added = 0
        for pk in pks:
            record = await asyncio.to_thread(self._egresses.get, pk)
            if record is None:
                continue
            added += len(await asyncio.to_thread(self.catalog, record))
            if record.status == EgressStatus.FAILED:
                await self._callbacks.enqueue(CallbackEventType.EGRESS_FAILED, record.id, egress_data(record))
        await self.verify_due()
        return added

    # ---- verification ------------------------------------------------------------------------

    async def verify_due(self) -> int:
        due = await asyncio.to_thread(self._repo.due_for_check, self._clock())
        checked = 0
        for recording in due:
            checked += await self.verify(recording) is not None
        return checked

    async def verify(self, recording: Recording) -> Recording | None:
        """HEAD the object: ready, or missing with the reason (and a callback); unreachable: try later."""
        try:
            head = await asyncio.to_thread(self._store(recording).head, recording.bucket, recording.key)
        except StorageUnavailable as exc:
            now = self._clock()
            attempts = recording.check_attempts + 1
            return await asyncio.to_thread(
                self._repo.transition, recording,
                {"check_attempts": attempts, "next_check_at": now + next_check_delay(attempts)},
                now, f"verification postponed: {exc.message}")
        status, reason = verification(recording, head)
        now = self._clock()
        changes: dict[str, Any] = {"status": status, "reason": reason, "next_check_at": None,
                                   "check_attempts": recording.check_attempts + 1}
        if status == RecordingStatus.READY:
            changes["verified_at"] = now
        after = _replace(recording, status=status, reason=reason)
        event_type = (CallbackEventType.RECORDING_READY if status == RecordingStatus.READY
                      else CallbackEventType.RECORDING_MISSING)
        event = self._callbacks.event(event_type, recording.id, recording_data(after))
        updated = await asyncio.to_thread(
            self._repo.transition, recording, changes, now,
            "verified in storage" if status == RecordingStatus.READY else reason,
            self._callbacks.deliveries(event))
        if updated is not None:
            self._callbacks.nudge()
            log.info("recording %s is %s%s", recording.id, status.value, f": {reason}" if reason else "")
        return updated

    # ---- reads ---------------------------------------------------------------------------------

    async def view(self, recording_id: str) -> RecordingView:
        recording = await self._get(recording_id)
        return RecordingView(recording, await asyncio.to_thread(self._repo.history, recording_id))

    async def find(self, **filters: Any) -> list[Recording]:
        return await asyncio.to_thread(lambda: self._repo.find(**filters))

    async def _get(self, recording_id: str) -> Recording:
        recording = await asyncio.to_thread(self._repo.get, recording_id)
        if recording is None:
            raise NotFound(f"recording {recording_id} not found")
        return recording

    # ---- links ---------------------------------------------------------------------------------

    async def download_link(self, recording_id: str, expires_s: int | None = None) -> DownloadLink:
        """A link that works without the API token until it expires.

        An S3 file: a presigned GET. HLS: a signed playlist URL of this service whose segment links are
        presigned. A local file: a signed URL of this service that streams it (with Range).
        """
        recording = await self._get(recording_id)
        ensure_downloadable(recording)
        expires_s = expires_s or self.link_expiry_s
        expires_at = self._clock() + timedelta(seconds=expires_s)
        if recording.kind == RecordingKind.FILE and recording.storage == StorageKind.S3:
            store = self._s3_store()
            url = await asyncio.to_thread(store.presign_get, recording.bucket, recording.key, expires_s,
                                          filename=posixpath.basename(recording.key))
            return DownloadLink(url, expires_at)
        purpose = "playlist" if recording.kind == RecordingKind.HLS else "content"
        return DownloadLink(self._signed_url(recording.id, purpose, int(expires_at.timestamp())), expires_at)

    def _signed_url(self, recording_id: str, purpose: str, expires: int, key: str = "") -> str:
        suffix = "playlist.m3u8" if purpose == "playlist" else "content"
        params = {"expires": expires, "sig": link_signature(self._link_key, recording_id, purpose + key, expires)}
        if key:
            params["key"] = key
        return f"{self._public_url}/v1/recordings/{quote(recording_id)}/{suffix}?{urlencode(params)}"

    def check_signed(self, recording_id: str, purpose: str, expires: int, sig: str, key: str = "") -> None:
        if not link_valid(self._link_key, recording_id, purpose + key, expires, sig, self._clock()):
            raise NotFound("this link is invalid or has expired")

    async def playlist(self, recording_id: str, expires: int, sig: str) -> str:
        """The HLS playlist with every segment link signed until the playlist link expires."""
        self.check_signed(recording_id, "playlist", expires, sig)
        recording = await self._get(recording_id)
        ensure_downloadable(recording)
        store = self._store(recording)
        text = await asyncio.to_thread(store.read_text, recording.bucket, recording.key)
        if text is None:
            raise StorageUnavailable(f"{describe_object(recording)} could not be read")
        remaining = max(1, expires - int(self._clock().timestamp()))
        if recording.storage == StorageKind.S3:
            s3 = self._s3_store()
            return rewrite_playlist(recording.key, text,
                                    lambda key: s3.presign_get(recording.bucket, key, remaining))
        return rewrite_playlist(recording.key, text,
                                lambda key: self._signed_url(recording.id, "content", expires, key))

    async def local_file(self, recording_id: str, expires: int, sig: str, key: str = "") -> tuple[Recording, str]:
        """The recording (and the volume-relative path) a signed local-content link may read."""
        self.check_signed(recording_id, "content", expires, sig, key)
        recording = await self._get(recording_id)
        ensure_downloadable(recording)
        if recording.storage != StorageKind.LOCAL or self._local is None:
            raise NotFound(f"recording {recording_id} is not on the local volume")
        return recording, key or recording.key

    @property
    def local_store(self) -> ObjectStore | None:
        return self._local

    # ---- deletion and retention --------------------------------------------------------------------

    async def delete(self, recording_id: str, reason: str = "deleted through the API") -> Recording:
        """Delete the stored objects (a playlist and its segments for HLS); the record stays as `deleted`."""
        recording = await self._get(recording_id)
        if recording.status == RecordingStatus.DELETED:
            return recording
        store = self._store(recording)
        keys = [recording.key]
        if recording.kind == RecordingKind.HLS:
            text = await asyncio.to_thread(store.read_text, recording.bucket, recording.key)
            keys = [*playlist_segments(recording.key, text or ""), recording.key]
        await asyncio.to_thread(store.delete, recording.bucket, keys)
        now = self._clock()
        for _ in range(5):
            updated = await asyncio.to_thread(
                self._repo.transition, recording,
                {"status": RecordingStatus.DELETED, "reason": reason, "deleted_at": now, "next_check_at": None},
                now, f"{reason}: {len(keys)} object(s) deleted")
            if updated is not None:
                return updated
            recording = await self._get(recording_id)
        raise StorageUnavailable(f"recording {recording_id} kept changing while being deleted")

    async def retention(self, *, dry_run: bool = False, days: float | None = None) -> RetentionReport:
        """Delete recordings older than the retention period (or list them with `dry_run`)."""
        keep_days = days if days is not None else self.retention_days
        now = self._clock()
        if not keep_days:
            return RetentionReport(now, [], dry_run)
        keep = timedelta(days=keep_days)
        candidates = [r for r in await asyncio.to_thread(self._repo.older_than, now - keep)
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

    # ---- stores ----------------------------------------------------------------------------------

    def _s3_store(self) -> PresigningStore:
        if self._s3 is None:
            if self._s3_factory is None:
                raise StorageUnavailable("no S3 storage is configured (ORCHESTRATOR_S3_*)")
            self._s3 = self._s3_factory()
        return self._s3

    def _store(self, recording: Recording) -> ObjectStore:
        if recording.storage == StorageKind.LOCAL:
            if self._local is None:
                raise StorageUnavailable("no recordings volume is configured (ORCHESTRATOR_RECORDINGS_DIR)")
            return self._local
        return self._s3_store()


def _replace(recording: Recording, **changes: Any) -> Recording:
    import dataclasses

    return dataclasses.replace(recording, **changes)


def recording_data(recording: Recording) -> dict[str, Any]:
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


def egress_data(record: EgressRecord) -> dict[str, Any]:
    return {
        "id": record.id, "egress_id": record.egress_id, "room_name": record.room_name, "room_id": record.room_id,
        "status": record.status.value, "error": record.error, "error_code": record.error_code,
        "ended_at": record.ended_at.isoformat() if record.ended_at else None,
    }


def as_list(values: Sequence[str] | None) -> list[str]:
    return list(values or [])
