"""Console page: one broadcast, its runs with the timeline of every step, and its controls (start, stop, cancel,
preflight; while live, the layout and the destinations)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.api.errors import STATUS
from orchestrator.api.schemas.broadcasts import BroadcastUpdate
from orchestrator.bootstrap import Container
from orchestrator.domain.broadcasts import RUN_ACTIVE, BroadcastState, RunStatus
from orchestrator.domain.callbacks import shown_url
from orchestrator.domain.errors import NotFound, OrchestratorError
from orchestrator.domain.explain import explain
from orchestrator.logs import SECRETS
from orchestrator.services.broadcasts import BroadcastView

from .base import ConsoleProducer, ConsoleViewer, FormDep, render
from .broadcast_fields import Form, api_errors, destinations, rename_rows
from .broadcast_views import LAYOUT_CHOICES, recurrence_words, shown, stamp, step_label, zone_of

router = APIRouter(include_in_schema=False)

NOTICES = {
    "created": "Broadcast created.", "saved": "Changes saved.", "started": "Starting now.",
    "stopping": "Stopping: the run ends when LiveKit reports the egress finished.",
    "cancelled": "Broadcast cancelled: no more runs.", "layout": "Layout changed.",
    "destination_added": "Destination added.", "destination_removed": "Destination removed.",
    "not_editable": "This broadcast is over; it can no longer be edited.",
}


def _view(c: Container, broadcast_id: str) -> BroadcastView:
    return c.broadcasts.view(broadcast_id)


def _context(view: BroadcastView) -> dict[str, Any]:
    b = view.broadcast
    runs = sorted(view.runs, key=lambda r: r[0].seq, reverse=True)
    active = next((r for r, _, _ in runs if r.status in RUN_ACTIVE), None)
    upcoming = min((r for r, _, _ in runs if r.status == RunStatus.SCHEDULED), key=lambda r: r.seq, default=None)
    return {"b": b, "runs": runs, "active": active, "history": view.history, "zone": zone_of(b),
            "repeats": recurrence_words(b.spec.recurrence),
            "upcoming": upcoming,
            "can_start": b.state == BroadcastState.ACTIVE and active is None and upcoming is not None,
            "can_stop": active is not None, "can_cancel": b.state == BroadcastState.ACTIVE,
            "live": active is not None and active.egress_pk is not None, "layouts": LAYOUT_CHOICES,
            "step_label": step_label, "explain": explain, "shown": shown, "shown_url": shown_url, "stamp": stamp}


async def _page(request: Request, c: Container, who: Any, broadcast_id: str, *, template: str = "broadcast.html.j2",
                status_code: int = 200, **extra: Any) -> HTMLResponse:
    try:
        view = await run_in_threadpool(_view, c, broadcast_id)
    except NotFound as exc:
        return render(request, "broadcast_missing.html.j2", who, status_code=404, message=exc.message)
    notice = NOTICES.get(request.query_params.get("notice", ""), "")
    b = view.broadcast
    return render(request, template, who, status_code=status_code, title=b.spec.title or b.spec.room_name,
                  notice=notice, **_context(view), **extra)


@router.get("/broadcasts/{broadcast_id}", response_class=HTMLResponse)
async def broadcast_page(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleViewer) -> HTMLResponse:
    """Facts, controls, and every run (newest first) with its timeline."""
    return await _page(request, c, who, broadcast_id)


@router.get("/broadcasts/{broadcast_id}/runs", response_class=HTMLResponse)
async def broadcast_runs(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleViewer) -> HTMLResponse:
    """A live part of the page (`part`: status and controls, or the runs), re-fetched when a run or the
    broadcast changes."""
    return await _page(request, c, who, broadcast_id, template="broadcast_live.html.j2", fragment=True,
                       part="status" if request.query_params.get("part") == "status" else "runs")


async def _act(request: Request, c: Container, who: Any, broadcast_id: str, action: Awaitable[Any],
               notice: str) -> Response:
    """Run a command; 303 back to the page with a notice, or the page with the service's refusal."""
    try:
        await action
    except OrchestratorError as exc:
        status = next((s for cls, s in STATUS if isinstance(exc, cls)), 500)
        return await _page(request, c, who, broadcast_id, status_code=status, problem=shown(exc.message))
    return RedirectResponse(f"/broadcasts/{broadcast_id}?notice={notice}", status_code=303)


