"""Bodies of the recordings API (`/v1/recordings`): recordings with their history, pages, links, retention."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from orchestrator.domain.recordings import Recording, RecordingEvent, RecordingStatus


class RecordingEventOut(BaseModel):
    at: datetime
    status_before: RecordingStatus | None
    status_after: RecordingStatus
    detail: str
    actor: str  # who asked: a person's or API key's name; "system" when the service acted itself


class RecordingOut(BaseModel):
    id: str
    egress_id: str
    egress: str
    part: int
    kind: str
    status: RecordingStatus
    reason: str
    storage: str
    bucket: str
    key: str
    size_bytes: int
    duration_s: float
    content_type: str
    room_name: str
    room_id: str
    broadcast_id: str
    rule_id: str
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    verified_at: datetime | None
    deleted_at: datetime | None
    events: list[RecordingEventOut] | None = None

    @classmethod
    def of(cls, r: Recording, events: list[RecordingEvent] | None = None) -> RecordingOut:
        return cls(
            id=r.id, egress_id=r.egress_id, egress=r.egress_pk, part=r.part, kind=r.kind.value, status=r.status,
            reason=r.reason, storage=r.storage.value, bucket=r.bucket, key=r.key, size_bytes=r.size_bytes,
            duration_s=r.duration_s, content_type=r.content_type, room_name=r.room_name, room_id=r.room_id,
            broadcast_id=r.broadcast_id, rule_id=r.rule_id, started_at=r.started_at, ended_at=r.ended_at,
            created_at=r.created_at, verified_at=r.verified_at, deleted_at=r.deleted_at,
            events=[RecordingEventOut(at=e.at, status_before=e.status_before, status_after=e.status_after,
                                      detail=e.detail, actor=e.actor) for e in events] if events is not None else None)


class RecordingPage(BaseModel):
    items: list[RecordingOut]
    next_cursor: str | None


class DownloadLinkOut(BaseModel):
    url: str
    expires_at: datetime


class RetentionOut(BaseModel):
    dry_run: bool
    cutoff: datetime
    recordings: list[RecordingOut]
    failed: int
