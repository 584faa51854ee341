"""Who is acting: people and API keys, their roles, and what each role may do."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import InvalidInput


class Role(enum.StrEnum):
    """Ordered: each role may do everything the roles before it may."""

    VIEWER = "viewer"  # see everything, play and download recordings
    PRODUCER = "producer"  # + create, edit, start, stop and cancel broadcasts and egresses; delete recordings
    ADMIN = "admin"  # + rules, people, API keys, settings

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what `needed` may."""
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.PRODUCER: 1, Role.ADMIN: 2}


class PrincipalKind(enum.StrEnum):
    PERSON = "person"  # signed in to the console with a name and password
    KEY = "key"  # an API key made by a person
    TOKEN = "token"  # noqa: S105 - ORCHESTRATOR_API_TOKEN, the bootstrap admin key (a kind, not a secret)
    SYSTEM = "system"  # the service itself: schedules, webhooks, sweeps


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request. `name` is what history rows record as the actor."""

    name: str
    role: Role
    kind: PrincipalKind
    owner: str = ""  # the person (or "api-token") behind a key; a person's own name; empty otherwise

    def allows(self, needed: Role) -> bool:
        return self.role.allows(needed)


BOOTSTRAP_TOKEN = Principal("api-token", Role.ADMIN, PrincipalKind.TOKEN)
SYSTEM = Principal("system", Role.ADMIN, PrincipalKind.SYSTEM)


# ---- people, API keys, sessions, sign-in throttling ------------------------------------------------------

NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; this only bounds the work one request can ask for
KEY_PREFIX = "eo_"
_NAME = re.compile(NAME_PATTERN)


def check_name(name: str, field: str = "name") -> str:
    """A person's or key's name: 1-64 letters, digits, '.', '_' or '-'; InvalidInput otherwise."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(field, "1 to 64 letters, digits, '.', '_' or '-'")
    return name


def check_password(password: str, field: str = "password") -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(field, f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(field, f"at most {MAX_PASSWORD} characters")
    return password


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who signs in to the console. `password_hash` is an argon2id hash (never the password)."""

    name: str
    role: Role
    password_hash: str
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key: its secret is shown once, only `digest` (SHA-256 of the secret) is kept.

    `creator` is the person who made it (or "api-token" for the bootstrap token). The key acts with
    `effective_role`: at most its creator's role *now*, so demoting a person demotes their keys, and a
    removed or disabled creator's keys stop working (see `key_principal`)."""

    id: str
    name: str
    role: Role
    creator: str
    created_at: datetime
    digest: str
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def key_principal(key: ApiKey, creator: Person | None) -> Principal | None:
    """Who a request with this key acts as, or None when the key may not be used (revoked, or its creator
    is gone or disabled). The bootstrap token's keys keep their role."""
    if key.revoked:
        return None
    if key.creator == BOOTSTRAP_TOKEN.name and creator is None:
        return Principal(key.name, key.role, PrincipalKind.KEY, owner=key.creator)
    if creator is None or creator.disabled:
        return None
    role = key.role if creator.role.allows(key.role) else creator.role
    return Principal(key.name, role, PrincipalKind.KEY, owner=key.creator)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=12)  # signed out after this long without a request
    absolute: timedelta = timedelta(days=7)  # and after this long in any case
    touch_every: timedelta = timedelta(minutes=1)  # the idle deadline is moved at most this often (one write)


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in browser. `digest` is the SHA-256 of the cookie's value (the value itself is never stored)."""

    digest: str
    person: str
    created_at: datetime
    seen_at: datetime
    expires_at: datetime  # min(seen_at + idle, created_at + absolute)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def touched(self, now: datetime, policy: SessionPolicy) -> ConsoleSession | None:
        """The session moved forward to `now`, or None when it need not be written yet."""
        if now - self.seen_at < policy.touch_every:
            return None
        until = min(now + policy.idle, self.created_at + policy.absolute)
        return ConsoleSession(self.digest, self.person, self.created_at, now, until)


def new_session_expiry(now: datetime, policy: SessionPolicy) -> datetime:
    return now + min(policy.idle, policy.absolute)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Sign-in failures: after `free` failures within `window` (per name, and per address), each further
    attempt waits `base` doubled per extra failure, at most `longest`."""

    free: int = 5
    window: timedelta = timedelta(minutes=15)
    base: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(minutes=15)


def retry_at(failures: Sequence[datetime], now: datetime, policy: ThrottlePolicy) -> datetime | None:
    """When sign-in may be tried again after these failures (of one name or one address), or None: now."""
    recent = sorted(f for f in failures if now - f < policy.window)
    if len(recent) < policy.free:
        return None
    extra = len(recent) - policy.free
    wait = min(policy.base * (2 ** min(extra, 20)), policy.longest)
    until = recent[-1] + wait
    return until if until > now else None