@router.post("/broadcasts/{broadcast_id}/start")
async def start_now(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleProducer,
                    _: FormDep) -> Response:
    return await _act(request, c, who, broadcast_id, c.broadcasts.start_now(broadcast_id, actor=who.name), "started")


@router.post("/broadcasts/{broadcast_id}/stop")
async def stop(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleProducer, _: FormDep) -> Response:
    return await _act(request, c, who, broadcast_id, c.broadcasts.stop(broadcast_id, actor=who.name), "stopping")


@router.post("/broadcasts/{broadcast_id}/cancel")
async def cancel(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleProducer, _: FormDep) -> Response:
    return await _act(request, c, who, broadcast_id, c.broadcasts.cancel(broadcast_id, actor=who.name), "cancelled")


@router.post("/broadcasts/{broadcast_id}/preflight", response_class=HTMLResponse)
async def preflight(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleProducer,
                    _: FormDep) -> Response:
    """Run the preflight now and show each check's result on the page."""
    try:
        checks = await c.broadcasts.preflight(broadcast_id)
    except OrchestratorError as exc:
        status = next((s for cls, s in STATUS if isinstance(exc, cls)), 500)
        return await _page(request, c, who, broadcast_id, status_code=status, problem=shown(exc.message))
    return await _page(request, c, who, broadcast_id, checks=[{**ch, "detail": shown(str(ch.get("detail", "")))}
                                                              for ch in checks])


async def _update(request: Request, c: Container, who: Any, broadcast_id: str, data: dict[str, Any],
                  rows: dict[str, str], notice: str) -> Response:
    """A live change as `PATCH /v1/broadcasts/{id}` takes it; refused input is shown beside its field."""
    try:
        body = BroadcastUpdate.model_validate(data)
        added = body.destinations_to_add()
    except ValidationError as exc:
        return await _page(request, c, who, broadcast_id, status_code=422,
                           errors=rename_rows(api_errors(exc), rows))
    except OrchestratorError as exc:
        return await _page(request, c, who, broadcast_id, status_code=422,
                           errors=rename_rows({getattr(exc, "field", "form"): exc.message}, rows))
    SECRETS.add(*(d.stream_key or "" for d in body.add_destinations), *(d.url or "" for d in body.add_destinations))
    return await _act(request, c, who, broadcast_id, c.broadcasts.update(
        broadcast_id, layout=body.layout, add_destinations=added, remove_destinations=body.remove_destinations,
        actor=who.name), notice)


@router.post("/broadcasts/{broadcast_id}/layout")
async def change_layout(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleProducer,
                        form: FormDep) -> Response:
    return await _update(request, c, who, broadcast_id, {"layout": form.get("layout", "")}, {}, "layout")


@router.post("/broadcasts/{broadcast_id}/destinations")
async def add_destination(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleProducer,
                          form: FormDep) -> Response:
    found, rows = destinations(Form(form.items()), "add_destinations")
    return await _update(request, c, who, broadcast_id, {"add_destinations": found or [{"type": "mux"}]},
                         rows or {"add_destinations.0": "dest.0"},
                         "destination_added")


@router.post("/broadcasts/{broadcast_id}/destinations/{destination_id}/remove")
async def remove_destination(broadcast_id: str, destination_id: str, request: Request, c: ContainerDep,
                             who: ConsoleProducer, _: FormDep) -> Response:
    return await _update(request, c, who, broadcast_id, {"remove_destinations": [destination_id]}, {},
                         "destination_removed")
