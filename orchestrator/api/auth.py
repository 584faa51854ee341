"""Who is calling, and may they: the bearer token or API key of an API client, the session of a person.

Routes declare the role they need with `Depends(require(Role.X))` (or the `ViewerDep`/`ProducerDep`/`AdminDep`
shorthands, which also hand the route the `Principal` whose name history rows record as the actor).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.api.deps import ContainerDep
from orchestrator.domain.identity import BOOTSTRAP_TOKEN, Principal, Role

_bearer = HTTPBearer(auto_error=False, description="ORCHESTRATOR_API_TOKEN or an API key")


async def principal(
    request: Request, c: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, or 401."""
    if credentials is not None and secrets.compare_digest(credentials.credentials.encode(), c.api_token.encode()):
        return BOOTSTRAP_TOKEN
    raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required",
                        headers={"WWW-Authenticate": "Bearer"})


PrincipalDep = Annotated[Principal, Depends(principal)]


def require(needed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, when its role allows `needed`; 403 otherwise."""

    async def check(who: PrincipalDep) -> Principal:
        if not who.allows(needed):
            raise HTTPException(403, f"this needs the {needed.value} role; {who.name} is {who.role.value}")
        return who

    return check


ViewerDep = Annotated[Principal, Depends(require(Role.VIEWER))]
ProducerDep = Annotated[Principal, Depends(require(Role.PRODUCER))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]


async def session_principal(request: Request, c: ContainerDep) -> Principal | None:
    """The person whose console session cookie this request carries, if it is valid and unexpired."""
    return None


def csrf_token(request: Request) -> str:
    """The cross-site request token forms of this session carry (hidden field `csrf_token`)."""
    return ""


def check_csrf(request: Request, token: str) -> None:
    """403 unless `token` is this session's and the request comes from this site."""
    raise HTTPException(403, "this form is not from this site (cross-site request refused)")
