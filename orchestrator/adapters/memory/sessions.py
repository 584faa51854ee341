"""MemorySessionStore: room sessions and recording claims in memory; every claim change has a history row."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from orchestrator.domain.activity import Change, ChangeKind, Position, after
from orchestrator.domain.rules import ActionKind
from orchestrator.domain.sessions import (
    RETRYABLE,
    ClaimEvent,
    ClaimState,
    RecordingClaim,
    RoomRequest,
    RoomSession,
    delegated,
)

from .database import MemoryDatabase, Tables, require_aware

Opening = tuple[RoomSession, Sequence[RecordingClaim], datetime | None]
ENDED_WHILE_STARTING = "the room ended while its start call was out; stopped"
CREATED_AS = {  # the first history row of a claim, by its first state (the SQL store's words)
    ClaimState.CLAIMED: "claimed",
    ClaimState.DELEGATED: "delegated: LiveKit's CreateRoom auto egress records it",
    ClaimState.STARTED: "claimed, started",
    ClaimState.FAILED: "failed",
    ClaimState.CANCELLED: "cancelled",
}


class MemorySessionStore:
    """The SessionStore port on a MemoryDatabase."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    # ---- writes ------------------------------------------------------------------------------

    def open_sessions(self, openings: Sequence[Opening]) -> list[tuple[RoomSession, bool, list[RecordingClaim]]]:
        with self._db.transaction() as t:
            return open_sessions(t, openings)

    def claim(self, room_sid: str, claims: Sequence[RecordingClaim]) -> list[RecordingClaim]:
        with self._db.transaction() as t:
            session = t.sessions.get(room_sid)
            if session is None or session.ended_at is not None:
                return []
            return insert_claims(t, claims)

    def bind_claims(self, items: Sequence[tuple[str, str, datetime]]) -> list[bool]:
        with self._db.transaction() as t:
            for key, pk, now in items:
                claim = t.claims.get(key)
                if claim is None:
                    continue
                if claim.state == ClaimState.STARTED and claim.egress_pk == pk:
                    t.claims[key] = dataclasses.replace(claim, updated_at=now)  # bound already: no history row
                elif claim.state == ClaimState.CANCELLED:
                    change(t, claim, ClaimState.CANCELLED, now, ENDED_WHILE_STARTING, egress_pk=pk,
                           error=ENDED_WHILE_STARTING)
                else:
                    change(t, claim, ClaimState.STARTED, now, "started", egress_pk=pk, error="", retry_at=None)
            return [not (key in t.claims and t.claims[key].state == ClaimState.CANCELLED) for key, _, _ in items]

    def fail_claim(self, key: str, error: str, retry_at: datetime | None, now: datetime) -> None:
        with self._db.transaction() as t:
            claim = t.claims.get(key)
            if claim is not None and claim.state in RETRYABLE:
                change(t, claim, ClaimState.FAILED, now, error, error=error[:2000], retry_at=retry_at)

    def take_for_retry(self, key: str, now: datetime, lease_until: datetime) -> RecordingClaim | None:
        with self._db.transaction() as t:
            claim = t.claims.get(key)
            if claim is None or claim.state not in RETRYABLE or claim.retry_at is None or claim.retry_at > now:
                return None
            taken = change(t, claim, ClaimState.CLAIMED, now, "taken for a retry", retry_at=lease_until,
                           attempts=claim.attempts + 1)
            session = t.sessions.get(taken.room_sid)
            if session is None or session.ended_at is not None:
                change(t, taken, ClaimState.CANCELLED, now, "the session had ended: not retried", retry_at=None,
                       updated_at=taken.updated_at)
                return None
            return taken

    def bind_delegated(self, room_sid: str, egress_pk: str, now: datetime) -> RecordingClaim | None:
        with self._db.transaction() as t:
            bound = [change(t, c, ClaimState.STARTED, now, "LiveKit's auto egress started", egress_pk=egress_pk)
                     for c in sorted(t.claims.values(), key=lambda c: c.key)
                     if c.room_sid == room_sid and c.state == ClaimState.DELEGATED and c.egress_pk is None]
            return bound[0] if bound else None

    def close_session(self, room_sid: str, now: datetime) -> tuple[bool, list[RecordingClaim]]:
        with self._db.transaction() as t:
            session = t.sessions.get(room_sid)
            closed = session is not None and session.ended_at is None
            if session is not None and closed:
                t.sessions[room_sid] = dataclasses.replace(session, ended_at=now)
            for claim in sorted(t.claims.values(), key=lambda c: c.key):
                if claim.room_sid == room_sid and (claim.state in RETRYABLE or claim.state == ClaimState.DELEGATED):
                    change(t, claim, ClaimState.CANCELLED, now, "the room ended", retry_at=None)
            return closed, [c for c in _sorted(t.claims.values()) if c.room_sid == room_sid and c.egress_pk]

    def expect_room(self, room_name: str, rule_id: str, now: datetime) -> None:
        require_aware(now)
        with self._db.transaction() as t:
            t.room_requests[room_name] = RoomRequest(room_name, rule_id, now)

    def forget_expected_room(self, room_name: str) -> None:
        with self._db.transaction() as t:
            t.room_requests.pop(room_name, None)

    # ---- reads -------------------------------------------------------------------------------

    def due_claims(self, now: datetime, limit: int = 200) -> list[RecordingClaim]:
        due = [c for c in self._db.read().claims.values()
               if c.state in RETRYABLE and c.retry_at is not None and c.retry_at <= now]
        return sorted(due, key=lambda c: (c.retry_at or now, c.key))[:limit]

    def get_claim(self, key: str) -> RecordingClaim | None:
        return self._db.read().claims.get(key)

    def claim_of_egress(self, egress_pk: str) -> RecordingClaim | None:
        return next((c for c in _sorted(self._db.read().claims.values()) if c.egress_pk == egress_pk), None)

    def claim_history(self, key: str) -> list[ClaimEvent]:
        return [event for owner, event in self._db.read().claim_events if owner == key]

    def get_session(self, room_sid: str) -> RoomSession | None:
        return self._db.read().sessions.get(room_sid)

    def changed_since(self, after_: Position, limit: int) -> list[Change]:
        return after([Change(ChangeKind.SESSION, s.room_sid, "ended" if s.ended_at else "open", s.room_name,
                             s.ended_at or s.started_at) for s in self._db.read().sessions.values()], after_, limit)

    def sessions(self, *, room_name: str | None = None, open_only: bool = False,
                 limit: int = 100) -> list[RoomSession]:
        found = [s for s in self._db.read().sessions.values()
                 if (not room_name or s.room_name == room_name) and (not open_only or s.ended_at is None)]
        found.sort(key=lambda s: s.room_sid)
        found.sort(key=lambda s: s.started_at, reverse=True)
        return found[:limit]

    def claims_of(self, room_sids: Sequence[str]) -> list[RecordingClaim]:
        wanted = set(room_sids)
        return _sorted(c for c in self._db.read().claims.values() if c.room_sid in wanted)

    def running_composites(self) -> list[RecordingClaim]:
        """The newest part of every composite of every open session, when that part has started."""
        t = self._db.read()
        newest: dict[tuple[str, str], RecordingClaim] = {}
        for claim in sorted(t.claims.values(), key=lambda c: c.part):
            session = t.sessions.get(claim.room_sid)
            if claim.action == ActionKind.COMPOSITE and session is not None and session.ended_at is None:
                newest[(claim.room_sid, claim.rule_id)] = claim
        return [c for c in newest.values() if c.state == ClaimState.STARTED]


