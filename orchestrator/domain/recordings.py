"""Recordings: the finished files of egresses, their verification, links and retention (pure)."""

from __future__ import annotations

import hashlib
import hmac
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from .backoff import backoff_s
from .egress import EgressRecord, EgressStatus
from .errors import Conflict


class RecordingStatus(StrEnum):
    VERIFYING = "verifying"  # catalogued; the stored object has not been checked yet
    READY = "ready"  # the object exists with the size LiveKit reported
    MISSING = "missing"  # the object is not there (or not whole); `reason` says why
    DELETED = "deleted"  # the objects were deleted; the record stays


class RecordingKind(StrEnum):
    FILE = "file"  # one MP4/OGG/MP3/WebM object
    HLS = "hls"  # a playlist plus its segments


class StorageKind(StrEnum):
    S3 = "s3"
    LOCAL = "local"  # a shared volume the service can read


@dataclass(frozen=True)
class Recording:
    """One finished output of one egress, as the catalog knows it."""

    id: str
    egress_pk: str
    egress_id: str
    part: int  # order of the parts of one egress
    kind: RecordingKind
    storage: StorageKind
    bucket: str
    key: str  # object key (S3) or path relative to the local volume
    status: RecordingStatus
    created_at: datetime
    updated_at: datetime
    location: str = ""
    size_bytes: int = 0
    duration_s: float = 0.0
    content_type: str = ""
    room_name: str = ""
    room_id: str = ""  # the room session
    broadcast_id: str = ""
    rule_id: str = ""
    reason: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    verified_at: datetime | None = None
    deleted_at: datetime | None = None
    check_attempts: int = 0
    next_check_at: datetime | None = None
    version: int = 0

    @property
    def recorded_at(self) -> datetime:
        return self.started_at or self.created_at


MUTABLE_FIELDS = frozenset({"status", "reason", "verified_at", "deleted_at", "check_attempts", "next_check_at",
                            "size_bytes"})
"""What a transition may change; `updated_at` and `version` the store sets itself."""


def changed_fields(current: Recording, after: Recording) -> dict[str, object]:
    """The mutable fields `after` changes (by name); ValueError if it changes any other."""
    changed = {f.name: getattr(after, f.name) for f in fields(Recording)
               if getattr(after, f.name) != getattr(current, f.name)}
    fixed = set(changed) - MUTABLE_FIELDS - {"updated_at", "version"}
    if fixed:
        raise ValueError(f"not updatable: {sorted(fixed)}")
    return {name: value for name, value in changed.items() if name in MUTABLE_FIELDS}


@dataclass(frozen=True)
class RecordingQuery:
    """Filters of a catalog listing; newest recording first, `before` is the (recorded_at, id) of the
    previous page's last row. A filter left empty matches everything."""

    room_name: str | None = None
    room_id: str | None = None
    broadcast_id: str | None = None
    rule_id: str | None = None
    egress: str | None = None  # our egress id or LiveKit's EG_ id
    statuses: frozenset[RecordingStatus] | None = None
    since: datetime | None = None  # recorded at or after
    until: datetime | None = None  # recorded before
    before: tuple[datetime, str] | None = None
    limit: int = 50

    def matches(self, r: Recording) -> bool:
        """The same test the SQL store's WHERE clause makes (the in-memory store uses it)."""
        return (all(not want or have == want for want, have in (
                    (self.room_name, r.room_name), (self.room_id, r.room_id),
                    (self.broadcast_id, r.broadcast_id), (self.rule_id, r.rule_id)))
                and (not self.egress or self.egress in (r.egress_pk, r.egress_id))
                and (self.statuses is None or r.status in self.statuses)
                and (self.since is None or r.recorded_at >= self.since)
                and (self.until is None or r.recorded_at < self.until)
                and (self.before is None or (r.recorded_at, r.id) < self.before))


@dataclass(frozen=True)
class RecordingEvent:
    at: datetime
    status_before: RecordingStatus | None
    status_after: RecordingStatus
    detail: str = ""
    actor: str = "system"  # who asked: a person's or key's name; "system" when the service acted itself


