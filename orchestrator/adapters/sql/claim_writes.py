"""Opening room sessions and inserting recording claims (each with its history row) inside a caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, delete, select

from orchestrator.domain.sessions import RecordingClaim, RoomRequest, RoomSession, delegated

from . import session_rows as rows
from .bulk import NewRows, Rows
from .rule_tables import recording_claim_events, recording_claims, room_requests, room_sessions

_ANY_ROOM_REQUEST = select(room_requests.c.room_name).limit(1)

Opening = tuple[RoomSession, Sequence[RecordingClaim], datetime | None]
Opened = tuple[RoomSession, bool, list[RecordingClaim]]


class ClaimWrites:
    """Sessions and claims written on a connection inside a write transaction (the session store's own, or
    the webhook intake's)."""

    def __init__(self, dialect: Dialect) -> None:
        # Batches of rows: straight to the driver's executemany on SQLite (see bulk.py).
        self._session_rows = NewRows(room_sessions, dialect, key="room_sid")
        self._claim_rows = NewRows(recording_claims, dialect, key="key")
        self._event_rows = Rows(recording_claim_events, dialect,
                                columns=[c.name for c in recording_claim_events.columns if c.name != "seq"])

    def open_sessions(self, conn: Connection, items: Sequence[Opening]) -> list[Opened]:
        """Each session if new, and every claim nobody holds yet (none once the session ended): one insert for
        the sessions, one for the claims, one for their history.

        With `expected_since`, a pending POST /v1/rooms for the room name (made since then) is consumed and its
        rule's composite claim becomes DELEGATED: LiveKit's auto egress records it, not us. A room or claim
        given twice is created and won by its first occurrence only. Returns, per item, the stored session,
        whether this call created it, and the claims this call won.
        """
        if not items:
            return []
        inserted = self._session_rows.insert_new(conn, [rows.session_columns(s) for s, _, _ in items])
        existing = {s.room_sid for s, _, _ in items} - inserted
        stored = {row.room_sid: rows.session(row) for row in conn.execute(
            select(room_sessions).where(room_sessions.c.room_sid.in_(existing)))} if existing else {}
        opened: list[Opened] = []
        for session, claims, _ in items:
            created = session.room_sid in inserted
            inserted.discard(session.room_sid)  # a second notice of the same room in this batch did not create it
            stored.setdefault(session.room_sid, session)
            opened.append((stored[session.room_sid], created, list(claims)))
        expecting = [s.room_name for (s, created, _), (_, _, since) in zip(opened, items, strict=True)
                     if created and since is not None]
        if expecting and conn.execute(_ANY_ROOM_REQUEST).first() is not None:  # mostly none: one cheap read
            # Pending CreateRoom requests for the new sessions' rooms are consumed, whether they delegate or not.
            requests = {r.room_name: RoomRequest(r.room_name, r.rule_id, r.created_at) for r in conn.execute(
                delete(room_requests).where(room_requests.c.room_name.in_(expecting)).returning(
                    room_requests.c.room_name, room_requests.c.rule_id, room_requests.c.created_at))}
            opened = [(s, created, delegated(claims, requests.get(s.room_name), created=created,
                                             expected_since=since))
                      for (s, created, claims), (_, _, since) in zip(opened, items, strict=True)]
        won_keys = self.insert_claims(conn, [c for s, _, claims in opened if s.ended_at is None for c in claims])
        return [(s, created, taken_claims(claims, won_keys) if s.ended_at is None else [])
                for s, created, claims in opened]

    def insert_claims(self, conn: Connection, claims: Sequence[RecordingClaim]) -> set[str]:
        """The keys of the claims inserted now (nobody held them), each with its first history row."""
        if not claims:
            return set()
        won = self._claim_rows.insert_new(conn, [rows.claim_columns(c) for c in claims])
        self.record_events(conn, [rows.created_event_row(c) for c in taken_claims(claims, set(won))])
        return won

    def record_events(self, conn: Connection, events: Sequence[dict[str, Any]]) -> None:
        """Claim history rows (`session_rows.claim_event_row`)."""
        self._event_rows.insert(conn, events)


def taken_claims(claims: Sequence[RecordingClaim], won_keys: set[str]) -> list[RecordingClaim]:
    """The claims whose key was inserted, each key once (its first occurrence; consumed from `won_keys`)."""
    taken = []
    for claim in claims:
        if claim.key in won_keys:
            won_keys.discard(claim.key)
            taken.append(claim)
    return taken
