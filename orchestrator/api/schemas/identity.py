"""Bodies of the identity API: people (`/v1/users`), API keys (`/v1/keys`) and the caller (`/v1/me`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from orchestrator.domain.identity import ApiKey, Person, Principal, Role

from .common import Strict


class PersonIn(Strict):
    name: str = Field(max_length=64, description="1-64 letters, digits, '.', '_' or '-'")
    role: Role
    password: str = Field(max_length=1024, description="at least 12 characters")


class PersonPatch(Strict):
    role: Role | None = None
    password: str | None = Field(None, max_length=1024, description="a new password (at least 12 characters)")
    disabled: bool | None = Field(None, description="a disabled person cannot sign in; their sessions end now")


class PersonOut(BaseModel):
    name: str
    role: Role
    created_at: datetime
    disabled: bool

    @classmethod
    def of(cls, person: Person) -> PersonOut:
        return cls(name=person.name, role=person.role, created_at=person.created_at, disabled=person.disabled)


class PersonList(BaseModel):
    items: list[PersonOut]


class KeyIn(Strict):
    name: str = Field(max_length=64, description="what the key is for (history rows name it as the actor)")
    role: Role = Field(description="at most the creator's role")


class KeyOut(BaseModel):
    id: str
    name: str
    role: Role
    creator: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(id=key.id, name=key.name, role=key.role, creator=key.creator, created_at=key.created_at,
                   last_used_at=key.last_used_at, revoked=key.revoked, revoked_at=key.revoked_at)


class NewKeyOut(BaseModel):
    """The key's secret is in `key`, shown this once: it is stored only as a hash."""

    id: str
    name: str
    role: Role
    key: str


class KeyList(BaseModel):
    items: list[KeyOut]


class MeOut(BaseModel):
    name: str
    role: Role
    kind: str

    @classmethod
    def of(cls, who: Principal) -> MeOut:
        return cls(name=who.name, role=who.role, kind=who.kind.value)
