"""Tables of the recordings catalog and the callback outbox, on the shared metadata."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from .tables import UtcDateTime, metadata

recordings = Table(
    "recordings",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("egress_pk", String(40), nullable=False),
    Column("egress_id", String(64), nullable=False, default=""),
    Column("part", Integer, nullable=False, default=0),
    Column("kind", String(16), nullable=False),
    Column("storage", String(16), nullable=False),
    Column("bucket", String(256), nullable=False, default=""),
    Column("key", Text, nullable=False),
    Column("location", Text, nullable=False, default=""),
    Column("size_bytes", BigInteger, nullable=False, default=0),
    Column("duration_s", Float, nullable=False, default=0.0),
    Column("content_type", String(128), nullable=False, default=""),
    Column("room_name", String(256), nullable=False, default=""),
    Column("room_id", String(64), nullable=False, default=""),
    Column("broadcast_id", String(64), nullable=False, default=""),
    Column("rule_id", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("verified_at", UtcDateTime(), nullable=True),
    Column("deleted_at", UtcDateTime(), nullable=True),
    Column("check_attempts", Integer, nullable=False, default=0),
    Column("next_check_at", UtcDateTime(), nullable=True),
    Column("version", Integer, nullable=False, default=0),
    UniqueConstraint("egress_pk", "kind", "part", name="uq_recordings_egress_part"),
    Index("ix_recordings_recorded", "recorded_at", "id"),
    Index("ix_recordings_room", "room_name", "recorded_at"),
    Index("ix_recordings_status_check", "status", "next_check_at"),
    Index("ix_recordings_updated", "updated_at", "id"),  # 0011: the event stream
)

recording_events = Table(
    "recording_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("recording_id", String(40), ForeignKey("recordings.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("status_before", String(16), nullable=True),
    Column("status_after", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("actor", String(128), nullable=True),  # 0011: who asked (NULL on older rows: the service)
    Index("ix_recording_events_recording", "recording_id", "seq"),
)

callback_outbox = Table(
    "callback_outbox",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("event_id", String(40), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("claimed_until", UtcDateTime(), nullable=True),
    Column("version", Integer, nullable=False, default=0),
    Index("ix_callback_outbox_due", "status", "next_attempt_at"),
    Index("ix_callback_outbox_event", "event_id"),
)
