"""IdentityService on the in-memory store and a fake clock: people, keys, sessions and sign-in throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from orchestrator.adapters.memory.clock import FakeClock
from orchestrator.adapters.memory.identity import MemoryIdentityStore
from orchestrator.domain.errors import Conflict, InvalidInput, NotFound
from orchestrator.domain.identity import BOOTSTRAP_TOKEN, Principal, PrincipalKind, Role, SessionPolicy
from orchestrator.services.identity import IdentityService, SignInRefused, SignInThrottled, digest

PASSWORD = "correct horse battery staple"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # argon2id, cheap for tests


def world(hasher: PasswordHasher = FAST) -> tuple[IdentityService, MemoryIdentityStore, FakeClock]:
    store, clock = MemoryIdentityStore(), FakeClock()
    return IdentityService(store, clock, hasher=hasher), store, clock


async def test_a_person_is_stored_with_an_argon2id_hash_never_the_password() -> None:
    service, store, _ = world()
    await service.add_person("alice", Role.PRODUCER, PASSWORD)
    stored = store.person("alice")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


@pytest.mark.parametrize(("name", "password", "field"), [
    ("alice", "short", "password"), ("", PASSWORD, "name"), ("a b", PASSWORD, "name"), ("x" * 65, PASSWORD, "name"),
    ("<img>", PASSWORD, "name"), ("api-token", PASSWORD, "name")])
async def test_bad_names_and_short_passwords_name_their_field(name: str, password: str, field: str) -> None:
    service, _, _ = world()
    with pytest.raises(InvalidInput) as caught:
        await service.add_person(name, Role.VIEWER, password)
    assert caught.value.field == field


async def test_a_name_is_taken_once() -> None:
    service, _, _ = world()
    await service.add_person("alice", Role.VIEWER, PASSWORD)
    with pytest.raises(Conflict):
        await service.add_person("alice", Role.ADMIN, PASSWORD)


async def test_unknown_name_and_wrong_password_get_the_same_refusal() -> None:
    service, _, _ = world()
    await service.add_person("alice", Role.VIEWER, PASSWORD)
    with pytest.raises(SignInRefused) as wrong:
        await service.sign_in("alice", "not the password!", "10.0.0.1")
    with pytest.raises(SignInRefused) as unknown:
        await service.sign_in("bob", PASSWORD, "10.0.0.1")
    assert str(wrong.value) == str(unknown.value)


async def test_sign_in_gives_a_session_stored_only_by_digest() -> None:
    service, store, _ = world()
    await service.add_person("alice", Role.PRODUCER, PASSWORD)
    token, person = await service.sign_in("alice", PASSWORD, "10.0.0.1")
    assert person.name == "alice"
    assert store.session(token) is None  # not stored as given
    assert store.session(digest(token)) is not None
    assert await service.session_caller(token) == Principal("alice", Role.PRODUCER, PrincipalKind.PERSON, "alice")
    await service.sign_out(token)
    assert await service.session_caller(token) is None


async def test_a_session_expires_when_idle_and_at_its_absolute_limit() -> None:
    store, clock = MemoryIdentityStore(), FakeClock()
    service = IdentityService(store, clock, hasher=FAST,
                              sessions=SessionPolicy(idle=timedelta(hours=1), absolute=timedelta(hours=3)))
    await service.add_person("alice", Role.VIEWER, PASSWORD)
    token, _ = await service.sign_in("alice", PASSWORD, "a")
    alive = []
    for _ in range(4):  # used every 50 minutes: kept alive by use, until the absolute limit (3 h)
        clock.advance(50 * 60)
        alive.append(await service.session_caller(token) is not None)
    assert alive == [True, True, True, False]
    idle_token, _ = await service.sign_in("alice", PASSWORD, "a")
    clock.advance(61 * 60)
    assert await service.session_caller(idle_token) is None


async def test_disabling_or_removing_a_person_ends_their_sessions_at_once() -> None:
    service, _, _ = world()
    await service.add_person("alice", Role.ADMIN, PASSWORD)
    await service.add_person("bob", Role.ADMIN, PASSWORD)
    alice, _ = await service.sign_in("alice", PASSWORD, "a")
    bob, _ = await service.sign_in("bob", PASSWORD, "a")
    await service.change_person("alice", disabled=True)
    assert await service.session_caller(alice) is None
    with pytest.raises(SignInRefused):
        await service.sign_in("alice", PASSWORD, "a")
    await service.remove_person("bob")
    assert await service.session_caller(bob) is None
    with pytest.raises(NotFound):
        await service.remove_person("bob")


async def test_a_password_hashed_with_old_parameters_is_rehashed_on_sign_in() -> None:
    store, clock = MemoryIdentityStore(), FakeClock()
    await IdentityService(store, clock, hasher=FAST).add_person("alice", Role.VIEWER, PASSWORD)
    old = store.person("alice")
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    await IdentityService(store, clock, hasher=stronger).sign_in("alice", PASSWORD, "a")
    new = store.person("alice")
    assert old is not None and new is not None
    assert new.password_hash != old.password_hash
    assert "m=2048,t=2" in new.password_hash
    assert not stronger.check_needs_rehash(new.password_hash)


async def test_failures_throttle_the_name_with_a_growing_delay_and_success_resets_it() -> None:
    service, _, clock = world()
    await service.add_person("alice", Role.VIEWER, PASSWORD)
    for i in range(5):
        with pytest.raises(SignInRefused):
            await service.sign_in("alice", f"wrong password {i}", f"10.0.0.{i}")  # other addresses each time
    with pytest.raises(SignInThrottled) as first:
        await service.sign_in("alice", PASSWORD, "10.0.1.1")  # even the right password waits
    assert first.value.seconds == 30
    clock.advance(31)
    with pytest.raises(SignInRefused):
        await service.sign_in("alice", "wrong again!!", "10.0.1.1")
    with pytest.raises(SignInThrottled) as second:
        await service.sign_in("alice", PASSWORD, "10.0.1.1")
    assert second.value.seconds == 60
    clock.advance(61)
    await service.sign_in("alice", PASSWORD, "10.0.1.1")
    with pytest.raises(SignInRefused):  # the name's count started again
        await service.sign_in("alice", "wrong once more", "10.0.2.1")
    await service.sign_in("alice", PASSWORD, "10.0.2.1")


async def test_failures_throttle_an_address_trying_many_names() -> None:
    service, _, clock = world()
    await service.add_person("alice", Role.VIEWER, PASSWORD)
    for i in range(5):
        with pytest.raises(SignInRefused):
            await service.sign_in(f"guess{i}", PASSWORD, "203.0.113.9")
    with pytest.raises(SignInThrottled):
        await service.sign_in("alice", PASSWORD, "203.0.113.9")
    await service.sign_in("alice", PASSWORD, "198.51.100.1")  # another address is not held back
    clock.advance(15 * 60)
    await service.sign_in("alice", PASSWORD, "203.0.113.9")  # the window passed


async def test_a_key_is_stored_hashed_and_acts_with_its_role() -> None:
    service, store, _ = world()
    key, secret = await service.create_key(BOOTSTRAP_TOKEN, "ci", Role.PRODUCER)
    assert secret.startswith("eo_") and len(secret) > 40
    assert key.digest == digest(secret) and secret not in repr(store.api_keys())
    who = await service.key_caller(secret)
    assert who == Principal("ci", Role.PRODUCER, PrincipalKind.KEY, "api-token")
    assert await service.key_caller("eo_not-a-key") is None


async def test_a_key_role_is_at_most_its_creator() -> None:
    service, _, _ = world()
    viewer = Principal("vera", Role.VIEWER, PrincipalKind.PERSON, "vera")
    with pytest.raises(InvalidInput) as caught:
        await service.create_key(viewer, "mine", Role.PRODUCER)
    assert caught.value.field == "role"
    await service.add_person("vera", Role.VIEWER, PASSWORD)
    _, secret = await service.create_key(viewer, "mine", Role.VIEWER)
    as_key = await service.key_caller(secret)
    assert as_key is not None
    with pytest.raises(InvalidInput):  # nor through one of its keys
        await service.create_key(as_key, "more", Role.PRODUCER)
    _, second = await service.create_key(as_key, "more", Role.VIEWER)
    assert [k.creator for k in await service.keys(viewer)] == ["vera", "vera"]  # owned by vera, not by the key
    assert (await service.key_caller(second)) is not None


async def test_keys_follow_their_creator_demoted_disabled_or_removed() -> None:
    service, _, clock = world()
    await service.add_person("alice", Role.ADMIN, PASSWORD)
    alice = Principal("alice", Role.ADMIN, PrincipalKind.PERSON, "alice")
    _, secret = await service.create_key(alice, "deploy", Role.ADMIN)
    await service.change_person("alice", role=Role.PRODUCER)
    clock.advance(3)  # past the key cache
    who = await service.key_caller(secret)
    assert who is not None and who.role is Role.PRODUCER  # capped at the creator's role now
    await service.change_person("alice", disabled=True)
    clock.advance(3)
    assert await service.key_caller(secret) is None
    await service.change_person("alice", disabled=False)
    clock.advance(3)
    assert await service.key_caller(secret) is not None
    await service.remove_person("alice")
    clock.advance(3)
    assert await service.key_caller(secret) is None
    assert all(k.revoked for k in await service.keys(BOOTSTRAP_TOKEN))


async def test_a_revoked_key_is_refused_at_once_here_and_within_two_seconds_elsewhere() -> None:
    store, clock = MemoryIdentityStore(), FakeClock()
    here, there = IdentityService(store, clock, hasher=FAST), IdentityService(store, clock, hasher=FAST)
    key, secret = await here.create_key(BOOTSTRAP_TOKEN, "ci", Role.VIEWER)
    assert await here.key_caller(secret) is not None
    assert await there.key_caller(secret) is not None  # cached by the other replica
    await here.revoke_key(BOOTSTRAP_TOKEN, key.id)
    assert await here.key_caller(secret) is None
    clock.advance(2)
    assert await there.key_caller(secret) is None


async def test_only_admins_see_and_revoke_every_key() -> None:
    service, _, _ = world()
    await service.add_person("vera", Role.VIEWER, PASSWORD)
    vera = Principal("vera", Role.VIEWER, PrincipalKind.PERSON, "vera")
    admin_key, _ = await service.create_key(BOOTSTRAP_TOKEN, "ops", Role.ADMIN)
    vera_key, _ = await service.create_key(vera, "mine", Role.VIEWER)
    assert [k.id for k in await service.keys(vera)] == [vera_key.id]
    assert {k.id for k in await service.keys(BOOTSTRAP_TOKEN)} == {admin_key.id, vera_key.id}
    with pytest.raises(NotFound):
        await service.revoke_key(vera, admin_key.id)
    assert (await service.revoke_key(vera, vera_key.id)).revoked


async def test_last_used_is_written_at_most_once_a_minute() -> None:
    service, store, clock = world()
    _, secret = await service.create_key(BOOTSTRAP_TOKEN, "ci", Role.VIEWER)
    await service.key_caller(secret)
    first = store.api_keys()[0].last_used_at
    assert first == clock()
    clock.advance(30)
    await service.key_caller(secret)
    assert store.api_keys()[0].last_used_at == first
    clock.advance(31)
    await service.key_caller(secret)
    assert store.api_keys()[0].last_used_at == clock()
