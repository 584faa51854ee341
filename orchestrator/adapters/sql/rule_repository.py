"""SqlRuleRepository: recording rules, room sessions and recording claims; claims are unique-key inserts."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from orchestrator.domain.errors import Conflict
from orchestrator.domain.requests import Preset
from orchestrator.domain.rules import (
    ActionKind,
    CompositeAction,
    ParticipantFilter,
    ParticipantKind,
    ParticipantsAction,
    RoomMatch,
    Rule,
    RuleMatch,
    TracksAction,
)
from orchestrator.domain.sessions import RETRYABLE, ClaimState, RecordingClaim, RoomSession, SessionSource

from .bulk import NewRows
from .rule_tables import record_rules, recording_claims, room_requests, room_sessions

_OPEN_SESSION = select(room_sessions).where(room_sessions.c.room_sid == bindparam("sid"))
_ANY_ROOM_REQUEST = select(room_requests.c.room_name).limit(1)
_CLAIM_BY_KEY = select(recording_claims).where(recording_claims.c.key == bindparam("key"))
_BIND_CLAIM = update(recording_claims).where(
    recording_claims.c.key == bindparam("k"), recording_claims.c.state != ClaimState.CANCELLED.value).values(
    state=ClaimState.STARTED.value, egress_pk=bindparam("pk"), error="", retry_at=None, updated_at=bindparam("now"))
# The session ended while the start call was out: keep the claim cancelled, but say which egress it made.
_BIND_CANCELLED = update(recording_claims).where(
    recording_claims.c.key == bindparam("k"), recording_claims.c.state == ClaimState.CANCELLED.value).values(
    egress_pk=bindparam("pk"), error="the room ended while its start call was out; stopped",
    updated_at=bindparam("now"))


class SqlRuleRepository:
    """Rules, room sessions and recording claims on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, write_lock: contextlib.AbstractContextManager[Any] | None = None) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        # SQLite has one writer: share the ledger's lock so writers queue here, not in SQLite's busy loop.
        self._write_lock: contextlib.AbstractContextManager[Any] = write_lock or (
            threading.Lock() if dialect == "sqlite" else contextlib.nullcontext())
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # Batches of rows: straight to the driver's executemany on SQLite (see bulk.py).
        self._session_rows = NewRows(room_sessions, engine.dialect, key="room_sid")
        self._claim_rows = NewRows(recording_claims, engine.dialect, key="key")
        self._upsert_request = dialect_insert(room_requests)
        self._upsert_request = self._upsert_request.on_conflict_do_update(
            index_elements=["room_name"], set_={"rule_id": self._upsert_request.excluded.rule_id,
                                                "created_at": self._upsert_request.excluded.created_at})

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self._engine.begin() as conn:
            yield conn

    def transaction(self) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction to pass as `tx` (to this repository and the ledger's)."""
        return self._write()

    # ---- rules -------------------------------------------------------------------------------

    def create_rule(self, rule: Rule) -> Rule:
        try:
            with self._write() as conn:
                conn.execute(insert(record_rules), _rule_columns(rule, version=1))
        except IntegrityError:
            raise Conflict(f"a rule named {rule.name!r} already exists") from None
        return rule

    def get_rule(self, ref: str) -> Rule | None:
        """By id or by name."""
        with self._engine.connect() as conn:
            row = conn.execute(select(record_rules).where(
                (record_rules.c.id == ref) | (record_rules.c.name == ref))).first()
        return _rule(row) if row else None

    def list_rules(self, *, enabled_only: bool = False, tx: Connection | None = None) -> list[Rule]:
        """By priority; with `tx`, read in that transaction."""
        query = select(record_rules)
        if enabled_only:
            query = query.where(record_rules.c.enabled.is_(True))
        query = query.order_by(record_rules.c.priority.desc(), record_rules.c.name)
        if tx is not None:
            return [_rule(r) for r in tx.execute(query).all()]
        with self._engine.connect() as conn:
            return [_rule(r) for r in conn.execute(query).all()]

    def update_rule(self, rule: Rule) -> Rule:
        try:
            with self._write() as conn:
                values = _rule_columns(rule, version=0)
                values.pop("created_at")
                values.pop("version")
                done = conn.execute(update(record_rules).where(record_rules.c.id == rule.id).values(
                    **values, version=record_rules.c.version + 1)).rowcount
        except IntegrityError:
            raise Conflict(f"a rule named {rule.name!r} already exists") from None
        if not done:
            raise Conflict(f"rule {rule.id} was deleted meanwhile")
        return rule

    def delete_rule(self, rule_id: str) -> bool:
        with self._write() as conn:
            return bool(conn.execute(delete(record_rules).where(record_rules.c.id == rule_id)).rowcount)

    # ---- sessions and claims -----------------------------------------------------------------

    def open_session(
        self, session: RoomSession, claims: list[RecordingClaim], expected_since: datetime | None = None
    ) -> tuple[RoomSession, bool, list[RecordingClaim]]:
        """In one transaction: the session if new, and every claim nobody holds yet (none once it ended).

        With `expected_since`, a pending POST /v1/rooms for this room name (made since then) is consumed
        and its rule's composite claim becomes DELEGATED: LiveKit's auto egress records it, not us.
        Returns the stored session, whether this call created it, and the claims this call won.
        """
        return self.open_sessions([(session, claims, expected_since)])[0]

    def open_sessions(
        self, items: list[tuple[RoomSession, list[RecordingClaim], datetime | None]], tx: Connection | None = None
    ) -> list[tuple[RoomSession, bool, list[RecordingClaim]]]:
        """`open_session` for many rooms at once: one insert for the sessions, one for the claims.

        With `tx`, inside that transaction (the one storing the webhooks that announced the rooms).
        A room or claim given twice is created and won by its first occurrence only.
        """
        if tx is None:
            with self._write() as conn:
                return self._open_sessions(conn, items)
        return self._open_sessions(tx, items)

    def _open_sessions(
        self, conn: Connection, items: list[tuple[RoomSession, list[RecordingClaim], datetime | None]]
    ) -> list[tuple[RoomSession, bool, list[RecordingClaim]]]:
        if not items:
            return []
        rows = [_session_columns(s) for s, _, _ in items]
        inserted = self._session_rows.insert_new(conn, rows)
        existing = {s.room_sid for s, _, _ in items} - inserted
        stored = {row.room_sid: _session(row) for row in conn.execute(
            select(room_sessions).where(room_sessions.c.room_sid.in_(existing)))} if existing else {}
        opened: list[tuple[RoomSession, bool, list[RecordingClaim]]] = []
        for session, claims, _ in items:
            created = session.room_sid in inserted
            inserted.discard(session.room_sid)  # a second notice of the same room in this batch did not create it
            stored.setdefault(session.room_sid, session)
            opened.append((stored[session.room_sid], created, claims))
        # A composite POST /v1/rooms asked LiveKit to start itself becomes DELEGATED (once, for a new session).
        expecting = {s.room_name: since for (s, created, _), (_, _, since) in zip(opened, items, strict=True)
                     if created and since is not None}
        if expecting and conn.execute(_ANY_ROOM_REQUEST).first() is not None:  # mostly none: one cheap read
            requests = conn.execute(delete(room_requests).where(room_requests.c.room_name.in_(expecting))
                                    .returning(room_requests.c.room_name, room_requests.c.rule_id,
                                               room_requests.c.created_at)).all()
            delegated = {r.room_name: r.rule_id for r in requests if r.created_at >= expecting[r.room_name]}
            opened = [(s, created, [dataclasses.replace(c, state=ClaimState.DELEGATED, retry_at=None, egress_pk=None)
                                    if created and delegated.get(s.room_name) == c.rule_id
                                    and c.action == ActionKind.COMPOSITE else c for c in claims])
                      for s, created, claims in opened]
        wanted = [c for s, _, claims in opened if s.ended_at is None for c in claims]
        won_keys = self._insert_claims(conn, wanted)
        return [(s, created, _taken(claims, won_keys) if s.ended_at is None else []) for s, created, claims in opened]

    def claim(self, room_sid: str, claims: list[RecordingClaim]) -> list[RecordingClaim]:
        """Insert the claims nobody holds yet, unless the session has ended; returns the ones won."""
        with self._write() as conn:
            row = conn.execute(_OPEN_SESSION, {"sid": room_sid}).first()
            if row is None or row.ended_at is not None:
                return []
            return _taken(claims, self._insert_claims(conn, claims))

    def _insert_claims(self, conn: Connection, claims: list[RecordingClaim]) -> set[str]:
        """The keys of the claims inserted now (nobody held them), in one statement."""
        if not claims:
            return set()
        return self._claim_rows.insert_new(conn, [_claim_columns(c) for c in claims])

    def bind_claim(self, key: str, egress_pk: str, now: datetime) -> bool:
        return self.bind_claims([(key, egress_pk, now)])[0]

    def bind_claims(self, items: list[tuple[str, str, datetime]]) -> list[bool]:
        """Claims whose egress started: (key, egress row id, now) each, in one transaction.

        Each answer is False when the claim's session ended (and cancelled it) while the start call was out:
        the caller must stop that egress, since close_session could not see it.
        """
        params = [{"k": key, "pk": pk, "now": now} for key, pk, now in items]
        with self._write() as conn:
            conn.execute(_BIND_CLAIM, params)
            conn.execute(_BIND_CANCELLED, params)
            cancelled = {row.key for row in conn.execute(select(recording_claims.c.key).where(
                recording_claims.c.key.in_([key for key, _, _ in items]),
                recording_claims.c.state == ClaimState.CANCELLED.value))}
        return [key not in cancelled for key, _, _ in items]

    def fail_claim(self, key: str, error: str, retry_at: datetime | None, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(update(recording_claims).where(
                recording_claims.c.key == key,
                recording_claims.c.state.in_([s.value for s in RETRYABLE])).values(
                state=ClaimState.FAILED.value, error=error[:2000], retry_at=retry_at, updated_at=now))

    def take_for_retry(self, key: str, now: datetime, lease_until: datetime) -> RecordingClaim | None:
        """Guarded: only one replica takes a due claim, and only while its session is open."""
        with self._write() as conn:
            row = conn.execute(
                update(recording_claims)
                .where(recording_claims.c.key == key,
                       recording_claims.c.state.in_([s.value for s in RETRYABLE]),
                       recording_claims.c.retry_at <= now)
                .values(state=ClaimState.CLAIMED.value, retry_at=lease_until,
                        attempts=recording_claims.c.attempts + 1, updated_at=now)
                .returning(*recording_claims.c)).first()
            if row is None:
                return None
            session = conn.execute(_OPEN_SESSION, {"sid": row.room_sid}).first()
            if session is None or session.ended_at is not None:
                conn.execute(update(recording_claims).where(recording_claims.c.key == key).values(
                    state=ClaimState.CANCELLED.value, retry_at=None))
                return None
        return _claim(row)

    def due_claims(self, now: datetime, limit: int = 200) -> list[RecordingClaim]:
        query = (select(recording_claims)
                 .where(recording_claims.c.state.in_([s.value for s in RETRYABLE]),
                        recording_claims.c.retry_at <= now)
                 .order_by(recording_claims.c.retry_at).limit(limit))
        with self._engine.connect() as conn:
            return [_claim(r) for r in conn.execute(query).all()]

    def get_claim(self, key: str) -> RecordingClaim | None:
        with self._engine.connect() as conn:
            row = conn.execute(_CLAIM_BY_KEY, {"key": key}).first()
        return _claim(row) if row else None

    def claim_of_egress(self, egress_pk: str) -> RecordingClaim | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(recording_claims).where(recording_claims.c.egress_pk == egress_pk)).first()
        return _claim(row) if row else None

    def bind_delegated(self, room_sid: str, egress_pk: str, now: datetime) -> RecordingClaim | None:
        """The composite LiveKit started itself (CreateRoom auto egress) takes its place in the session."""
        with self._write() as conn:
            row = conn.execute(
                update(recording_claims)
                .where(recording_claims.c.room_sid == room_sid,
                       recording_claims.c.state == ClaimState.DELEGATED.value,
                       recording_claims.c.egress_pk.is_(None))
                .values(state=ClaimState.STARTED.value, egress_pk=egress_pk, updated_at=now)
                .returning(*recording_claims.c)).first()
        return _claim(row) if row else None

    def close_session(self, room_sid: str, now: datetime) -> tuple[bool, list[RecordingClaim]]:
        """End the session once; claims not started are cancelled. Returns (closed now, started claims)."""
        with self._write() as conn:
            closed = conn.execute(update(room_sessions).where(
                room_sessions.c.room_sid == room_sid, room_sessions.c.ended_at.is_(None)).values(
                ended_at=now)).rowcount
            conn.execute(update(recording_claims).where(
                recording_claims.c.room_sid == room_sid,
                recording_claims.c.state.in_([*[s.value for s in RETRYABLE], ClaimState.DELEGATED.value]),
            ).values(state=ClaimState.CANCELLED.value, retry_at=None, updated_at=now))
            rows = conn.execute(select(recording_claims).where(
                recording_claims.c.room_sid == room_sid, recording_claims.c.egress_pk.is_not(None))).all()
        return bool(closed), [_claim(r) for r in rows]

    def get_session(self, room_sid: str) -> RoomSession | None:
        with self._engine.connect() as conn:
            row = conn.execute(_OPEN_SESSION, {"sid": room_sid}).first()
        return _session(row) if row else None

    def sessions(self, *, room_name: str | None = None, open_only: bool = False,
                 limit: int = 100) -> list[RoomSession]:
        query = select(room_sessions)
        if room_name:
            query = query.where(room_sessions.c.room_name == room_name)
        if open_only:
            query = query.where(room_sessions.c.ended_at.is_(None))
        query = query.order_by(room_sessions.c.started_at.desc(), room_sessions.c.room_sid).limit(limit)
        with self._engine.connect() as conn:
            return [_session(r) for r in conn.execute(query).all()]

    def claims_of(self, room_sids: list[str]) -> list[RecordingClaim]:
        if not room_sids:
            return []
        query = select(recording_claims).where(recording_claims.c.room_sid.in_(room_sids)).order_by(
            recording_claims.c.room_sid, recording_claims.c.rule_id, recording_claims.c.action,
            recording_claims.c.subject, recording_claims.c.part)
        with self._engine.connect() as conn:
            return [_claim(r) for r in conn.execute(query).all()]

    def running_composites(self) -> list[RecordingClaim]:
        """The newest started part of every composite of every open session."""
        query = (select(recording_claims)
                 .join(room_sessions, room_sessions.c.room_sid == recording_claims.c.room_sid)
                 .where(room_sessions.c.ended_at.is_(None),
                        recording_claims.c.action == ActionKind.COMPOSITE.value)
                 .order_by(recording_claims.c.part))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        newest: dict[tuple[str, str], RecordingClaim] = {}
        for row in rows:
            claim = _claim(row)
            newest[(claim.room_sid, claim.rule_id)] = claim
        return [c for c in newest.values() if c.state == ClaimState.STARTED]

    # ---- CreateRoom requests -----------------------------------------------------------------

    def expect_room(self, room_name: str, rule_id: str, now: datetime) -> None:
        """POST /v1/rooms is about to CreateRoom with auto egress for this rule."""
        with self._write() as conn:
            conn.execute(self._upsert_request, {"room_name": room_name, "rule_id": rule_id, "created_at": now})

    def forget_expected_room(self, room_name: str) -> None:
        with self._write() as conn:
            conn.execute(delete(room_requests).where(room_requests.c.room_name == room_name))


def _taken(claims: list[RecordingClaim], won_keys: set[str]) -> list[RecordingClaim]:
    """The claims whose key was inserted, each key once (consumed from `won_keys`)."""
    taken = []
    for claim in claims:
        if claim.key in won_keys:
            won_keys.discard(claim.key)
            taken.append(claim)
    return taken


# ---- rows <-> domain -----------------------------------------------------------------------------------


def rule_spec(rule: Rule) -> dict[str, Any]:
    """The rule's match and actions as JSON."""
    m, f = rule.match, rule.participant_filter
    spec: dict[str, Any] = {
        "match": {"name_glob": m.name_glob, "name_regex": m.name_regex, "metadata": m.metadata},
        "participant_filter": {"include": list(f.include), "exclude": list(f.exclude),
                               "kinds": sorted(k.value for k in f.kinds)},
    }
    if rule.composite:
        c = rule.composite
        spec["composite"] = {"layout": c.layout, "preset": c.preset.value if c.preset else None,
                             "audio_only": c.audio_only, "filepath": c.filepath, "hls_prefix": c.hls_prefix}
    if rule.tracks:
        spec["tracks"] = {"filepath": rule.tracks.filepath}
    if rule.participants:
        p = rule.participants
        spec["participants"] = {"filepath": p.filepath, "preset": p.preset.value if p.preset else None}
    return spec


def rule_from_spec(rule_id: str, name: str, enabled: bool, priority: int, spec: dict[str, Any],
                   created_at: datetime | None = None, updated_at: datetime | None = None) -> Rule:
    m, f = spec.get("match", {}), spec.get("participant_filter", {})
    c, t, p = spec.get("composite"), spec.get("tracks"), spec.get("participants")
    return Rule(
        id=rule_id, name=name, enabled=enabled, priority=priority,
        match=RoomMatch(name_glob=m.get("name_glob", ""), name_regex=m.get("name_regex", ""),
                        metadata=m.get("metadata")),
        composite=CompositeAction(layout=c["layout"], preset=Preset(c["preset"]) if c.get("preset") else None,
                                  audio_only=bool(c.get("audio_only")), filepath=c.get("filepath"),
                                  hls_prefix=c.get("hls_prefix")) if c else None,
        tracks=TracksAction(filepath=t["filepath"]) if t else None,
        participants=ParticipantsAction(filepath=p["filepath"],
                                        preset=Preset(p["preset"]) if p.get("preset") else None) if p else None,
        participant_filter=ParticipantFilter(
            include=tuple(f.get("include", ())), exclude=tuple(f.get("exclude", ())),
            kinds=frozenset(ParticipantKind(k) for k in f.get("kinds", [])) if "kinds" in f
            else ParticipantFilter().kinds),
        created_at=created_at, updated_at=updated_at,
    )


def _rule_columns(rule: Rule, *, version: int) -> dict[str, Any]:
    return {"id": rule.id, "name": rule.name, "enabled": rule.enabled, "priority": rule.priority,
            "spec": rule_spec(rule), "created_at": rule.created_at, "updated_at": rule.updated_at,
            "version": version}


def _rule(row: Row[Any]) -> Rule:
    return rule_from_spec(row.id, row.name, bool(row.enabled), int(row.priority), row.spec, row.created_at,
                          row.updated_at)


def _session_columns(s: RoomSession) -> dict[str, Any]:
    return {"room_sid": s.room_sid, "room_name": s.room_name, "metadata": s.metadata, "source": s.source.value,
            "started_at": s.started_at, "ended_at": s.ended_at,
            "matches": [{"rule_id": m.rule_id, "rule_name": m.rule_name, "reason": m.reason} for m in s.matches]}


def _session(row: Row[Any]) -> RoomSession:
    return RoomSession(
        room_sid=row.room_sid, room_name=row.room_name, metadata=row.metadata,
        source=SessionSource(row.source), started_at=row.started_at, ended_at=row.ended_at,
        matches=tuple(RuleMatch(m["rule_id"], m["rule_name"], m["reason"]) for m in row.matches or []))


def _claim_columns(c: RecordingClaim) -> dict[str, Any]:
    return {"key": c.key, "room_sid": c.room_sid, "room_name": c.room_name, "rule_id": c.rule_id,
            "action": c.action.value, "subject": c.subject, "part": c.part, "state": c.state.value,
            "request": c.request, "attempts": c.attempts, "egress_pk": c.egress_pk, "error": c.error,
            "retry_at": c.retry_at, "created_at": c.created_at, "updated_at": c.updated_at}


def _claim(row: Row[Any]) -> RecordingClaim:
    return RecordingClaim(
        key=row.key, room_sid=row.room_sid, room_name=row.room_name, rule_id=row.rule_id,
        action=ActionKind(row.action), subject=row.subject, part=int(row.part), state=ClaimState(row.state),
        request=dict(row.request or {}), created_at=row.created_at, updated_at=row.updated_at,
        retry_at=row.retry_at, attempts=int(row.attempts), egress_pk=row.egress_pk, error=row.error)
