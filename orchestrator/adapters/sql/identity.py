"""SqlIdentityStore: people, API keys, console sessions and sign-in failures on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.domain.errors import Conflict
from orchestrator.domain.identity import ApiKey, ConsoleSession, Person, Role

from .database import SqlDatabase
from .identity_tables import api_keys, console_sessions, people, sign_in_failures


class SqlIdentityStore:
    """The IdentityStore port. Sessions and keys are found by primary key or unique digest: one indexed read
    per authenticated request."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    # ---- people

    def add_person(self, person: Person) -> Person:
        try:
            with self._db.write() as conn:
                conn.execute(insert(people), {
                    "name": person.name, "role": person.role.value, "password_hash": person.password_hash,
                    "created_at": person.created_at, "disabled": person.disabled})
        except IntegrityError:
            raise Conflict(f"a person named {person.name!r} already exists") from None
        return person

    def person(self, name: str) -> Person | None:
        with self._db.read() as conn:
            row = conn.execute(select(people).where(people.c.name == name)).first()
        return _person(row) if row else None

    def people(self) -> list[Person]:
        with self._db.read() as conn:
            return [_person(r) for r in conn.execute(select(people).order_by(people.c.name)).all()]

    def update_person(self, name: str, *, role: Role | None = None, password_hash: str | None = None,
                      disabled: bool | None = None) -> Person | None:
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = role.value
        if password_hash is not None:
            values["password_hash"] = password_hash
        if disabled is not None:
            values["disabled"] = disabled
        with self._db.write() as conn:
            if values:
                conn.execute(update(people).where(people.c.name == name).values(**values))
            row = conn.execute(select(people).where(people.c.name == name)).first()
            if row is None:
                return None
            if row.disabled:
                conn.execute(delete(console_sessions).where(console_sessions.c.person == name))
        return _person(row)

    def remove_person(self, name: str, now: datetime) -> bool:
        with self._db.write() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.person == name))
            gone = conn.execute(delete(people).where(people.c.name == name)).rowcount
            if gone:
                conn.execute(update(api_keys).where(api_keys.c.creator == name, api_keys.c.revoked_at.is_(None))
                             .values(revoked_at=now))
        return bool(gone)

    # ---- API keys

    def add_key(self, key: ApiKey) -> ApiKey:
        try:
            with self._db.write() as conn:
                conn.execute(insert(api_keys), {
                    "id": key.id, "name": key.name, "role": key.role.value, "creator": key.creator,
                    "digest": key.digest, "created_at": key.created_at, "last_used_at": key.last_used_at,
                    "revoked_at": key.revoked_at})
        except IntegrityError:
            raise Conflict(f"key {key.id} already exists") from None
        return key

    def key_by_digest(self, digest: str) -> tuple[ApiKey, Person | None] | None:
        query = (select(api_keys, people.c.name.label("p_name"), people.c.role.label("p_role"),
                        people.c.password_hash, people.c.created_at.label("p_created_at"), people.c.disabled)
                 .outerjoin(people, people.c.name == api_keys.c.creator).where(api_keys.c.digest == digest))
        with self._db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        creator = Person(row.p_name, Role(row.p_role), row.password_hash, row.p_created_at, row.disabled) \
            if row.p_name is not None else None
        return _key(row), creator

    def api_keys(self, *, creator: str | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())
        if creator is not None:
            query = query.where(api_keys.c.creator == creator)
        with self._db.read() as conn:
            return [_key(r) for r in conn.execute(query).all()]

    def revoke_key(self, key_id: str, now: datetime) -> ApiKey | None:
        with self._db.write() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                         .values(revoked_at=now))
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return _key(row) if row else None

    def key_used(self, key_id: str, now: datetime) -> None:
        with self._db.write() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))

    # ---- console sessions

    def add_session(self, session: ConsoleSession) -> None:
        try:
            with self._db.write() as conn:
                if conn.execute(select(people.c.name).where(people.c.name == session.person)).first() is None:
                    raise Conflict(f"no person named {session.person!r}")
                conn.execute(insert(console_sessions), {
                    "digest": session.digest, "person": session.person, "created_at": session.created_at,
                    "seen_at": session.seen_at, "expires_at": session.expires_at})
        except IntegrityError:
            raise Conflict("that session already exists") from None

    def session(self, digest: str) -> tuple[ConsoleSession, Person] | None:
        query = (select(console_sessions, people.c.role, people.c.password_hash,
                        people.c.created_at.label("p_created_at"), people.c.disabled)
                 .join(people, people.c.name == console_sessions.c.person)
                 .where(console_sessions.c.digest == digest))
        with self._db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return (ConsoleSession(row.digest, row.person, row.created_at, row.seen_at, row.expires_at),
                Person(row.person, Role(row.role), row.password_hash, row.p_created_at, row.disabled))

    def touch_session(self, session: ConsoleSession) -> None:
        with self._db.write() as conn:
            conn.execute(update(console_sessions).where(console_sessions.c.digest == session.digest)
                         .values(seen_at=session.seen_at, expires_at=session.expires_at))

    def end_session(self, digest: str) -> bool:
        with self._db.write() as conn:
            return bool(conn.execute(delete(console_sessions).where(console_sessions.c.digest == digest)).rowcount)

    def end_sessions_before(self, now: datetime) -> int:
        with self._db.write() as conn:
            return int(conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now)).rowcount)

    # ---- sign-in failures

    def sign_in_failures(self, scopes: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        found: dict[str, list[datetime]] = {s: [] for s in scopes}
        query = (select(sign_in_failures.c.scope, sign_in_failures.c.at)
                 .where(sign_in_failures.c.scope.in_(list(scopes)), sign_in_failures.c.at >= since)
                 .order_by(sign_in_failures.c.at))
        with self._db.read() as conn:
            for scope, at in conn.execute(query).all():
                found[scope].append(at)
        return found

    def add_sign_in_failure(self, scopes: Sequence[str], at: datetime, forget_before: datetime) -> None:
        with self._db.write() as conn:
            conn.execute(delete(sign_in_failures).where(sign_in_failures.c.scope.in_(list(scopes)),
                                                        sign_in_failures.c.at < forget_before))
            conn.execute(insert(sign_in_failures), [{"scope": s, "at": at} for s in scopes])

    def clear_sign_in_failures(self, scope: str) -> None:
        with self._db.write() as conn:
            conn.execute(delete(sign_in_failures).where(sign_in_failures.c.scope == scope))


def _person(row: Row[Any]) -> Person:
    return Person(row.name, Role(row.role), row.password_hash, row.created_at, bool(row.disabled))


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(row.id, row.name, Role(row.role), row.creator, row.created_at, row.digest,
                  row.last_used_at, row.revoked_at)
