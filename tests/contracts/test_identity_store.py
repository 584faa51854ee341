"""The IdentityStore contract, on memory, SQLite and PostgreSQL: people, keys, sessions, sign-in failures."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.adapters.memory.identity import MemoryIdentityStore
from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.identity import SqlIdentityStore
from orchestrator.domain.errors import Conflict
from orchestrator.domain.identity import ApiKey, ConsoleSession, Person, Role
from orchestrator.services.ports import IdentityStore
from tests.conftest import PG_ADMIN_URL

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdentityStore]:
    if request.param == "memory":
        yield MemoryIdentityStore()
        return
    if request.param == "sqlite":
        path = tmp_path / "orchestrator.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        db = SqlDatabase(f"sqlite:///{path}")
        yield SqlIdentityStore(db)
        db.dispose()
        return
    import psycopg

    template: str = request.getfixturevalue("pg_template")
    name = f"orch_contract_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db = SqlDatabase(f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}")
    yield SqlIdentityStore(db)
    db.dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def person(name: str, role: Role = Role.VIEWER) -> Person:
    return Person(name, role, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", T0)


def key(key_id: str, creator: str, at: datetime = T0, role: Role = Role.VIEWER) -> ApiKey:
    return ApiKey(key_id, f"key-{key_id}", role, creator, at, f"digest-{key_id}")


def session(digest: str, who: str, expires: timedelta = timedelta(hours=1)) -> ConsoleSession:
    return ConsoleSession(digest, who, T0, T0, T0 + expires)


def test_people_are_added_once_listed_by_name_and_changed(store: IdentityStore) -> None:
    store.add_person(person("zoe"))
    store.add_person(person("alice", Role.ADMIN))
    with pytest.raises(Conflict):
        store.add_person(person("alice"))
    assert [p.name for p in store.people()] == ["alice", "zoe"]
    assert store.person("alice") == person("alice", Role.ADMIN)
    assert store.person("nobody") is None
    changed = store.update_person("zoe", role=Role.PRODUCER, password_hash="$argon2id$new")
    assert changed is not None and (changed.role, changed.password_hash, changed.disabled) == (
        Role.PRODUCER, "$argon2id$new", False)
    assert store.person("zoe") == changed
    assert store.update_person("nobody", role=Role.ADMIN) is None


def test_sessions_are_found_by_digest_with_their_person(store: IdentityStore) -> None:
    store.add_person(person("alice"))
    store.add_session(session("d1", "alice"))
    found = store.session("d1")
    assert found is not None and found[0] == session("d1", "alice") and found[1].name == "alice"
    assert store.session("other") is None
    moved = ConsoleSession("d1", "alice", T0, T0 + timedelta(minutes=5), T0 + timedelta(hours=2))
    store.touch_session(moved)
    assert store.session("d1") == (moved, person("alice"))
    assert store.end_session("d1") and not store.end_session("d1")
    assert store.session("d1") is None
    with pytest.raises(Conflict):
        store.add_session(session("d2", "nobody"))


def test_expired_sessions_are_forgotten(store: IdentityStore) -> None:
    store.add_person(person("alice"))
    store.add_session(session("short", "alice", timedelta(minutes=1)))
    store.add_session(session("long", "alice", timedelta(hours=1)))
    assert store.end_sessions_before(T0 + timedelta(minutes=2)) == 1
    assert store.session("short") is None and store.session("long") is not None


def test_disabling_a_person_ends_their_sessions_and_removing_revokes_their_keys(store: IdentityStore) -> None:
    for name in ("alice", "bob"):
        store.add_person(person(name, Role.ADMIN))
        store.add_session(session(f"s-{name}", name))
        store.add_key(key(f"k-{name}", name))
    store.update_person("alice", disabled=True)
    assert store.session("s-alice") is None and store.session("s-bob") is not None
    later = T0 + timedelta(minutes=3)
    assert store.remove_person("bob", later)
    assert not store.remove_person("bob", later)
    assert store.session("s-bob") is None and store.person("bob") is None
    revoked = {k.id: k.revoked_at for k in store.api_keys()}
    assert revoked == {"k-alice": None, "k-bob": later}


def test_keys_by_digest_with_their_creator_newest_first_and_revoked_once(store: IdentityStore) -> None:
    store.add_person(person("alice", Role.PRODUCER))
    store.add_key(key("a", "alice", T0))
    store.add_key(key("b", "api-token", T0 + timedelta(seconds=1), Role.ADMIN))
    with pytest.raises(Conflict):
        store.add_key(key("a", "alice"))
    found = store.key_by_digest("digest-a")
    assert found is not None and found[0] == key("a", "alice") and found[1] == person("alice", Role.PRODUCER)
    by_token = store.key_by_digest("digest-b")
    assert by_token is not None and by_token[1] is None
    assert store.key_by_digest("digest-zzz") is None
    assert [k.id for k in store.api_keys()] == ["b", "a"]
    assert [k.id for k in store.api_keys(creator="alice")] == ["a"]
    first = store.revoke_key("a", T0 + timedelta(minutes=1))
    again = store.revoke_key("a", T0 + timedelta(minutes=2))
    assert first is not None and again is not None and again.revoked_at == T0 + timedelta(minutes=1)
    assert store.revoke_key("zzz", T0) is None
    store.key_used("b", T0 + timedelta(minutes=5))
    assert store.api_keys()[0].last_used_at == T0 + timedelta(minutes=5)


def test_sign_in_failures_per_scope_forgotten_after_the_window_and_cleared(store: IdentityStore) -> None:
    scopes = ["name:alice", "address:10.0.0.1"]
    for minute in (0, 1, 2):
        store.add_sign_in_failure(scopes, T0 + timedelta(minutes=minute), T0 - timedelta(minutes=15))
    store.add_sign_in_failure(["name:bob", "address:10.0.0.1"], T0 + timedelta(minutes=3), T0)
    found = store.sign_in_failures([*scopes, "name:bob", "name:carol"], T0 + timedelta(minutes=1))
    assert found["name:alice"] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert len(found["address:10.0.0.1"]) == 3 and found["name:carol"] == []
    store.add_sign_in_failure(scopes, T0 + timedelta(minutes=20), T0 + timedelta(minutes=5))  # forgets the old
    assert store.sign_in_failures(["name:alice"], T0 - timedelta(days=1))["name:alice"] == [
        T0 + timedelta(minutes=20)]
    store.clear_sign_in_failures("name:alice")
    assert store.sign_in_failures(scopes, T0 - timedelta(days=1)) == {
        "name:alice": [], "address:10.0.0.1": [T0 + timedelta(minutes=20)]}
