"""`/v1/sessions`: room sessions with what was recorded, which rules matched, and gaps between parts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from orchestrator.api.auth import require
from orchestrator.api.deps import AutoRecorderDep
from orchestrator.api.schemas.common import ErrorOut
from orchestrator.api.schemas.sessions import SessionList, SessionOut
from orchestrator.domain.identity import Role

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], dependencies=[Depends(require(Role.VIEWER))],
                   responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})


@router.get("", response_model=SessionList)
async def list_sessions(
    recorder: AutoRecorderDep,
    room_name: str | None = None,
    open: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SessionList:
    """Room sessions, newest first, with their recordings and the rules that matched."""
    views = await run_in_threadpool(recorder.sessions, room_name=room_name, open_only=open, limit=limit)
    return SessionList(items=[SessionOut.of(v) for v in views])


@router.get("/{room_sid}", response_model=SessionOut, responses={404: {"model": ErrorOut}})
async def show_session(room_sid: str, recorder: AutoRecorderDep) -> SessionOut:
    return SessionOut.of(await run_in_threadpool(recorder.session, room_sid))
