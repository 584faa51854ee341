"""Request dependencies: the container, the services routes use, and the bearer-token check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.bootstrap import Container
from orchestrator.services.autorecord import AutoRecorder

_bearer = HTTPBearer(auto_error=False, description="ORCHESTRATOR_API_TOKEN")


async def container(request: Request) -> Container:
    # async: a plain `def` dependency would cost a threadpool hop on every request.
    c: Container = request.app.state.container
    return c


ContainerDep = Annotated[Container, Depends(container)]


async def autorecorder(c: ContainerDep) -> AutoRecorder:
    """Automatic recording (rules, rooms, sessions)."""
    return c.autorecord


AutoRecorderDep = Annotated[AutoRecorder, Depends(autorecorder)]


async def require_token(
    c: ContainerDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), c.api_token.encode()
    ):
        raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required",
                            headers={"WWW-Authenticate": "Bearer"})
