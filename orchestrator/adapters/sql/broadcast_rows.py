"""Rows of the broadcast tables to domain values and back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from orchestrator.domain.broadcasts import (
    Broadcast,
    BroadcastEvent,
    BroadcastRun,
    BroadcastSpec,
    BroadcastState,
    Destination,
    LaunchReason,
    Recurrence,
    RunEgress,
    RunEvent,
    RunEventKind,
    RunStatus,
)
from orchestrator.domain.layouts import LayoutOptions
from orchestrator.domain.requests import Preset


def spec_columns(spec: BroadcastSpec) -> dict[str, Any]:
    rec = spec.recurrence
    return {
        "room_name": spec.room_name, "layout": spec.layout, "preset": spec.preset.value,
        "destinations": [{"kind": d.kind, "url": d.url} for d in spec.destinations],
        "record_filepath": spec.record_filepath, "start_at": spec.start_at, "end_at": spec.end_at,
        "max_duration_s": spec.max_duration_s,
        "recurrence": {"cron": rec.cron, "timezone": rec.timezone,
                       "until": rec.until.isoformat() if rec.until else None, "count": rec.count} if rec else None,
        "wait_for_publisher": spec.wait_for_publisher, "title": spec.title, "metadata": spec.metadata,
        "callback_urls": list(spec.callback_urls),
        "layout_options": spec.layout_options.to_json() if spec.layout_options else None,
        "require_preflight": spec.require_preflight,
    }


def broadcast_columns(b: Broadcast) -> dict[str, Any]:
    return {"id": b.id, **spec_columns(b.spec), "state": b.state.value, "created_at": b.created_at,
            "updated_at": b.updated_at, "version": b.version}


def to_broadcast(row: Row[Any]) -> Broadcast:
    m = row._mapping
    rec = m["recurrence"]
    spec = BroadcastSpec(
        room_name=m["room_name"], layout=m["layout"], preset=Preset(m["preset"]),
        destinations=tuple(Destination(d["kind"], d["url"]) for d in m["destinations"]),
        record_filepath=m["record_filepath"], start_at=m["start_at"], end_at=m["end_at"],
        max_duration_s=m["max_duration_s"],
        recurrence=Recurrence(rec["cron"], rec["timezone"],
                              datetime.fromisoformat(rec["until"]) if rec["until"] else None, rec["count"])
        if rec else None,
        wait_for_publisher=m["wait_for_publisher"], title=m["title"], metadata=m["metadata"],
        callback_urls=tuple(m["callback_urls"] or ()),
        layout_options=LayoutOptions(**m["layout_options"]) if m["layout_options"] else None,
        require_preflight=bool(m["require_preflight"]),
    )
    return Broadcast(id=m["id"], spec=spec, state=BroadcastState(m["state"]), created_at=m["created_at"],
                     updated_at=m["updated_at"], version=m["version"])


def broadcast_event_row(broadcast_id: str, at: datetime, before: str | None, after: BroadcastState,
                        detail: str, actor: str = "system") -> dict[str, Any]:
    return {"broadcast_id": broadcast_id, "at": at, "state_before": before, "state_after": after.value,
            "detail": detail, "actor": actor}


def to_broadcast_event(row: Row[Any]) -> BroadcastEvent:
    return BroadcastEvent(at=row.at, state_before=BroadcastState(row.state_before) if row.state_before else None,
                          state_after=BroadcastState(row.state_after), detail=row.detail,
                          actor=row.actor or "system")


def run_columns(r: BroadcastRun) -> dict[str, Any]:
    return {
        "id": r.id, "broadcast_id": r.broadcast_id, "seq": r.seq, "planned_start": r.planned_start,
        "planned_end": r.planned_end, "status": r.status.value, "actual_start": r.actual_start,
        "actual_end": r.actual_end, "error": r.error, "egress_pk": r.egress_pk, "attempts": r.attempts,
        "claimed_by": r.claimed_by, "preflight": r.preflight, "created_at": r.created_at,
        "updated_at": r.updated_at, "version": r.version, "awaiting_publisher": r.awaiting_publisher,
    }


def to_run(row: Row[Any]) -> BroadcastRun:
    m = row._mapping
    return BroadcastRun(
        id=m["id"], broadcast_id=m["broadcast_id"], seq=m["seq"], planned_start=m["planned_start"],
        planned_end=m["planned_end"], status=RunStatus(m["status"]), created_at=m["created_at"],
        updated_at=m["updated_at"], actual_start=m["actual_start"], actual_end=m["actual_end"], error=m["error"],
        egress_pk=m["egress_pk"], attempts=m["attempts"], claimed_by=m["claimed_by"], preflight=m["preflight"],
        version=m["version"], awaiting_publisher=bool(m["awaiting_publisher"]),
    )


def run_event_row(run_id: str, at: datetime, before: str | None, after: str, detail: str, *,
                  egress_pk: str | None = None, kind: RunEventKind | None = None,
                  destination: str | None = None, actor: str = "system") -> dict[str, Any]:
    return {"run_id": run_id, "at": at, "status_before": before, "status_after": after, "egress_pk": egress_pk,
            "detail": detail, "kind": kind.value if kind else None, "destination": destination, "actor": actor}


def to_run_event(row: Row[Any]) -> RunEvent:
    return RunEvent(at=row.at, status_before=RunStatus(row.status_before) if row.status_before else None,
                    status_after=RunStatus(row.status_after), detail=row.detail, egress_pk=row.egress_pk,
                    kind=RunEventKind(row.kind) if row.kind else None, destination=row.destination,
                    actor=row.actor or "system")


def to_run_egress(row: Row[Any]) -> RunEgress:
    return RunEgress(row.egress_pk, LaunchReason(row.reason), row.created_at)
