"""Automatic recording: the history of every recording claim (one row per insert and per change of state).

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from orchestrator.adapters.sql.tables import UtcDateTime

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording_claim_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("claim_key", sa.String(512), sa.ForeignKey("recording_claims.key", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("state_before", sa.String(16), nullable=True),
        sa.Column("state_after", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("egress_pk", sa.String(40), nullable=True),
    )
    op.create_index("ix_recording_claim_events_claim", "recording_claim_events", ["claim_key", "seq"])


def downgrade() -> None:
    op.drop_table("recording_claim_events")
