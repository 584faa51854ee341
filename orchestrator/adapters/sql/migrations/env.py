"""Alembic environment: runs on the connection the service hands over, or on ORCHESTRATOR_DATABASE_URL."""

from __future__ import annotations

from alembic import context

from orchestrator.adapters.sql.tables import metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from orchestrator.adapters.sql.engine import build_engine
        from orchestrator.config import Settings

        engine = build_engine(Settings().database_url_resolved)
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()


run()
