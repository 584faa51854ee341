"""SqlSessionStore: room sessions and recording claims; every claim change is a guarded update plus a history row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator.adapters.sql import activity
from orchestrator.domain.activity import Change, Position
from orchestrator.domain.rules import ActionKind
from orchestrator.domain.sessions import RETRYABLE, ClaimEvent, ClaimState, RecordingClaim, RoomSession

from . import session_rows as rows
from .claim_writes import ClaimWrites, Opened, Opening, taken_claims
from .database import SqlDatabase
from .rule_tables import recording_claim_events, recording_claims, room_requests, room_sessions

_claims = recording_claims.c
_SESSION = select(room_sessions).where(room_sessions.c.room_sid == bindparam("sid"))
_CLAIM_BY_KEY = select(recording_claims).where(_claims.key == bindparam("key"))
_BIND_CLAIM = update(recording_claims).where(
    _claims.key == bindparam("k"), _claims.state != ClaimState.CANCELLED.value).values(
    state=ClaimState.STARTED.value, egress_pk=bindparam("pk"), error="", retry_at=None, updated_at=bindparam("now"))
# The session ended while the start call was out: keep the claim cancelled, but say which egress it made.
_ENDED_WHILE_STARTING = "the room ended while its start call was out; stopped"
_BIND_CANCELLED = update(recording_claims).where(
    _claims.key == bindparam("k"), _claims.state == ClaimState.CANCELLED.value).values(
    egress_pk=bindparam("pk"), error=_ENDED_WHILE_STARTING, updated_at=bindparam("now"))
_CLOSABLE = (*RETRYABLE, ClaimState.DELEGATED)


def _states(states: Iterable[ClaimState]) -> list[str]:
    return [s.value for s in states]


class SqlSessionStore:
    """Room sessions, recording claims and pending CreateRoom requests on SQLite or PostgreSQL."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._writes = ClaimWrites(db.dialect)
        dialect_insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
        upsert = dialect_insert(room_requests)
        self._upsert_request = upsert.on_conflict_do_update(
            index_elements=["room_name"], set_={"rule_id": upsert.excluded.rule_id,
                                                "created_at": upsert.excluded.created_at})

    # ---- sessions and claims won -------------------------------------------------------------

    def open_sessions(self, openings: Sequence[Opening]) -> list[Opened]:
        """(session, claims, expected_since) each -> (stored session, created now, claims won); one transaction.
        See `ClaimWrites.open_sessions`."""
        with self._db.write() as conn:
            return self._writes.open_sessions(conn, openings)

    def claim(self, room_sid: str, claims: Sequence[RecordingClaim]) -> list[RecordingClaim]:
        """Insert the claims nobody holds yet, unless the session has ended; returns the ones won."""
        with self._db.write() as conn:
            row = conn.execute(_SESSION, {"sid": room_sid}).first()
            if row is None or row.ended_at is not None:
                return []
            return taken_claims(claims, self._writes.insert_claims(conn, claims))

    # ---- claim state changes: guarded, each with a history row --------------------------------

    def _change(self, conn: Connection, guard: ColumnElement[bool], values: dict[str, Any], now: datetime,
                detail: str) -> list[Row[Any]]:
        """Move the claims `guard` selects: read them (locked on PostgreSQL; SQLite's writer holds the whole
        database), update exactly those, still guarded, and write each one's history row. The rows after."""
        before = {r.key: ClaimState(r.state) for r in conn.execute(
            select(_claims.key, _claims.state).where(guard).with_for_update())}
        if not before:
            return []
        moved = update(recording_claims).where(guard, _claims.key.in_(list(before))).values(**values)
        changed = list(conn.execute(moved.returning(*recording_claims.c)).all())
        self._writes.record_events(conn, [rows.claim_event_row(r.key, now, before[r.key], ClaimState(r.state),
                                                               detail, r.egress_pk) for r in changed])
        return changed

    def bind_claims(self, items: Sequence[tuple[str, str, datetime]]) -> list[bool]:
        """Claims whose egress started: (key, egress row id, now) each, in one transaction.

        Each answer is False when the claim's session ended (and cancelled it) while the start call was out:
        the caller must stop that egress, since close_session could not see it.
        """
        params = [{"k": key, "pk": pk, "now": now} for key, pk, now in items]
        keys = [key for key, _, _ in items]
        with self._db.write() as conn:
            state = {r.key: (ClaimState(r.state), r.egress_pk) for r in conn.execute(
                select(_claims.key, _claims.state, _claims.egress_pk).where(_claims.key.in_(keys)).with_for_update())}
            conn.execute(_BIND_CLAIM, params)  # guarded: a cancelled claim stays cancelled
            conn.execute(_BIND_CANCELLED, params)
            events = []
            for key, pk, now in items:
                if key not in state or state[key] == (ClaimState.STARTED, pk):
                    continue  # no such claim, or bound to this egress already: nothing changes
                before = state[key][0]
                after = before if before == ClaimState.CANCELLED else ClaimState.STARTED
                detail = _ENDED_WHILE_STARTING if after == ClaimState.CANCELLED else "started"
                events.append(rows.claim_event_row(key, now, before, after, detail, pk))
                state[key] = (after, pk)
            self._writes.record_events(conn, events)
        return [state.get(key, (None, None))[0] != ClaimState.CANCELLED for key in keys]

    def fail_claim(self, key: str, error: str, retry_at: datetime | None, now: datetime) -> None:
        with self._db.write() as conn:
            self._change(conn, (_claims.key == key) & _claims.state.in_(_states(RETRYABLE)),
                         {"state": ClaimState.FAILED.value, "error": error[:2000], "retry_at": retry_at,
                          "updated_at": now}, now, error)

    def take_for_retry(self, key: str, now: datetime, lease_until: datetime) -> RecordingClaim | None:
        """Guarded: only one replica takes a due claim, and only while its session is open."""
        with self._db.write() as conn:
            taken = self._change(
                conn, (_claims.key == key) & _claims.state.in_(_states(RETRYABLE)) & (_claims.retry_at <= now),
                {"state": ClaimState.CLAIMED.value, "retry_at": lease_until, "attempts": _claims.attempts + 1,
                 "updated_at": now}, now, "taken for a retry")
            if not taken:
                return None
            session = conn.execute(_SESSION, {"sid": taken[0].room_sid}).first()
            if session is None or session.ended_at is not None:
                self._change(conn, (_claims.key == key) & (_claims.state == ClaimState.CLAIMED.value),
                             {"state": ClaimState.CANCELLED.value, "retry_at": None}, now,
                             "the session had ended: not retried")
                return None
        return rows.claim(taken[0])

    def bind_delegated(self, room_sid: str, egress_pk: str, now: datetime) -> RecordingClaim | None:
        """The composite LiveKit started itself (CreateRoom auto egress) takes its place in the session."""
        with self._db.write() as conn:
            bound = self._change(
                conn, (_claims.room_sid == room_sid) & (_claims.state == ClaimState.DELEGATED.value)
                & _claims.egress_pk.is_(None),
                {"state": ClaimState.STARTED.value, "egress_pk": egress_pk, "updated_at": now}, now,
                "LiveKit's auto egress started")
        return rows.claim(bound[0]) if bound else None

    def close_session(self, room_sid: str, now: datetime) -> tuple[bool, list[RecordingClaim]]:
        """End the session once; claims not started are cancelled. Returns (closed now, started claims)."""
        with self._db.write() as conn:
            closed = conn.execute(update(room_sessions).where(
                room_sessions.c.room_sid == room_sid, room_sessions.c.ended_at.is_(None)).values(
                ended_at=now)).rowcount
            self._change(conn, (_claims.room_sid == room_sid) & _claims.state.in_(_states(_CLOSABLE)),
                         {"state": ClaimState.CANCELLED.value, "retry_at": None, "updated_at": now}, now,
                         "the room ended")
            found = conn.execute(select(recording_claims).where(
                _claims.room_sid == room_sid, _claims.egress_pk.is_not(None))).all()
        return bool(closed), [rows.claim(r) for r in found]

    # ---- reads -------------------------------------------------------------------------------

    def due_claims(self, now: datetime, limit: int = 200) -> list[RecordingClaim]:
        query = (select(recording_claims)
                 .where(_claims.state.in_(_states(RETRYABLE)), _claims.retry_at <= now)
                 .order_by(_claims.retry_at).limit(limit))
        with self._db.read() as conn:
            return [rows.claim(r) for r in conn.execute(query).all()]

    def get_claim(self, key: str) -> RecordingClaim | None:
        with self._db.read() as conn:
            row = conn.execute(_CLAIM_BY_KEY, {"key": key}).first()
        return rows.claim(row) if row else None

    def claim_of_egress(self, egress_pk: str) -> RecordingClaim | None:
        with self._db.read() as conn:
            row = conn.execute(select(recording_claims).where(_claims.egress_pk == egress_pk)).first()
        return rows.claim(row) if row else None

    def claim_history(self, key: str) -> list[ClaimEvent]:
        """Oldest first."""
        events = recording_claim_events.c
        with self._db.read() as conn:
            found = conn.execute(select(recording_claim_events).where(events.claim_key == key)
                                 .order_by(events.seq)).all()
        return [rows.claim_event(r) for r in found]

    def get_session(self, room_sid: str) -> RoomSession | None:
        with self._db.read() as conn:
            row = conn.execute(_SESSION, {"sid": room_sid}).first()
        return rows.session(row) if row else None

    def changed_since(self, after: Position, limit: int) -> list[Change]:
        """Sessions opened or ended after `after` (by that time, then room sid), oldest first."""
        return activity.session_changes(self._db, after, limit)

    def sessions(self, *, room_name: str | None = None, open_only: bool = False,
                 limit: int = 100) -> list[RoomSession]:
        query = select(room_sessions)
        if room_name:
            query = query.where(room_sessions.c.room_name == room_name)
        if open_only:
            query = query.where(room_sessions.c.ended_at.is_(None))
        query = query.order_by(room_sessions.c.started_at.desc(), room_sessions.c.room_sid).limit(limit)
        with self._db.read() as conn:
            return [rows.session(r) for r in conn.execute(query).all()]

    def claims_of(self, room_sids: Sequence[str]) -> list[RecordingClaim]:
        if not room_sids:
            return []
        query = select(recording_claims).where(_claims.room_sid.in_(room_sids)).order_by(
            _claims.room_sid, _claims.rule_id, _claims.action, _claims.subject, _claims.part)
        with self._db.read() as conn:
            return [rows.claim(r) for r in conn.execute(query).all()]

    def running_composites(self) -> list[RecordingClaim]:
        """The newest started part of every composite of every open session."""
        query = (select(recording_claims)
                 .join(room_sessions, room_sessions.c.room_sid == _claims.room_sid)
                 .where(room_sessions.c.ended_at.is_(None), _claims.action == ActionKind.COMPOSITE.value)
                 .order_by(_claims.part))
        with self._db.read() as conn:
            found = conn.execute(query).all()
        newest: dict[tuple[str, str], RecordingClaim] = {}
        for row in found:
            claim = rows.claim(row)
            newest[(claim.room_sid, claim.rule_id)] = claim
        return [c for c in newest.values() if c.state == ClaimState.STARTED]

    # ---- CreateRoom requests -----------------------------------------------------------------

    def expect_room(self, room_name: str, rule_id: str, now: datetime) -> None:
        """POST /v1/rooms is about to CreateRoom with auto egress for this rule."""
        with self._db.write() as conn:
            conn.execute(self._upsert_request, {"room_name": room_name, "rule_id": rule_id, "created_at": now})

    def forget_expected_room(self, room_name: str) -> None:
        with self._db.write() as conn:
            conn.execute(delete(room_requests).where(room_requests.c.room_name == room_name))
