"""The egress list's order as indexes: newest first by (created_at, id), alone and within one status.

`GET /v1/egresses` and the console's Egresses page read `ORDER BY created_at DESC, id DESC LIMIT n`; without an
index in that order SQLite and PostgreSQL sorted every egress (100,000 rows: ~200 ms, against ~15 ms at 1,000).

Revision ID: 0012
Revises: 0009 (an independent head)
Create Date: 2026-11-29
"""

from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_egresses_created", "egresses", ["created_at", "id"]),
    ("ix_egresses_status_created", "egresses", ["status", "created_at", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
