"""Who is acting: people and API keys, their roles, and what each role may do."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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

    def allows(self, needed: Role) -> bool:
        return self.role.allows(needed)


BOOTSTRAP_TOKEN = Principal("api-token", Role.ADMIN, PrincipalKind.TOKEN)
SYSTEM = Principal("system", Role.ADMIN, PrincipalKind.SYSTEM)
