"""Console page: the broadcasts list (its form and each broadcast's page are in broadcast_form/broadcast_detail)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.api.pagination import decode_cursor, encode_cursor
from orchestrator.bootstrap import Container
from orchestrator.domain.broadcasts import BroadcastState
from orchestrator.domain.errors import InvalidInput

from . import broadcast_detail, broadcast_form
from .base import ConsoleViewer, render
from .broadcast_views import recurrence_words, zone_of

router = APIRouter(include_in_schema=False)
router.include_router(broadcast_form.router)  # /broadcasts/new and /broadcasts/occurrences before /{id}

PAGE_SIZE = 25


def _rows(c: Container, room: str | None, state: BroadcastState | None, cursor: str | None,
          limit: int) -> dict[str, Any]:
    """One page of broadcasts with each one's next run, read in two queries whatever the catalog's size."""
    before = decode_cursor(cursor) if cursor else None
    found = c.broadcasts.find(room_name=room, state=state, before=before, limit=limit + 1)
    page = found[:limit]
    next_runs = c.broadcasts.next_runs(page)
    rows = [{"b": b, "next": next_runs.get(b.id), "zone": zone_of(b), "repeats": recurrence_words(b.spec.recurrence),
             "destinations": len(b.spec.destinations)} for b in page]
    more = len(found) > limit and bool(page)
    return {"rows": rows, "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more else None}


async def _listing(request: Request, c: Container, who: Any, template: str, room: str | None, state: str | None,
                   cursor: str | None) -> HTMLResponse:
    chosen = BroadcastState(state) if state in {s.value for s in BroadcastState} else None
    try:
        data = await run_in_threadpool(_rows, c, room or None, chosen, cursor, PAGE_SIZE)
        error = ""
    except InvalidInput as exc:  # a cursor from elsewhere
        data, error = {"rows": [], "next_cursor": None}, exc.message
    return render(request, template, who, title="Broadcasts", room=room or "", state=chosen.value if chosen else "",
                  states=[s.value for s in BroadcastState], cursor=cursor or "", error=error, **data)


@router.get("/broadcasts", response_class=HTMLResponse)
async def broadcasts_page(request: Request, c: ContainerDep, who: ConsoleViewer,
                          room: Annotated[str | None, Query(max_length=256)] = None,
                          state: str | None = None, cursor: str | None = None) -> HTMLResponse:
    """Every broadcast, newest first: title, room, state, next run (its zone and the viewer's), recurrence."""
    return await _listing(request, c, who, "broadcasts.html.j2", room, state, cursor)


@router.get("/broadcasts/rows", response_class=HTMLResponse)
async def broadcasts_rows(request: Request, c: ContainerDep, who: ConsoleViewer,
                          room: Annotated[str | None, Query(max_length=256)] = None,
                          state: str | None = None, cursor: str | None = None) -> HTMLResponse:
    """The list's table alone, re-fetched when a run or broadcast changes (SSE)."""
    return await _listing(request, c, who, "broadcast_rows.html.j2", room, state, cursor)


router.include_router(broadcast_detail.router)  # last: /broadcasts/{broadcast_id} would match the paths above
