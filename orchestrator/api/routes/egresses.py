"""`/v1/egresses`: start, list, show, stop and update egresses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from orchestrator.api.auth import ProducerDep, require
from orchestrator.api.deps import ContainerDep
from orchestrator.api.pagination import decode_cursor, encode_cursor
from orchestrator.api.schemas.common import ErrorOut
from orchestrator.api.schemas.egresses import EgressCreate, EgressOut, EgressPage, EgressUpdate
from orchestrator.api.schemas.layouts import resolve_layout
from orchestrator.domain.egress import UNFINISHED, EgressStatus
from orchestrator.domain.identity import Role
from orchestrator.logs import SECRETS

router = APIRouter(prefix="/v1/egresses", tags=["egresses"], dependencies=[Depends(require(Role.VIEWER))],
                   responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})


@router.post("", status_code=201, response_model=EgressOut,
             responses={502: {"model": ErrorOut}, 503: {"model": ErrorOut}})
async def start_egress(body: EgressCreate, c: ContainerDep, who: ProducerDep) -> EgressOut:
    """Start an egress now. The egress is in the ledger before LiveKit is called."""
    request = body.to_request(c.storage, c.settings.public_url)
    SECRETS.add(*request.secrets())
    record = await c.egresses.start(request, actor=who.name)
    return EgressOut.of(record)


@router.get("", response_model=EgressPage)
async def list_egresses(
    c: ContainerDep,
    room_name: str | None = None,
    status: Annotated[list[EgressStatus] | None, Query()] = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EgressPage:
    statuses: set[EgressStatus] | None = set(status) if status else None
    if active is not None:
        wanted = set(UNFINISHED) if active else set(EgressStatus) - UNFINISHED
        statuses = (statuses & wanted) if statuses is not None else wanted
    before = decode_cursor(cursor) if cursor else None
    records = await run_in_threadpool(c.ledger.find, room_name=room_name, statuses=statuses,
                                      before=before, limit=limit + 1)
    page, more = records[:limit], len(records) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
    return EgressPage(items=[EgressOut.of(r) for r in page], next_cursor=next_cursor)


@router.get("/{ref}", response_model=EgressOut, responses={404: {"model": ErrorOut}})
async def show_egress(ref: str, c: ContainerDep) -> EgressOut:
    """One egress by our id or LiveKit's `EG_` id, with its whole history."""
    view = await run_in_threadpool(c.egresses.view, ref)
    return EgressOut.of(view.record, view.events)


@router.post("/{ref}/stop", response_model=EgressOut,
             responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 503: {"model": ErrorOut}})
async def stop_egress(ref: str, c: ContainerDep, who: ProducerDep) -> EgressOut:
    return EgressOut.of(await c.egresses.stop(ref, actor=who.name))


@router.patch("/{ref}", response_model=EgressOut,
              responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 502: {"model": ErrorOut}})
async def update_egress(ref: str, body: EgressUpdate, c: ContainerDep, who: ProducerDep) -> EgressOut:
    """Change the layout (UpdateLayout) or add/remove RTMP destinations (UpdateStream) of a running egress."""
    SECRETS.add(*body.add_stream_urls, *body.remove_stream_urls)
    if body.layout is not None:
        resolve_layout(body.layout, c.settings.public_url)  # known name, or 422 naming the field
    record = await c.egresses.update(ref, layout=body.layout, add_stream_urls=body.add_stream_urls,
                                     remove_stream_urls=body.remove_stream_urls, actor=who.name)
    return EgressOut.of(record)

