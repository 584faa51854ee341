"""Recordings catalog, its history, and the callback outbox.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from orchestrator.adapters.sql.tables import UtcDateTime

revision = "0003"
down_revision = "0001"
branch_labels = ("recordings",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("egress_pk", sa.String(40), nullable=False),
        sa.Column("egress_id", sa.String(64), nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("storage", sa.String(16), nullable=False),
        sa.Column("bucket", sa.String(256), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("room_name", sa.String(256), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("broadcast_id", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        sa.Column("deleted_at", UtcDateTime(), nullable=True),
        sa.Column("check_attempts", sa.Integer, nullable=False),
        sa.Column("next_check_at", UtcDateTime(), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("egress_pk", "kind", "part", name="uq_recordings_egress_part"),
    )
    op.create_index("ix_recordings_recorded", "recordings", ["recorded_at", "id"])
    op.create_index("ix_recordings_room", "recordings", ["room_name", "recorded_at"])
    op.create_index("ix_recordings_status_check", "recordings", ["status", "next_check_at"])
    op.create_table(
        "recording_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recording_id", sa.String(40), sa.ForeignKey("recordings.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("status_before", sa.String(16), nullable=True),
        sa.Column("status_after", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_recording_events_recording", "recording_events", ["recording_id", "seq"])
    op.create_table(
        "callback_outbox",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("claimed_until", UtcDateTime(), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_callback_outbox_due", "callback_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_callback_outbox_event", "callback_outbox", ["event_id"])


def downgrade() -> None:
    op.drop_table("callback_outbox")
    op.drop_table("recording_events")
    op.drop_table("recordings")