@dataclass(frozen=True)
class ObjectHead:
    """What a HEAD of a stored object says."""

    size: int
    content_type: str = ""


class RecordingNotDownloadable(Conflict):
    """A download of a recording that is `missing` or `deleted` (409 with the reason)."""

    code = "recording_not_downloadable"


CONTENT_TYPES = {
    ".mp4": "video/mp4", ".ogg": "audio/ogg", ".mp3": "audio/mpeg", ".webm": "video/webm",
    ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".m4s": "video/iso.segment",
    ".ivf": "video/x-ivf", ".jpeg": "image/jpeg", ".jpg": "image/jpeg", ".png": "image/png",
}


def content_type_for(key: str) -> str:
    return CONTENT_TYPES.get(posixpath.splitext(key)[1].lower(), "application/octet-stream")


def recording_id(egress_pk: str, kind: RecordingKind, part: int) -> str:
    """Deterministic, so that the change feed and the sweep can both catalog an egress safely."""
    digest = hashlib.sha256(f"{egress_pk}:{kind.value}:{part}".encode()).hexdigest()[:24]
    return f"rec_{digest}"


def split_location(location: str) -> tuple[StorageKind, str, str]:
    """(storage, bucket, key) from a result's location; bucket and key empty when it cannot tell.

    LiveKit writes path-style `{endpoint}/{bucket}/{key}` or virtual-host `https://{bucket}.{host}/{key}`;
    anything without a scheme is a path on a local volume.
    """
    if "://" not in location:
        return StorageKind.LOCAL, "", location.lstrip("/")
    parts = urlsplit(location)
    host, path = parts.hostname or "", unquote(parts.path).lstrip("/")
    for marker in (".s3.", ".s3-"):
        if marker in host:
            return StorageKind.S3, host.split(marker, 1)[0], path
    if host.endswith(".s3.amazonaws.com"):
        return StorageKind.S3, host.removesuffix(".s3.amazonaws.com"), path
    bucket, _, key = path.partition("/")
    return StorageKind.S3, bucket, key


def catalog_egress(
    record: EgressRecord, default_bucket: str, now: datetime, *, local_locations: bool = False
) -> list[Recording]:
    """The recordings an ended egress produced: one per file result and one per HLS playlist.

    The bucket is the one the egress request named, else the service's configured bucket, else the
    one in the location; the key is the name LiveKit reported. Results without a name are skipped.
    """
    if not record.status.terminal or record.status == EgressStatus.ABORTED:
        return []
    request_storage = record.request.get("storage")
    bucket = default_bucket
    if isinstance(request_storage, dict) and isinstance(request_storage.get("bucket"), str):
        bucket = request_storage["bucket"] or bucket
    found: list[Recording] = []
    common = {
        "egress_pk": record.id, "egress_id": record.egress_id or "", "status": RecordingStatus.VERIFYING,
        "created_at": now, "updated_at": now, "room_name": record.room_name, "room_id": record.room_id,
        "broadcast_id": _str(record.request.get("broadcast_id")), "rule_id": _str(record.request.get("rule_id")),
        "next_check_at": now,
    }
    part = 0
    for file in record.results.files:
        if not file.filename or not (file.location or file.size_bytes):
            continue
        storage, loc_bucket, loc_key = _where(file.location, local_locations)
        key = file.filename.lstrip("/") if storage == StorageKind.S3 else (loc_key or file.filename)
        found.append(Recording(
            id=recording_id(record.id, RecordingKind.FILE, part), part=part, kind=RecordingKind.FILE,
            storage=storage, bucket=(bucket or loc_bucket) if storage == StorageKind.S3 else "", key=key,
            location=file.location, size_bytes=file.size_bytes, duration_s=file.duration_s,
            content_type=content_type_for(key), started_at=file.started_at or record.started_at,
            ended_at=file.ended_at or record.ended_at, **common))  # type: ignore[arg-type]
        part += 1
    for seg in record.results.segments:
        if not seg.playlist_name or not (seg.playlist_location or seg.segment_count):
            continue
        storage, loc_bucket, loc_key = _where(seg.playlist_location, local_locations)
        key = seg.playlist_name.lstrip("/") if storage == StorageKind.S3 else (loc_key or seg.playlist_name)
        found.append(Recording(
            id=recording_id(record.id, RecordingKind.HLS, part), part=part, kind=RecordingKind.HLS,
            storage=storage, bucket=(bucket or loc_bucket) if storage == StorageKind.S3 else "", key=key,
            location=seg.playlist_location, size_bytes=seg.size_bytes, duration_s=seg.duration_s,
            content_type=content_type_for(key), started_at=record.started_at, ended_at=record.ended_at,
            **common))  # type: ignore[arg-type]
        part += 1
    return found


