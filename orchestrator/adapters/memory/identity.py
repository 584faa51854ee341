"""MemoryIdentityStore: people, API keys, console sessions and sign-in failures in memory, as SQL keeps them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from datetime import datetime

from orchestrator.domain.errors import Conflict
from orchestrator.domain.identity import ApiKey, ConsoleSession, Person, Role

from .database import require_aware


class MemoryIdentityStore:
    """The IdentityStore port in memory (one lock; rows are frozen dataclasses)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._people: dict[str, Person] = {}
        self._keys: dict[str, ApiKey] = {}
        self._sessions: dict[str, ConsoleSession] = {}
        self._failures: list[tuple[str, datetime]] = []

    # ---- people

    def add_person(self, person: Person) -> Person:
        require_aware(person.created_at)
        with self._lock:
            if person.name in self._people:
                raise Conflict(f"a person named {person.name!r} already exists")
            self._people[person.name] = person
        return person

    def person(self, name: str) -> Person | None:
        return self._people.get(name)

    def people(self) -> list[Person]:
        return sorted(self._people.values(), key=lambda p: p.name)

    def update_person(self, name: str, *, role: Role | None = None, password_hash: str | None = None,
                      disabled: bool | None = None) -> Person | None:
        with self._lock:
            current = self._people.get(name)
            if current is None:
                return None
            changed = dataclasses.replace(
                current, role=role if role is not None else current.role,
                password_hash=password_hash if password_hash is not None else current.password_hash,
                disabled=disabled if disabled is not None else current.disabled)
            self._people[name] = changed
            if changed.disabled:
                self._drop_sessions_of(name)
            return changed

    def remove_person(self, name: str, now: datetime) -> bool:
        require_aware(now)
        with self._lock:
            if self._people.pop(name, None) is None:
                return False
            self._drop_sessions_of(name)
            for key in list(self._keys.values()):
                if key.creator == name and key.revoked_at is None:
                    self._keys[key.id] = dataclasses.replace(key, revoked_at=now)
            return True

    def _drop_sessions_of(self, name: str) -> None:
        for digest in [d for d, s in self._sessions.items() if s.person == name]:
            del self._sessions[digest]

    # ---- API keys

    def add_key(self, key: ApiKey) -> ApiKey:
        require_aware(key.created_at)
        with self._lock:
            if key.id in self._keys or any(k.digest == key.digest for k in self._keys.values()):
                raise Conflict(f"key {key.id} already exists")
            self._keys[key.id] = key
        return key

    def key_by_digest(self, digest: str) -> tuple[ApiKey, Person | None] | None:
        key = next((k for k in self._keys.values() if k.digest == digest), None)
        return (key, self._people.get(key.creator)) if key else None

    def api_keys(self, *, creator: str | None = None) -> list[ApiKey]:
        found = [k for k in self._keys.values() if creator is None or k.creator == creator]
        return sorted(found, key=lambda k: (k.created_at, k.id), reverse=True)

    def revoke_key(self, key_id: str, now: datetime) -> ApiKey | None:
        require_aware(now)
        with self._lock:
            key = self._keys.get(key_id)
            if key is None:
                return None
            if key.revoked_at is None:
                key = self._keys[key_id] = dataclasses.replace(key, revoked_at=now)
            return key

    def key_used(self, key_id: str, now: datetime) -> None:
        require_aware(now)
        with self._lock:
            if (key := self._keys.get(key_id)) is not None:
                self._keys[key_id] = dataclasses.replace(key, last_used_at=now)

    # ---- console sessions

    def add_session(self, session: ConsoleSession) -> None:
        require_aware(session.created_at, session.seen_at, session.expires_at)
        with self._lock:
            if session.person not in self._people:
                raise Conflict(f"no person named {session.person!r}")
            self._sessions[session.digest] = session

    def session(self, digest: str) -> tuple[ConsoleSession, Person] | None:
        found = self._sessions.get(digest)
        person = self._people.get(found.person) if found else None
        return (found, person) if found and person else None

    def touch_session(self, session: ConsoleSession) -> None:
        require_aware(session.seen_at, session.expires_at)
        with self._lock:
            if session.digest in self._sessions:
                self._sessions[session.digest] = session

    def end_session(self, digest: str) -> bool:
        with self._lock:
            return self._sessions.pop(digest, None) is not None

    def end_sessions_before(self, now: datetime) -> int:
        require_aware(now)
        with self._lock:
            gone = [d for d, s in self._sessions.items() if s.expires_at <= now]
            for digest in gone:
                del self._sessions[digest]
            return len(gone)

    # ---- sign-in failures

    def sign_in_failures(self, scopes: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        require_aware(since)
        found: dict[str, list[datetime]] = {s: [] for s in scopes}
        for scope, at in list(self._failures):
            if scope in found and at >= since:
                found[scope].append(at)
        return {s: sorted(v) for s, v in found.items()}

    def add_sign_in_failure(self, scopes: Sequence[str], at: datetime, forget_before: datetime) -> None:
        require_aware(at, forget_before)
        with self._lock:
            self._failures = [(s, t) for s, t in self._failures if s not in scopes or t >= forget_before]
            self._failures += [(s, at) for s in scopes]

    def clear_sign_in_failures(self, scope: str) -> None:
        with self._lock:
            self._failures = [(s, t) for s, t in self._failures if s != scope]
