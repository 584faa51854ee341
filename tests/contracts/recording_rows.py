"""Rows the recordings catalog and the callback outbox contract tests store."""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator.domain.callbacks import CallbackEventType, Delivery, DeliveryStatus, delivery_id, event_id
from orchestrator.domain.recordings import Recording, RecordingKind, RecordingStatus, StorageKind, recording_id
from tests.contracts.rows import T0


def recording(egress_pk: str, *, part: int = 0, room: str = "room-a", started: datetime | None = T0,
              ended: datetime | None = None, created: datetime = T0,
              status: RecordingStatus = RecordingStatus.VERIFYING, kind: RecordingKind = RecordingKind.FILE,
              egress_id: str = "", broadcast_id: str = "", rule_id: str = "",
              next_check_at: datetime | None = None) -> Recording:
    return Recording(
        id=recording_id(egress_pk, kind, part), egress_pk=egress_pk, egress_id=egress_id or f"EG_{egress_pk}",
        part=part, kind=kind, storage=StorageKind.S3, bucket="b", key=f"{egress_pk}/{part}.mp4", status=status,
        created_at=created, updated_at=created, location=f"s3://b/{egress_pk}/{part}.mp4", size_bytes=10,
        duration_s=1.5, content_type="video/mp4", room_name=room, room_id="RM_" + room, broadcast_id=broadcast_id,
        rule_id=rule_id, started_at=started, ended_at=ended if ended is not None else started,
        next_check_at=next_check_at)


def delivery(subject: str, url: str = "https://app.example/hook", *, created: datetime = T0,
             due: datetime | None = None, event_type: CallbackEventType = CallbackEventType.RECORDING_READY
             ) -> Delivery:
    event = event_id(event_type, subject)
    return Delivery(id=delivery_id(event, url), event_id=event, event_type=event_type, url=url,
                    body=b'{"id":"' + event.encode() + b'"}', status=DeliveryStatus.PENDING, created_at=created,
                    next_attempt_at=due or created)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
