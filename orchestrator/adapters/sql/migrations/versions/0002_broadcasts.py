"""Broadcasts: schedules, runs, run history and the egresses of each run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from orchestrator.adapters.sql.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = ("broadcasts",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("room_name", sa.String(256), nullable=False),
        sa.Column("layout", sa.String(64), nullable=False),
        sa.Column("preset", sa.String(32), nullable=False),
        sa.Column("destinations", sa.JSON, nullable=False),
        sa.Column("record_filepath", sa.String(1024), nullable=True),
        sa.Column("start_at", UtcDateTime(), nullable=False),
        sa.Column("end_at", UtcDateTime(), nullable=True),
        sa.Column("max_duration_s", sa.Integer, nullable=True),
        sa.Column("recurrence", sa.JSON, nullable=True),
        sa.Column("wait_for_publisher", sa.Boolean, nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_broadcasts_room", "broadcasts", ["room_name"])
    op.create_table(
        "broadcast_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("broadcast_id", sa.String(40), sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("planned_start", UtcDateTime(), nullable=False),
        sa.Column("planned_end", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actual_start", UtcDateTime(), nullable=True),
        sa.Column("actual_end", UtcDateTime(), nullable=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("egress_pk", sa.String(40), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        sa.Column("preflight", sa.JSON, nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("broadcast_id", "seq", name="uq_broadcast_runs_seq"),
    )
    op.create_index("ix_broadcast_runs_due", "broadcast_runs", ["status", "planned_start"])
    op.create_table(
        "broadcast_run_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("broadcast_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("status_before", sa.String(16), nullable=True),
        sa.Column("status_after", sa.String(16), nullable=False),
        sa.Column("egress_pk", sa.String(40), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_broadcast_run_events_run", "broadcast_run_events", ["run_id", "seq"])
    op.create_table(
        "broadcast_run_egresses",
        sa.Column("run_id", sa.String(40), sa.ForeignKey("broadcast_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("egress_pk", sa.String(40), primary_key=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_broadcast_run_egresses_egress", "broadcast_run_egresses", ["egress_pk"])


def downgrade() -> None:
    op.drop_table("broadcast_run_egresses")
    op.drop_table("broadcast_run_events")
    op.drop_table("broadcast_runs")
    op.drop_table("broadcasts")
