"""The broadcast list's order as indexes: newest first by (created_at, id), alone and within one state.

`GET /v1/broadcasts` and the console's Broadcasts page read `ORDER BY created_at DESC, id DESC LIMIT n`; without
an index in that order every broadcast was sorted for each page (10,000 in bench/list_pages.py's large set).

Revision ID: 0013
Revises: 0009 (an independent head)
Create Date: 2026-11-29
"""

from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_broadcasts_created", "broadcasts", ["created_at", "id"]),
    ("ix_broadcasts_state_created", "broadcasts", ["state", "created_at", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
