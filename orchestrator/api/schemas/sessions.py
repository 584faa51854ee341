"""Bodies of the sessions API (`/v1/sessions`): room sessions, their recordings, matches and gaps."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from orchestrator.services.autorecord import SessionView

from .egresses import EgressOut


class MatchOut(BaseModel):
    rule_id: str
    rule_name: str
    reason: str


class SessionRecordingOut(BaseModel):
    key: str
    rule_id: str
    action: str
    subject: str
    part: int
    state: str
    attempts: int
    error: str
    egress: EgressOut | None


class GapOut(BaseModel):
    rule_id: str
    after_part: int
    seconds: float


class SessionOut(BaseModel):
    room_sid: str
    room_name: str
    metadata: str
    source: str
    started_late: bool
    started_at: datetime
    ended_at: datetime | None
    matches: list[MatchOut]
    recordings: list[SessionRecordingOut]
    gaps: list[GapOut]

    @classmethod
    def of(cls, view: SessionView) -> SessionOut:
        s = view.session
        return cls(
            room_sid=s.room_sid, room_name=s.room_name, metadata=s.metadata, source=s.source.value,
            started_late=s.started_late, started_at=s.started_at, ended_at=s.ended_at,
            matches=[MatchOut(rule_id=m.rule_id, rule_name=m.rule_name, reason=m.reason) for m in s.matches],
            recordings=[SessionRecordingOut(
                key=c.key, rule_id=c.rule_id, action=c.action.value, subject=c.subject, part=c.part,
                state=c.state.value, attempts=c.attempts, error=c.error,
                egress=EgressOut.of(view.egresses[c.egress_pk]) if c.egress_pk in view.egresses else None)
                for c in view.claims],
            gaps=[GapOut(rule_id=rule_id, after_part=g.after_part, seconds=g.seconds)
                  for rule_id, gaps in sorted(view.gaps.items()) for g in gaps],
        )


class SessionList(BaseModel):
    items: list[SessionOut]
