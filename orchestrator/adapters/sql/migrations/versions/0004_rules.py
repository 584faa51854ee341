"""Automatic recording: rules, room sessions, recording claims, pending CreateRoom requests.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from orchestrator.adapters.sql.tables import UtcDateTime

revision = "0004"
down_revision = "0001"
branch_labels = ("rules",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_rules",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "room_sessions",
        sa.Column("room_sid", sa.String(64), primary_key=True),
        sa.Column("room_name", sa.String(256), nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("matches", sa.JSON, nullable=False),
    )
    op.create_index("ix_room_sessions_room", "room_sessions", ["room_name", "started_at"])
    op.create_index("ix_room_sessions_open", "room_sessions", ["ended_at"])
    op.create_table(
        "recording_claims",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("room_sid", sa.String(64), nullable=False),
        sa.Column("room_name", sa.String(256), nullable=False),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("egress_pk", sa.String(40), nullable=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("retry_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_recording_claims_session", "recording_claims", ["room_sid"])
    op.create_index("ix_recording_claims_state", "recording_claims", ["state", "retry_at"])
    op.create_index("ix_recording_claims_egress", "recording_claims", ["egress_pk"])
    op.create_table(
        "room_requests",
        sa.Column("room_name", sa.String(256), primary_key=True),
        sa.Column("rule_id", sa.String(40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("room_requests")
    op.drop_table("recording_claims")
    op.drop_table("room_sessions")
    op.drop_table("record_rules")