def _where(location: str, local_locations: bool) -> tuple[StorageKind, str, str]:
    storage, bucket, key = split_location(location)
    if storage == StorageKind.LOCAL and not local_locations:
        return StorageKind.S3, "", ""
    return storage, bucket, key


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def verification(recording: Recording, head: ObjectHead | None) -> tuple[RecordingStatus, str]:
    """The status a HEAD answer gives: ready when the object is whole, else missing with the reason."""
    where = describe_object(recording)
    if head is None:
        return RecordingStatus.MISSING, f"{where} does not exist"
    if recording.kind == RecordingKind.FILE and recording.size_bytes and head.size != recording.size_bytes:
        return RecordingStatus.MISSING, (
            f"{where} has {head.size} bytes, LiveKit reported {recording.size_bytes}: the upload is incomplete")
    return RecordingStatus.READY, ""


def describe_object(recording: Recording) -> str:
    if recording.storage == StorageKind.LOCAL:
        return f"file {recording.key!r} on the recordings volume"
    return f"object s3://{recording.bucket}/{recording.key}"


def next_check_delay(attempts: int, base_s: float = 2.0, cap_s: float = 600.0) -> timedelta:
    """Back-off between verifications while storage is unreachable: 2, 4, 8 ... 600 s."""
    return timedelta(seconds=backoff_s(attempts + 1, base_s, cap_s))


def retention_due(recording: Recording, now: datetime, keep: timedelta) -> bool:
    """Old enough to be deleted by the retention job (never what is already deleted)."""
    if recording.status == RecordingStatus.DELETED:
        return False
    return (recording.ended_at or recording.created_at) <= now - keep


def ensure_downloadable(recording: Recording) -> None:
    if recording.status == RecordingStatus.MISSING:
        raise RecordingNotDownloadable(f"recording {recording.id} is missing: {recording.reason}")
    if recording.status == RecordingStatus.DELETED:
        reason = recording.reason or "its objects were deleted"
        raise RecordingNotDownloadable(f"recording {recording.id} was deleted: {reason}")


def playlist_segments(playlist_key: str, text: str) -> list[str]:
    """The object keys of the segments a playlist names, resolved against the playlist's folder."""
    folder = posixpath.dirname(playlist_key)
    keys = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "://" not in line:
            keys.append(posixpath.normpath(posixpath.join(folder, line)) if folder else line)
    return keys


def rewrite_playlist(playlist_key: str, text: str, link: Callable[[str], str]) -> str:
    """The playlist with every relative segment URI replaced by `link(segment key)`."""
    folder = posixpath.dirname(playlist_key)
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "://" not in line:
            key = posixpath.normpath(posixpath.join(folder, line)) if folder else line
            out.append(link(key))
        else:
            out.append(raw)
    return "\n".join(out) + "\n"


def link_signature(key: bytes, recording_id: str, purpose: str, expires: int) -> str:
    """An HMAC that lets a player fetch a playlist or a local file without the API token."""
    message = f"{recording_id}:{purpose}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def link_valid(key: bytes, recording_id: str, purpose: str, expires: int, signature: str, now: datetime) -> bool:
    if expires < now.timestamp():
        return False
    return hmac.compare_digest(link_signature(key, recording_id, purpose, expires), signature)
