"""Tables of automatic recording: rules, room sessions, recording claims (and their history), CreateRoom requests."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from .tables import UtcDateTime, metadata

record_rules = Table(
    "record_rules",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
)

room_sessions = Table(
    "room_sessions",
    metadata,
    Column("room_sid", String(64), primary_key=True),
    Column("room_name", String(256), nullable=False),
    Column("metadata", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("matches", JSON, nullable=False),
    Index("ix_room_sessions_room", "room_name", "started_at"),
    Index("ix_room_sessions_open", "ended_at"),
    Index("ix_room_sessions_started", "started_at", "room_sid"),  # 0011: the event stream
    Index("ix_room_sessions_ended", "ended_at", "room_sid"),  # 0011
)

recording_claims = Table(
    "recording_claims",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("room_sid", String(64), nullable=False),
    Column("room_name", String(256), nullable=False),
    Column("rule_id", String(40), nullable=False),
    Column("action", String(16), nullable=False),
    Column("subject", String(256), nullable=False),
    Column("part", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("request", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("egress_pk", String(40), nullable=True),
    Column("error", Text, nullable=False),
    Column("retry_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_recording_claims_session", "room_sid"),
    Index("ix_recording_claims_state", "state", "retry_at"),
    Index("ix_recording_claims_egress", "egress_pk"),
)

room_requests = Table(
    "room_requests",
    metadata,
    Column("room_name", String(256), primary_key=True),
    Column("rule_id", String(40), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

recording_claim_events = Table(
    "recording_claim_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("claim_key", String(512), ForeignKey("recording_claims.key", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("state_before", String(16), nullable=True),
    Column("state_after", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("egress_pk", String(40), nullable=True),
    Index("ix_recording_claim_events_claim", "claim_key", "seq"),
)
