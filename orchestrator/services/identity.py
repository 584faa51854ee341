"""People, API keys and console sessions: who may sign in or call the API, and as whom."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from orchestrator.domain.errors import InvalidInput, NotFound
from orchestrator.domain.identity import (
    BOOTSTRAP_TOKEN,
    KEY_PREFIX,
    SYSTEM,
    ApiKey,
    ConsoleSession,
    Person,
    Principal,
    PrincipalKind,
    Role,
    SessionPolicy,
    ThrottlePolicy,
    check_name,
    check_password,
    key_principal,
    new_session_expiry,
)

from .ports import IdentityStore
from .signin import SignInRefused, SignInThrottle, SignInThrottled
from .threads import in_thread

__all__ = ["IdentityService", "SignInRefused", "SignInThrottled", "digest"]

P = ParamSpec("P")
R = TypeVar("R")

RESERVED = frozenset({BOOTSTRAP_TOKEN.name, SYSTEM.name})
# A key's lookup is cached this long in each replica: a revoked key stops working everywhere within it.
KEY_CACHE_S = 2.0
KEY_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key and replica
# argon2id with argon2-cffi's defaults takes 64 MiB and ~50 ms of CPU per hash: at most this many at once per
# replica, so that a burst of sign-ins cannot take the worker threads' memory (40 x 64 MiB) or all their time.
ARGON2_AT_ONCE = 4


def digest(secret: str) -> str:
    """SHA-256 of a session cookie or API key. Both are 32 random bytes (256 bits): a fast hash is enough
    to make a stolen database useless, where argon2 on every request would cost ~50 ms of CPU each."""
    return hashlib.sha256(secret.encode()).hexdigest()


class IdentityService:
    """Adds and changes people, makes and revokes API keys, signs people in and out, and says who a request's
    key or session belongs to."""

    def __init__(self, store: IdentityStore, clock: Callable[[], datetime], *,
                 sessions: SessionPolicy = SessionPolicy(), throttle: ThrottlePolicy = ThrottlePolicy(),
                 hasher: PasswordHasher | None = None) -> None:
        self._store = store
        self._clock = clock
        self.sessions = sessions
        self._hasher = hasher or PasswordHasher()  # argon2id, argon2-cffi's recommended parameters
        self._throttle = SignInThrottle(store, clock, throttle)
        self._dummy_hash = ""
        self._argon2_slots = asyncio.Semaphore(ARGON2_AT_ONCE)
        self._keys: dict[str, tuple[Principal | None, str, datetime]] = {}  # digest -> (who, key id, read at)
        self._key_written: dict[str, datetime] = {}

    # ---- people

    async def add_person(self, name: str, role: Role, password: str) -> Person:
        check_name(name)
        if name in RESERVED:
            raise InvalidInput("name", f"{name!r} is reserved")
        check_password(password)
        hashed = await self._argon2(self._hasher.hash, password)
        return await in_thread(self._store.add_person, Person(name, role, hashed, self._clock()))

    async def people(self) -> list[Person]:
        return await in_thread(self._store.people)

    async def person(self, name: str) -> Person:
        found = await in_thread(self._store.person, name)
        if found is None:
            raise NotFound(f"no person named {name!r}")
        return found

    async def change_person(self, name: str, *, role: Role | None = None, password: str | None = None,
                            disabled: bool | None = None) -> Person:
        """Change a person's role, password or disabled flag; disabling signs them out everywhere at once."""
        hashed = None
        if password is not None:
            check_password(password)
            hashed = await self._argon2(self._hasher.hash, password)
        changed = await in_thread(self._store.update_person, name, role=role, password_hash=hashed,
                                  disabled=disabled)
        if changed is None:
            raise NotFound(f"no person named {name!r}")
        return changed

    async def remove_person(self, name: str) -> None:
        """Remove a person: their sessions end and the keys they made are revoked."""
        if not await in_thread(self._store.remove_person, name, self._clock()):
            raise NotFound(f"no person named {name!r}")

    # ---- API keys

    async def create_key(self, who: Principal, name: str, role: Role) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once; only its digest is kept). Its role is at most the caller's;
        a key made with a key belongs to that key's creator."""
        check_name(name)
        if not who.allows(role):
            raise InvalidInput("role", f"a key's role is at most its creator's: {who.name} is {who.role.value}")
        creator = BOOTSTRAP_TOKEN.name if who.kind is PrincipalKind.TOKEN else who.owner or who.name
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(uuid.uuid4().hex, name, role, creator, self._clock(), digest(secret))
        return await in_thread(self._store.add_key, key), secret

    async def keys(self, who: Principal) -> list[ApiKey]:
        """Every key for an admin; one's own otherwise."""
        return await in_thread(self._store.api_keys, creator=None if who.allows(Role.ADMIN) else self._owner(who))

    async def revoke_key(self, who: Principal, key_id: str) -> ApiKey:
        """Revoke a key (admins: any; others: their own). Every replica refuses it within KEY_CACHE_S."""
        mine = [k for k in await self.keys(who) if k.id == key_id]
        if not mine:
            raise NotFound(f"no key {key_id}")
        revoked = await in_thread(self._store.revoke_key, key_id, self._clock())
        if revoked is None:
            raise NotFound(f"no key {key_id}")
        self._keys = {d: v for d, v in self._keys.items() if v[1] != key_id}
        return revoked

    async def key_caller(self, secret: str) -> Principal | None:
        """Who a request bearing this API key acts as, or None (unknown, revoked, creator gone). One indexed
        read per key per KEY_CACHE_S in this replica, so each replica sees a revocation within that time."""
        now = self._clock()
        key_digest = digest(secret)
        cached = self._keys.get(key_digest)
        if cached is not None and (now - cached[2]).total_seconds() < KEY_CACHE_S:
            return cached[0]
        found = await in_thread(self._store.key_by_digest, key_digest)
        who = key_principal(*found) if found else None
        if len(self._keys) > 10_000:  # random keys tried by someone: forget, rather than grow
            self._keys.clear()
        self._keys[key_digest] = (who, found[0].id if found else "", now)
        if found and who is not None:
            last = self._key_written.get(found[0].id)
            if last is None or now - last >= KEY_USED_EVERY:
                self._key_written[found[0].id] = now
                await in_thread(self._store.key_used, found[0].id, now)
        return who

    async def _argon2(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        async with self._argon2_slots:
            return await in_thread(call, *args, **kwargs)

    @staticmethod
    def _owner(who: Principal) -> str:
        return BOOTSTRAP_TOKEN.name if who.kind is PrincipalKind.TOKEN else who.owner or who.name

    # ---- sign-in and console sessions

    async def sign_in(self, name: str, password: str, address: str) -> tuple[str, Person]:
        """A new session's cookie value and its person. SignInThrottled when this name or address failed too
        often lately; SignInRefused (the same for an unknown name, a wrong password or a disabled person)."""
        async with self._throttle.attempt(name, address):
            await self._throttle.check(name, address)
            person = await in_thread(self._store.person, name) if len(name) <= 64 else None
            if not await self._argon2(self._verify, person, password):
                await self._throttle.failed(name, address)
                raise SignInRefused("wrong name or password")
            assert person is not None
            await self._throttle.succeeded(name)
        if self._hasher.check_needs_rehash(person.password_hash):
            rehashed = await self._argon2(self._hasher.hash, password)
            await in_thread(self._store.update_person, name, password_hash=rehashed)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(digest(token), name, now, now, new_session_expiry(now, self.sessions))
        await in_thread(self._store.add_session, session)
        await in_thread(self._store.end_sessions_before, now)  # expired sessions go as new ones come (indexed)
        return token, person

    def _verify(self, person: Person | None, password: str) -> bool:
        if person is None or person.disabled:
            # The same work as a real check, so that timing does not tell which names exist.
            if not self._dummy_hash:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._hasher.verify(self._dummy_hash, password)
            return False
        try:
            return self._hasher.verify(person.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def session_caller(self, token: str) -> Principal | None:
        """The person a console session cookie belongs to, or None (unknown, expired, person disabled)."""
        now = self._clock()
        found = await in_thread(self._store.session, digest(token))
        if found is None:
            return None
        session, person = found
        if session.expired(now) or person.disabled:
            return None
        if (moved := session.touched(now, self.sessions)) is not None:
            await in_thread(self._store.touch_session, moved)
        return Principal(person.name, person.role, PrincipalKind.PERSON, owner=person.name)

    async def sign_out(self, token: str) -> None:
        await in_thread(self._store.end_session, digest(token))
