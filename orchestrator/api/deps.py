"""Request dependencies: the container and the services routes use (who may call: `api/auth.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from orchestrator.bootstrap import Container
from orchestrator.services.autorecord import AutoRecorder


async def container(request: Request) -> Container:
    # async: a plain `def` dependency would cost a threadpool hop on every request.
    c: Container = request.app.state.container
    return c


ContainerDep = Annotated[Container, Depends(container)]


async def autorecorder(c: ContainerDep) -> AutoRecorder:
    """Automatic recording (rules, rooms, sessions)."""
    return c.autorecord


AutoRecorderDep = Annotated[AutoRecorder, Depends(autorecorder)]

