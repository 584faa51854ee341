"""Broadcasts: require_preflight (a failed automatic preflight fails the run instead of starting it).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN, not batch mode: a batch copies `broadcasts` into a new table on SQLite, and dropping the
# old one would cascade to every run (see 0008).


def upgrade() -> None:
    op.add_column("broadcasts", sa.Column("require_preflight", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("broadcasts", "require_preflight")
