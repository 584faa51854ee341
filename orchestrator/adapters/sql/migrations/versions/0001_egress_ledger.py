"""Egress ledger: egresses, their history, and received webhook events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from orchestrator.adapters.sql.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "egresses",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("egress_id", sa.String(64), unique=True, nullable=True),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("room_name", sa.String(256), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("error_code", sa.Integer, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("livekit_updated_ns", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_egresses_room_status", "egresses", ["room_name", "status"])
    op.create_index("ix_egresses_status", "egresses", ["status"])
    op.create_table(
        "egress_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("egress_pk", sa.String(40), sa.ForeignKey("egresses.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("status_before", sa.String(32), nullable=True),
        sa.Column("status_after", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_egress_events_egress", "egress_events", ["egress_pk", "seq"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("room_name", sa.String(256), nullable=False),
        sa.Column("room_sid", sa.String(64), nullable=False),
        sa.Column("egress_id", sa.String(64), nullable=False),
        sa.Column("participant_identity", sa.String(256), nullable=False),
        sa.Column("track_sid", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_webhook_events_room", "webhook_events", ["room_name", "received_at"])


def downgrade() -> None:
    op.drop_table("webhook_events")
    op.drop_table("egress_events")
    op.drop_table("egresses")