# ---- inside a transaction (the intake store uses these too) --------------------------------------------


def open_sessions(t: Tables, openings: Sequence[Opening]) -> list[tuple[RoomSession, bool, list[RecordingClaim]]]:
    """Sessions if new (a room given twice: its first occurrence), pending CreateRoom requests consumed into
    DELEGATED composite claims (new sessions only), and the claims nobody holds yet (none once a session ended)."""
    opened: list[tuple[RoomSession, bool, list[RecordingClaim]]] = []
    for session, claims, since in openings:
        require_aware(session.started_at, session.ended_at, since)
        created = session.room_sid not in t.sessions
        if created:
            t.sessions[session.room_sid] = session
        opened.append((t.sessions[session.room_sid], created, list(claims)))
    # A pending CreateRoom for a new session's room is consumed (too old or not); its composite may delegate.
    requests: dict[str, RoomRequest | None] = {}
    for (s, created, _), (_, _, since) in zip(opened, openings, strict=True):
        if created and since is not None and s.room_name not in requests:
            requests[s.room_name] = t.room_requests.pop(s.room_name, None)
    opened = [(s, created, delegated(claims, requests.get(s.room_name), created=created, expected_since=since))
              for (s, created, claims), (_, _, since) in zip(opened, openings, strict=True)]
    results = []
    for s, created, claims in opened:
        results.append((s, created, insert_claims(t, claims) if s.ended_at is None else []))
    return results


def insert_claims(t: Tables, claims: Sequence[RecordingClaim]) -> list[RecordingClaim]:
    """The claims whose key nobody held (each key once), stored with their first history row."""
    won = []
    for claim in claims:
        require_aware(claim.created_at, claim.updated_at, claim.retry_at)
        if claim.key in t.claims:
            continue
        t.claims[claim.key] = dataclasses.replace(claim, extra={})  # `extra` is not stored (as in SQL)
        detail = f"{CREATED_AS[claim.state]}: {claim.error}" if claim.error else CREATED_AS[claim.state]
        t.claim_events.append((claim.key, ClaimEvent(at=claim.updated_at, state_before=None, state_after=claim.state,
                                                     detail=detail[:2000], egress_pk=claim.egress_pk)))
        won.append(claim)
    return won


def change(t: Tables, claim: RecordingClaim, state: ClaimState, now: datetime, detail: str,
           **fields: Any) -> RecordingClaim:
    """A guarded update of one claim (the caller checked its state) and its history row, as the SQL store writes
    one per row its update changed (a claim failing again: FAILED -> FAILED)."""
    require_aware(now, *(v for v in fields.values() if isinstance(v, datetime)))
    updated = dataclasses.replace(claim, state=state, **{"updated_at": now, **fields})
    t.claims[claim.key] = updated
    t.claim_events.append((claim.key, ClaimEvent(at=now, state_before=claim.state, state_after=state,
                                                 detail=detail[:2000], egress_pk=updated.egress_pk)))
    return updated


def _sorted(claims: Any) -> list[RecordingClaim]:
    return sorted(claims, key=lambda c: (c.room_sid, c.rule_id, c.action.value, c.subject, c.part))
