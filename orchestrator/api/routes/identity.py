"""`/v1/users` (people) and `/v1/keys` (API keys), both admin only, and `/v1/me` (the caller)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from orchestrator.api.auth import AdminDep, ViewerDep, require
from orchestrator.api.deps import ContainerDep
from orchestrator.api.schemas.common import ErrorOut
from orchestrator.api.schemas.identity import (
    KeyIn,
    KeyList,
    KeyOut,
    MeOut,
    NewKeyOut,
    PersonIn,
    PersonList,
    PersonOut,
    PersonPatch,
)
from orchestrator.domain.identity import Role

_errors: dict[int | str, dict[str, object]] = {401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                                               422: {"model": ErrorOut}}
users = APIRouter(prefix="/v1/users", tags=["identity"], dependencies=[Depends(require(Role.ADMIN))],
                  responses=_errors)
keys = APIRouter(prefix="/v1/keys", tags=["identity"], dependencies=[Depends(require(Role.ADMIN))],
                 responses=_errors)
router = APIRouter(tags=["identity"], responses=_errors)


@users.post("", status_code=201, response_model=PersonOut, responses={409: {"model": ErrorOut}})
async def add_person(body: PersonIn, c: ContainerDep, who: AdminDep) -> PersonOut:
    """A person who signs in to the console with this name and password (hashed with argon2id)."""
    return PersonOut.of(await c.identity.add_person(body.name, body.role, body.password))


@users.get("", response_model=PersonList)
async def list_people(c: ContainerDep) -> PersonList:
    return PersonList(items=[PersonOut.of(p) for p in await c.identity.people()])


@users.get("/{name}", response_model=PersonOut, responses={404: {"model": ErrorOut}})
async def show_person(name: str, c: ContainerDep) -> PersonOut:
    return PersonOut.of(await c.identity.person(name))


@users.patch("/{name}", response_model=PersonOut, responses={404: {"model": ErrorOut}})
async def change_person(name: str, body: PersonPatch, c: ContainerDep, who: AdminDep) -> PersonOut:
    """Change the role, the password or the disabled flag (disabling signs the person out everywhere)."""
    return PersonOut.of(await c.identity.change_person(name, role=body.role, password=body.password,
                                                       disabled=body.disabled))


@users.delete("/{name}", status_code=204, response_class=Response, responses={404: {"model": ErrorOut}})
async def remove_person(name: str, c: ContainerDep, who: AdminDep) -> Response:
    """Remove a person: their sessions end, and the API keys they made are revoked."""
    await c.identity.remove_person(name)
    return Response(status_code=204)


@keys.post("", status_code=201, response_model=NewKeyOut)
async def create_key(body: KeyIn, c: ContainerDep, who: AdminDep) -> NewKeyOut:
    """A new API key (admins) with a role at most the caller's. `key` is shown this once (only its hash is kept)."""
    key, secret = await c.identity.create_key(who, body.name, body.role)
    return NewKeyOut(id=key.id, name=key.name, role=key.role, key=secret)


@keys.get("", response_model=KeyList)
async def list_keys(c: ContainerDep, who: AdminDep) -> KeyList:
    """Every key, newest first; never their secrets."""
    return KeyList(items=[KeyOut.of(k) for k in await c.identity.keys(who)])


@keys.delete("/{key_id}", status_code=204, response_class=Response, responses={404: {"model": ErrorOut}})
async def revoke_key(key_id: str, c: ContainerDep, who: AdminDep) -> Response:
    """Revoke a key: every replica refuses it within 2 seconds."""
    await c.identity.revoke_key(who, key_id)
    return Response(status_code=204)


@router.get("/v1/me", response_model=MeOut)
async def me(who: ViewerDep) -> MeOut:
    """Who this request acts as."""
    return MeOut.of(who)


router.include_router(users)
router.include_router(keys)
