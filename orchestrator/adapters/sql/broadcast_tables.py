"""Tables of broadcasts, their runs, and each run's history and egresses."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint, false

from .tables import UtcDateTime, metadata

broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("room_name", String(256), nullable=False),
    Column("layout", String(64), nullable=False),
    Column("preset", String(32), nullable=False),
    Column("destinations", JSON, nullable=False),  # [{kind, url}]: urls hold stream keys, never shown
    Column("record_filepath", String(1024), nullable=True),
    Column("start_at", UtcDateTime(), nullable=False),
    Column("end_at", UtcDateTime(), nullable=True),
    Column("max_duration_s", Integer, nullable=True),
    Column("recurrence", JSON, nullable=True),
    Column("wait_for_publisher", Boolean, nullable=False),
    Column("title", String(256), nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("callback_urls", JSON, nullable=True),
    Column("layout_options", JSON, nullable=True),
    Column("require_preflight", Boolean, nullable=False, server_default=false()),  # 0009
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),  # 0008: edits are guarded updates
    Index("ix_broadcasts_room", "room_name"),
    Index("ix_broadcasts_updated", "updated_at", "id"),  # 0011: the event stream
    Index("ix_broadcasts_created", "created_at", "id"),  # 0013: the list, newest first
    Index("ix_broadcasts_state_created", "state", "created_at", "id"),  # 0013
)

broadcast_events = Table(  # 0008: the history of a broadcast itself (creation, edits, changes of state)
    "broadcast_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("broadcast_id", String(40), ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("state_before", String(16), nullable=True),
    Column("state_after", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("actor", String(128), nullable=True),  # 0011: who asked (NULL on older rows: the service)
    Index("ix_broadcast_events_broadcast", "broadcast_id", "seq"),
)

broadcast_runs = Table(
    "broadcast_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("broadcast_id", String(40), ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("planned_start", UtcDateTime(), nullable=False),
    Column("planned_end", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("actual_start", UtcDateTime(), nullable=True),
    Column("actual_end", UtcDateTime(), nullable=True),
    Column("error", Text, nullable=False),
    Column("egress_pk", String(40), nullable=True),  # the egress carrying the run now
    Column("attempts", Integer, nullable=False),  # egress starts made for this run
    Column("claimed_by", String(64), nullable=False),
    Column("preflight", JSON, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    Column("awaiting_publisher", Boolean, nullable=False, server_default=false()),  # 0008
    UniqueConstraint("broadcast_id", "seq", name="uq_broadcast_runs_seq"),
    Index("ix_broadcast_runs_due", "status", "planned_start"),
    Index("ix_broadcast_runs_updated", "updated_at", "id"),  # 0011: the event stream
)

broadcast_run_events = Table(
    "broadcast_run_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), ForeignKey("broadcast_runs.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("status_before", String(16), nullable=True),
    Column("status_after", String(16), nullable=False),
    Column("egress_pk", String(40), nullable=True),
    Column("detail", Text, nullable=False),
    Column("kind", String(24), nullable=True),  # 0008: RunEventKind; NULL on older rows
    Column("destination", String(40), nullable=True),  # 0008: the destination a re-add is about
    Column("actor", String(128), nullable=True),  # 0011: who asked (NULL on older rows: the service)
    Index("ix_broadcast_run_events_run", "run_id", "seq"),
)

broadcast_run_egresses = Table(
    "broadcast_run_egresses",
    metadata,
    Column("run_id", String(40), ForeignKey("broadcast_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("egress_pk", String(40), primary_key=True),
    Column("reason", String(16), nullable=False),  # LaunchReason: start | replacement | rollover
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_broadcast_run_egresses_egress", "egress_pk"),
)
