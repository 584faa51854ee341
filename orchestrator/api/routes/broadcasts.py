"""`/v1/broadcasts`: schedule, list, show, change, cancel, start, stop and preflight broadcasts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from orchestrator.api.auth import ProducerDep, require
from orchestrator.api.deps import ContainerDep
from orchestrator.api.pagination import decode_cursor, encode_cursor
from orchestrator.api.schemas.broadcasts import BroadcastCreate, BroadcastOut, BroadcastPage, BroadcastUpdate, RunOut
from orchestrator.api.schemas.common import ErrorOut
from orchestrator.bootstrap import Container
from orchestrator.domain.broadcasts import Broadcast, BroadcastRun, BroadcastState
from orchestrator.domain.identity import Role
from orchestrator.logs import SECRETS

router = APIRouter(prefix="/v1/broadcasts", tags=["broadcasts"], dependencies=[Depends(require(Role.VIEWER))],
                   responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})


def _show(c: Container, broadcast_id: str) -> BroadcastOut:
    view = c.broadcasts.view(broadcast_id)
    return BroadcastOut.of(view.broadcast, [RunOut.of(r, ev, eg) for r, ev, eg in view.runs], history=view.history)


@router.post("", status_code=201, response_model=BroadcastOut)
async def create_broadcast(body: BroadcastCreate, c: ContainerDep, who: ProducerDep) -> BroadcastOut:
    """Schedule a broadcast (or start it now when `start_at` is left out)."""
    SECRETS.add(*(d.stream_key or "" for d in body.destinations), *(d.url or "" for d in body.destinations))
    broadcast = await c.broadcasts.create(body.to_spec(), actor=who.name)
    return await run_in_threadpool(_show, c, broadcast.id)


@router.get("", response_model=BroadcastPage)
async def list_broadcasts(
    c: ContainerDep, room_name: str | None = None, state: BroadcastState | None = None,
    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> BroadcastPage:
    """Broadcasts, newest first, each with its next run (`next_run`: under way or to come, or null)."""
    before = decode_cursor(cursor) if cursor else None

    def read() -> tuple[list[Broadcast], dict[str, BroadcastRun], bool]:
        found = c.broadcasts.find(room_name=room_name, state=state, before=before, limit=limit + 1)
        page = found[:limit]
        return page, c.broadcasts.next_runs(page), len(found) > limit

    page, next_runs, more = await run_in_threadpool(read)
    return BroadcastPage(items=[BroadcastOut.of(b, next_run=next_runs.get(b.id)) for b in page],
                         next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if more and page else None)


@router.get("/{broadcast_id}", response_model=BroadcastOut, responses={404: {"model": ErrorOut}})
async def show_broadcast(broadcast_id: str, c: ContainerDep) -> BroadcastOut:
    """The broadcast with its runs: planned and actual times, egresses, status, error and history."""
    return await run_in_threadpool(_show, c, broadcast_id)


@router.patch("/{broadcast_id}", response_model=BroadcastOut,
              responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 502: {"model": ErrorOut}})
async def update_broadcast(broadcast_id: str, body: BroadcastUpdate, c: ContainerDep, who: ProducerDep) -> BroadcastOut:
    """Reschedule; while live, change the layout or add/remove destinations without interrupting the others."""
    SECRETS.add(*(d.stream_key or "" for d in body.add_destinations), *(d.url or "" for d in body.add_destinations))
    await c.broadcasts.update(
        broadcast_id, start_at=body.start_at, end_at=body.end_at, max_duration_s=body.max_duration_s,
        layout=body.layout, add_destinations=body.destinations_to_add(),
        remove_destinations=body.remove_destinations, actor=who.name)
    return await run_in_threadpool(_show, c, broadcast_id)


@router.delete("/{broadcast_id}", response_model=BroadcastOut, responses={404: {"model": ErrorOut}})
async def cancel_broadcast(broadcast_id: str, c: ContainerDep, who: ProducerDep) -> BroadcastOut:
    """Cancel: no more runs; a live run is stopped."""
    await c.broadcasts.cancel(broadcast_id, actor=who.name)
    return await run_in_threadpool(_show, c, broadcast_id)


@router.post("/{broadcast_id}/start", response_model=BroadcastOut,
             responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
async def start_broadcast(broadcast_id: str, c: ContainerDep, who: ProducerDep) -> BroadcastOut:
    """Start the next scheduled run now."""
    await c.broadcasts.start_now(broadcast_id, actor=who.name)
    return await run_in_threadpool(_show, c, broadcast_id)


@router.post("/{broadcast_id}/stop", response_model=BroadcastOut,
             responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
async def stop_broadcast(broadcast_id: str, c: ContainerDep, who: ProducerDep) -> BroadcastOut:
    """Stop the live run now; it ends when LiveKit reports the egress finished."""
    await c.broadcasts.stop(broadcast_id, actor=who.name)
    return await run_in_threadpool(_show, c, broadcast_id)


@router.post("/{broadcast_id}/preflight", responses={404: {"model": ErrorOut}})
async def preflight_broadcast(broadcast_id: str, c: ContainerDep, who: ProducerDep) -> dict[str, Any]:
    """Check LiveKit, every destination (TCP/TLS and the RTMP handshake) and the layout page now."""
    checks = await c.broadcasts.preflight(broadcast_id)
    return {"ok": all(bool(ch["ok"]) for ch in checks), "checks": checks}
