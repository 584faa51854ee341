"""Room sessions, recording claims and claim history: rows <-> domain values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from orchestrator.domain.rules import ActionKind, RuleMatch
from orchestrator.domain.sessions import ClaimEvent, ClaimState, RecordingClaim, RoomSession, SessionSource

# The history row of a claim as it was inserted, by its first state.
CREATED_AS = {
    ClaimState.CLAIMED: "claimed",
    ClaimState.DELEGATED: "delegated: LiveKit's CreateRoom auto egress records it",
    ClaimState.STARTED: "claimed, started",
    ClaimState.FAILED: "failed",
    ClaimState.CANCELLED: "cancelled",
}


def claim_event_row(key: str, at: datetime, before: ClaimState | None, after: ClaimState, detail: str,
                    egress_pk: str | None) -> dict[str, Any]:
    return {"claim_key": key, "at": at, "state_before": before.value if before else None,
            "state_after": after.value, "detail": detail[:2000], "egress_pk": egress_pk}


def created_event_row(claim: RecordingClaim) -> dict[str, Any]:
    detail = f"{CREATED_AS[claim.state]}: {claim.error}" if claim.error else CREATED_AS[claim.state]
    return claim_event_row(claim.key, claim.updated_at, None, claim.state, detail, claim.egress_pk)


def claim_event(row: Row[Any]) -> ClaimEvent:
    return ClaimEvent(at=row.at, state_before=ClaimState(row.state_before) if row.state_before else None,
                      state_after=ClaimState(row.state_after), detail=row.detail, egress_pk=row.egress_pk)


def session_columns(s: RoomSession) -> dict[str, Any]:
    return {"room_sid": s.room_sid, "room_name": s.room_name, "metadata": s.metadata, "source": s.source.value,
            "started_at": s.started_at, "ended_at": s.ended_at,
            "matches": [{"rule_id": m.rule_id, "rule_name": m.rule_name, "reason": m.reason} for m in s.matches]}


def session(row: Row[Any]) -> RoomSession:
    return RoomSession(
        room_sid=row.room_sid, room_name=row.room_name, metadata=row.metadata,
        source=SessionSource(row.source), started_at=row.started_at, ended_at=row.ended_at,
        matches=tuple(RuleMatch(m["rule_id"], m["rule_name"], m["reason"]) for m in row.matches or []))


def claim_columns(c: RecordingClaim) -> dict[str, Any]:
    return {"key": c.key, "room_sid": c.room_sid, "room_name": c.room_name, "rule_id": c.rule_id,
            "action": c.action.value, "subject": c.subject, "part": c.part, "state": c.state.value,
            "request": c.request, "attempts": c.attempts, "egress_pk": c.egress_pk, "error": c.error,
            "retry_at": c.retry_at, "created_at": c.created_at, "updated_at": c.updated_at}


def claim(row: Row[Any]) -> RecordingClaim:
    return RecordingClaim(
        key=row.key, room_sid=row.room_sid, room_name=row.room_name, rule_id=row.rule_id,
        action=ActionKind(row.action), subject=row.subject, part=int(row.part), state=ClaimState(row.state),
        request=dict(row.request or {}), created_at=row.created_at, updated_at=row.updated_at,
        retry_at=row.retry_at, attempts=int(row.attempts), egress_pk=row.egress_pk, error=row.error)
