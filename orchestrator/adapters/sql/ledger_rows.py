"""The egress ledger's rows <-> domain values: records, history rows, results as JSON, changes as columns."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from orchestrator.domain.egress import (
    ChangeSource,
    Decision,
    EgressEvent,
    EgressKind,
    EgressRecord,
    EgressStatus,
    FileResult,
    ImageResult,
    Observation,
    Origin,
    Outcome,
    Results,
    SegmentResult,
    StreamResult,
)

MUTABLE = ("egress_id", "kind", "room_name", "room_id", "status", "error", "error_code", "details",
           "results", "updated_at", "started_at", "ended_at", "livekit_updated_ns")


def history_row(pk: str, at: datetime, source: ChangeSource, outcome: Outcome, before: EgressStatus | None,
                after: EgressStatus, *, event_id: str = "", detail: str = "", actor: str = "system"
                ) -> dict[str, Any]:
    return {"egress_pk": pk, "at": at, "source": source.value, "outcome": outcome.value,
            "status_before": before.value if before else None, "status_after": after.value,
            "event_id": event_id, "detail": detail[:2000], "actor": actor}


def with_changes(record: EgressRecord, changes: dict[str, Any], version: int) -> EgressRecord:
    """The record as the row reads after `changes` (column values) were written."""
    fields = {k: v for k, v in changes.items() if k not in ("results", "status", "kind")}
    if "status" in changes:
        fields["status"] = EgressStatus(changes["status"])
    if "kind" in changes:
        fields["kind"] = EgressKind(changes["kind"]) if changes["kind"] else None
    if "results" in changes:
        fields["results"] = results_from(changes["results"])
    return dataclasses.replace(record, **fields, version=version)


def describe(obs: Observation) -> str:
    text = f"LiveKit reports {obs.status.value}"
    return f"{text}: {obs.error}" if obs.error else text


def changes_from(obs: Observation, decision: Decision, now: datetime) -> dict[str, Any]:
    """The columns a report changes, once the domain decided it applies."""
    changes: dict[str, Any] = {
        "status": decision.status.value,
        "updated_at": now,
        "livekit_updated_ns": obs.updated_at_ns,
        "results": results_json(obs.results),
    }
    for name in ("room_id", "room_name", "error", "details"):
        if getattr(obs, name):
            changes[name] = getattr(obs, name)
    if obs.error_code:
        changes["error_code"] = obs.error_code
    if obs.kind:
        changes["kind"] = obs.kind.value
    if obs.started_at:
        changes["started_at"] = obs.started_at
    if obs.ended_at:
        changes["ended_at"] = obs.ended_at
    elif decision.status.terminal:
        changes["ended_at"] = now
    return changes


def state_of(rec: EgressRecord, decision: Decision) -> dict[str, Any]:
    """The columns an adopted row hands over to ours when the two are merged."""
    return {
        "status": decision.status.value, "livekit_updated_ns": rec.livekit_updated_ns,
        "results": results_json(rec.results), "error": rec.error, "error_code": rec.error_code,
        "details": rec.details, "started_at": rec.started_at, "ended_at": rec.ended_at,
        "room_id": rec.room_id,
    }


def columns(rec: EgressRecord) -> dict[str, Any]:
    return {
        "id": rec.id, "egress_id": rec.egress_id, "kind": rec.kind.value if rec.kind else None,
        "room_name": rec.room_name, "room_id": rec.room_id, "status": rec.status.value,
        "origin": rec.origin.value, "error": rec.error, "error_code": rec.error_code,
        "details": rec.details, "request": rec.request, "results": results_json(rec.results),
        "fingerprint": rec.fingerprint, "created_at": rec.created_at, "updated_at": rec.updated_at,
        "started_at": rec.started_at, "ended_at": rec.ended_at,
        "livekit_updated_ns": rec.livekit_updated_ns, "version": rec.version,
    }


def record(row: Row[Any]) -> EgressRecord:
    m = row._mapping
    return EgressRecord(
        id=m["id"], egress_id=m["egress_id"], kind=EgressKind(m["kind"]) if m["kind"] else None,
        room_name=m["room_name"], room_id=m["room_id"], status=EgressStatus(m["status"]),
        origin=Origin(m["origin"]), created_at=m["created_at"], updated_at=m["updated_at"],
        error=m["error"], error_code=m["error_code"], details=m["details"], request=m["request"],
        results=results_from(m["results"]), fingerprint=m["fingerprint"], started_at=m["started_at"],
        ended_at=m["ended_at"], livekit_updated_ns=m["livekit_updated_ns"], version=m["version"],
    )


def event(row: Row[Any]) -> EgressEvent:
    m = row._mapping
    return EgressEvent(
        at=m["at"], source=ChangeSource(m["source"]), outcome=Outcome(m["outcome"]),
        status_before=EgressStatus(m["status_before"]) if m["status_before"] else None,
        status_after=EgressStatus(m["status_after"]), event_id=m["event_id"], detail=m["detail"],
        actor=m["actor"] or "system",
    )


def shallow(obj: Any) -> dict[str, Any]:
    """A flat dataclass as a dict, without dataclasses.asdict's deep copy (hot path)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def results_json(results: Results) -> dict[str, Any]:
    def encode(items: Sequence[Any]) -> list[dict[str, Any]]:
        return [{k: _dt(v) if isinstance(v, datetime) else v for k, v in shallow(item).items()}
                for item in items]

    return {"files": encode(results.files), "streams": encode(results.streams),
            "segments": encode(results.segments), "images": encode(results.images)}


def results_from(data: dict[str, Any] | None) -> Results:
    data = data or {}

    def decode(cls: type[Any], items: list[dict[str, Any]]) -> tuple[Any, ...]:
        dt_fields = {"started_at", "ended_at"}
        return tuple(cls(**{k: _parse_dt(v) if k in dt_fields else v for k, v in item.items()})
                     for item in items)

    return Results(
        files=decode(FileResult, data.get("files", [])),
        streams=decode(StreamResult, data.get("streams", [])),
        segments=decode(SegmentResult, data.get("segments", [])),
        images=decode(ImageResult, data.get("images", [])),
    )
