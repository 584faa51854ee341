"""Broadcasts: typed run history (event kind, destination), a run waiting for a publisher as a column, and
broadcast edits as guarded updates (version) with a history of their own (broadcast_events).

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from orchestrator.adapters.sql.tables import UtcDateTime

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN, not batch mode: on SQLite a batch that copies `broadcast_runs` into a new table drops
# the old one, and with foreign keys on that deletes every run's history (ON DELETE CASCADE).


def upgrade() -> None:
    op.add_column("broadcast_run_events", sa.Column("kind", sa.String(24), nullable=True))
    op.add_column("broadcast_run_events", sa.Column("destination", sa.String(40), nullable=True))
    op.add_column("broadcast_runs", sa.Column("awaiting_publisher", sa.Boolean, nullable=False,
                                              server_default=sa.false()))
    # Runs that were waiting when this migration ran: their error said so (the last time words decide).
    op.execute("UPDATE broadcast_runs SET awaiting_publisher = TRUE "
               "WHERE status = 'starting' AND egress_pk IS NULL AND error = 'waiting for a publisher'")
    op.add_column("broadcasts", sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "broadcast_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("broadcast_id", sa.String(40), sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("state_before", sa.String(16), nullable=True),
        sa.Column("state_after", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_broadcast_events_broadcast", "broadcast_events", ["broadcast_id", "seq"])


def downgrade() -> None:
    op.drop_table("broadcast_events")
    op.drop_column("broadcasts", "version")  # SQLite 3.35 or newer drops a column in place
    op.drop_column("broadcast_runs", "awaiting_publisher")
    op.drop_column("broadcast_run_events", "destination")
    op.drop_column("broadcast_run_events", "kind")
