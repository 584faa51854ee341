"""Console page: Now (runs under way, active egresses, open room sessions, the last day's failures and why, the
next day's starts), with a fragment the page re-fetches when the event stream says something changed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.bootstrap import Container

from .base import ConsoleViewer, render

router = APIRouter(include_in_schema=False)

SESSIONS_SHOWN = 50


@router.get("/", response_class=HTMLResponse)
async def now_page(request: Request, who: ConsoleViewer, c: ContainerDep) -> HTMLResponse:
    return render(request, "now.html.j2", who, title="Now", **await _context(c))


@router.get("/now/fragment", response_class=HTMLResponse)
async def now_fragment(request: Request, who: ConsoleViewer, c: ContainerDep) -> HTMLResponse:
    """The live part of the page alone (htmx swaps it in when a run, egress, broadcast or session changes)."""
    return render(request, "now_fragment.html.j2", who, **await _context(c))


async def _context(c: Container) -> dict[str, Any]:
    overview = await run_in_threadpool(c.overview.now)
    sessions = await run_in_threadpool(c.autorecord.sessions, open_only=True, limit=SESSIONS_SHOWN)
    egresses = [{"rec": e, "why": None} for e in overview.egresses]
    return {"o": overview, "egresses": egresses, "sessions": sessions}
