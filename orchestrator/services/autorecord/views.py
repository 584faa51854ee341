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
        """A page of sessions in three reads, whatever its length: the sessions, their claims, their egresses
        (each claim's egress read on its own was a query per claim: ~100 for a page of 50 sessions)."""
        sessions = self._sessions.sessions(room_name=room_name, open_only=open_only, limit=limit)
        claims = self._sessions.claims_of([s.room_sid for s in sessions])
        egresses = self._ledger.get_many(c.egress_pk for c in claims if c.egress_pk)
        by_session: dict[str, list[RecordingClaim]] = {s.room_sid: [] for s in sessions}
        for c in claims:
            if c.room_sid in by_session:
                by_session[c.room_sid].append(c)
        return [_view(s, by_session[s.room_sid], egresses) for s in sessions]

    def session(self, room_sid: str) -> SessionView:
        session = self._sessions.get_session(room_sid)
        if session is None:
            raise NotFound(f"no room session {room_sid!r}")
        claims = self._sessions.claims_of([room_sid])
        return _view(session, claims, self._ledger.get_many(c.egress_pk for c in claims if c.egress_pk))


def _view(session: RoomSession, claims: list[RecordingClaim], found: dict[str, EgressRecord]) -> SessionView:
    """`found` holds the egresses of these claims (and maybe others'): only this session's are kept."""
    egresses = {c.egress_pk: r for c in claims if c.egress_pk and (r := found.get(c.egress_pk))}
    gaps: dict[str, list[Gap]] = {}
    for rule_id in {c.rule_id for c in claims if c.action == ActionKind.COMPOSITE}:
        spans = []
        for c in claims:
            if c.rule_id == rule_id and c.action == ActionKind.COMPOSITE and c.egress_pk in egresses:
                rec = egresses[c.egress_pk]
                spans.append(PartSpan(c.part, rec.started_at, rec.ended_at))
        gaps[rule_id] = gaps_between(spans)
    return SessionView(session, claims, egresses, gaps)
