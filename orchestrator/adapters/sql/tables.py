"""Table definitions; the Alembic migrations create exactly these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

metadata = MetaData()
# SQLAlchemy's default text form of a DATETIME on SQLite (what existing databases hold).
_SQLITE_STORAGE_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d")


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back an aware datetime, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, one step straight to the text SQLAlchemy's DATETIME stores ("2026-11-21 05:53:09.123456"):
        its generic path (this decorator, then the type's %-formatting) was a seventh of a webhook batch's
        transaction, with about ten timestamps per room written."""
        if dialect.name != "sqlite" or getattr(self.impl_instance.dialect_impl(dialect), "_storage_format",
                                               None) != _SQLITE_STORAGE_FORMAT:
            return super().bind_processor(dialect)

        # A batch writes the same few instants many times (created, updated, received, retry at...): the text of
        # each is made once. Keyed by the instant (equal instants in any zone are one text; naive never is equal).
        texts: dict[datetime, str] = {}

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            text = texts.get(value)
            if text is None:
                naive_utc = self.process_bind_param(value, dialect)
                assert naive_utc is not None
                text = naive_utc.isoformat(" ", "microseconds")
                if len(texts) >= 256:
                    texts.clear()
                texts[value] = text
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

egresses = Table(
    "egresses",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("egress_id", String(64), unique=True, nullable=True),
    Column("kind", String(32), nullable=True),
    Column("room_name", String(256), nullable=False, default=""),
    Column("room_id", String(64), nullable=False, default=""),
    Column("status", String(32), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("error_code", Integer, nullable=False, default=0),
    Column("details", Text, nullable=False, default=""),
    Column("request", JSON, nullable=False),
    Column("results", JSON, nullable=False),
    Column("fingerprint", String(64), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("livekit_updated_ns", BigInteger, nullable=False, default=0),
    Column("version", Integer, nullable=False, default=0),
    Index("ix_egresses_room_status", "room_name", "status"),
    Index("ix_egresses_status", "status"),
    Index("ix_egresses_updated", "updated_at", "id"),  # 0011: the event stream
    Index("ix_egresses_created", "created_at", "id"),  # 0012: the list, newest first
    Index("ix_egresses_status_created", "status", "created_at", "id"),  # 0012: the list of one status
)

egress_events = Table(
    "egress_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("egress_pk", String(40), ForeignKey("egresses.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("source", String(16), nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("status_before", String(32), nullable=True),
    Column("status_after", String(32), nullable=False),
    Column("event_id", String(64), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("actor", String(128), nullable=True),  # 0011: who asked (NULL on older rows: the service)
    Index("ix_egress_events_egress", "egress_pk", "seq"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("event", String(64), nullable=False),
    Column("room_name", String(256), nullable=False, default=""),
    Column("room_sid", String(64), nullable=False, default=""),
    Column("egress_id", String(64), nullable=False, default=""),
    Column("participant_identity", String(256), nullable=False, default=""),
    Column("track_sid", String(64), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("payload", JSON, nullable=False),
    Index("ix_webhook_events_room", "room_name", "received_at"),
)
