"""Who did what, and what changed since: an `actor` on every history row; (updated_at, id) indexes for the
live event stream's "changed since" reads.

Revision ID: 0011
Revises: 0009 (an independent head beside 0010); depends on 0003 and 0007 (recordings, room_sessions)
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = ("0003", "0007")  # recordings, and the rules branch (room_sessions): applied first

# (index, table, columns): the event stream reads each aggregate's rows after a position, in this order.
INDEXES = (
    ("ix_egresses_updated", "egresses", ["updated_at", "id"]),
    ("ix_broadcasts_updated", "broadcasts", ["updated_at", "id"]),
    ("ix_broadcast_runs_updated", "broadcast_runs", ["updated_at", "id"]),
    ("ix_recordings_updated", "recordings", ["updated_at", "id"]),
    ("ix_room_sessions_started", "room_sessions", ["started_at", "room_sid"]),
    ("ix_room_sessions_ended", "room_sessions", ["ended_at", "room_sid"]),
)


# History tables that record who asked for each change; NULL (older rows, and rows the service wrote without
# naming anyone) reads as "system".
HISTORIES = ("egress_events", "broadcast_events", "broadcast_run_events", "recording_events")


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    for table in HISTORIES:  # plain ADD COLUMN (no batch copy on SQLite: see 0009)
        op.add_column(table, sa.Column("actor", sa.String(128), nullable=True))


def downgrade() -> None:
    for table in HISTORIES:
        op.drop_column(table, "actor")
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
