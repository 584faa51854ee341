"""Room sessions as the API shows them: their claims, the egresses bound to them, and the gaps between parts."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.domain.egress import EgressRecord
from orchestrator.domain.errors import NotFound
from orchestrator.domain.parts import Gap, PartSpan, gaps_between
from orchestrator.domain.rules import ActionKind
from orchestrator.domain.sessions import RecordingClaim, RoomSession

from ..ports import EgressLedger, SessionStore


@dataclass(frozen=True)
class SessionView:
    session: RoomSession
    claims: list[RecordingClaim]
    egresses: dict[str, EgressRecord]
    gaps: dict[str, list[Gap]]  # by rule id


class SessionViews:
    """Reads only (called from worker threads)."""

    def __init__(self, sessions: SessionStore, ledger: EgressLedger) -> None:
        self._sessions, self._ledger = sessions, ledger

    def sessions(self, *, room_name: str | None = None, open_only: bool = False,
                 limit: int = 50) -> list[SessionView]:
        sessions = self._sessions.sessions(room_name=room_name, open_only=open_only, limit=limit)
        claims = self._sessions.claims_of([s.room_sid for s in sessions])
        return [self._view(s, [c for c in claims if c.room_sid == s.room_sid]) for s in sessions]

    def session(self, room_sid: str) -> SessionView:
        session = self._sessions.get_session(room_sid)
        if session is None:
            raise NotFound(f"no room session {room_sid!r}")
        return self._view(session, self._sessions.claims_of([room_sid]))

    def _view(self, session: RoomSession, claims: list[RecordingClaim]) -> SessionView:
        egresses = {c.egress_pk: r for c in claims if c.egress_pk and (r := self._ledger.get(c.egress_pk))}
        gaps: dict[str, list[Gap]] = {}
        for rule_id in {c.rule_id for c in claims if c.action == ActionKind.COMPOSITE}:
            spans = []
            for c in claims:
                if c.rule_id == rule_id and c.action == ActionKind.COMPOSITE and c.egress_pk in egresses:
                    rec = egresses[c.egress_pk]
                    spans.append(PartSpan(c.part, rec.started_at, rec.ended_at))
            gaps[rule_id] = gaps_between(spans)
        return SessionView(session, claims, egresses, gaps)
