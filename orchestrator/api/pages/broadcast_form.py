"""Console page: the broadcast form (new and edit), its next-occurrences preview, and its layout preview."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.api.schemas.broadcasts import BroadcastCreate
from orchestrator.bootstrap import Container
from orchestrator.domain.broadcasts import Broadcast, BroadcastState
from orchestrator.domain.errors import InvalidInput, NotFound, OrchestratorError
from orchestrator.domain.recurrence_preview import WEEKDAYS, next_occurrences
from orchestrator.domain.requests import Preset
from orchestrator.logs import SECRETS

from .base import ConsoleProducer, FormDep, render
from .broadcast_fields import (
    DESTINATION_ROWS,
    Form,
    Outcome,
    api_errors,
    create_body,
    rename_rows,
    schedule_fields,
    update_body,
    zones,
)
from .broadcast_views import LAYOUT_CHOICES, form_values, preview_url, recurrence_words

router = APIRouter(include_in_schema=False)

DEFAULTS = {"layout": "gallery", "preset": Preset.P1080_30.value, "timezone": "UTC", "start_mode": "now",
            "end_mode": "duration", "duration_min": "60", "repeat": "none",
            "record_filepath": "broadcasts/{room_name}-{time}.mp4"}


def _page(request: Request, who: Any, *, values: dict[str, str], errors: dict[str, str] | None = None,
          broadcast: Broadcast | None = None, status_code: int = 200) -> HTMLResponse:
    options = {k[4:]: v for k, v in values.items() if k.startswith("opt_") and v}
    return render(request, "broadcast_form.html.j2", who, status_code=status_code,
                  title=f"Edit {broadcast.spec.title or broadcast.spec.room_name}" if broadcast else "New broadcast",
                  v=values, errors=errors or {}, broadcast=broadcast, zones=zones(), weekdays=WEEKDAYS,
                  layouts=LAYOUT_CHOICES, presets=[p.value for p in Preset], rows=range(DESTINATION_ROWS),
                  preview=preview_url(values.get("layout", "gallery"), options),
                  repeats=recurrence_words(broadcast.spec.recurrence) if broadcast else "")


@router.get("/broadcasts/new", response_class=HTMLResponse)
async def new_broadcast(request: Request, who: ConsoleProducer) -> HTMLResponse:
    """An empty form: start now for an hour, gallery layout, UTC (the page's script picks the viewer's zone)."""
    return _page(request, who, values=dict(DEFAULTS) | {"room_name": request.query_params.get("room", "")})


@router.post("/broadcasts/new", response_class=HTMLResponse)
async def create_broadcast(request: Request, c: ContainerDep, who: ConsoleProducer, _: FormDep) -> Response:
    """The form as `POST /v1/broadcasts` would take it; its errors beside their fields, worded as the 422."""
    form = Form((await request.form()).multi_items())
    outcome = create_body(form)
    if outcome.body is not None:
        body: BroadcastCreate = outcome.body
        SECRETS.add(*(d.stream_key or "" for d in body.destinations), *(d.url or "" for d in body.destinations))
        try:
            broadcast = await c.broadcasts.create(body.to_spec(), actor=who.name)
            return RedirectResponse(f"/broadcasts/{broadcast.id}?notice=created", status_code=303)
        except InvalidInput as exc:
            outcome = Outcome(errors=rename_rows({exc.field: exc.message}, outcome.rows))
        except OrchestratorError as exc:  # e.g. no storage to record to: said above the form
            outcome = Outcome(errors={"form": exc.message})
    return _page(request, who, values=form.raw(), errors=outcome.errors, status_code=422)


@router.get("/broadcasts/occurrences", response_class=HTMLResponse)
async def occurrences(request: Request, who: ConsoleProducer) -> HTMLResponse:
    """The next five starts of the schedule in the form, as the scheduler will plan them (htmx fragment).
    Only the schedule's fields are sent here (never a stream key)."""
    form = Form(request.query_params.multi_items())
    slots: list[tuple[datetime, datetime]] = []
    error, has_end = "", False
    try:
        data = {"room_name": "preview", **schedule_fields(form)}
        has_end = "max_duration_s" in data or "end_at" in data
        spec = BroadcastCreate.model_validate(data if has_end else data | {"max_duration_s": 1}).to_spec()
        slots = next_occurrences(replace(spec, start_at=spec.start_at or datetime.now(UTC)))
    except InvalidInput as exc:
        error = exc.message
    except ValidationError as exc:
        error = "; ".join(api_errors(exc).values())
    return render(request, "broadcast_occurrences.html.j2", who, slots=slots, zone=form.get("timezone") or "UTC",
                  error=error, has_end=has_end)


def _current(c: Container, broadcast_id: str) -> Broadcast:
    return c.broadcasts.get(broadcast_id)


@router.get("/broadcasts/{broadcast_id}/edit", response_class=HTMLResponse)
async def edit_broadcast(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleProducer) -> Response:
    """The form filled from the broadcast; what the API can change is editable (schedule, layout,
    destinations), the rest is shown. Stream keys are never sent back: a set one shows as '•••• set'."""
    try:
        broadcast = await run_in_threadpool(_current, c, broadcast_id)
    except NotFound as exc:
        return render(request, "broadcast_missing.html.j2", who, status_code=404, message=exc.message)
    if broadcast.state != BroadcastState.ACTIVE:
        return RedirectResponse(f"/broadcasts/{broadcast_id}?notice=not_editable", status_code=303)
    return _page(request, who, values=form_values(broadcast), broadcast=broadcast)


@router.post("/broadcasts/{broadcast_id}/edit", response_class=HTMLResponse)
async def save_broadcast(broadcast_id: str, request: Request, c: ContainerDep, who: ConsoleProducer,
                         _: FormDep) -> Response:
    """The changes as `PATCH /v1/broadcasts/{id}` would take them (only what differs from the broadcast)."""
    try:
        broadcast = await run_in_threadpool(_current, c, broadcast_id)
    except NotFound as exc:
        return render(request, "broadcast_missing.html.j2", who, status_code=404, message=exc.message)
    form = Form((await request.form()).multi_items())
    current = form_values(broadcast)
    outcome = update_body(form, {**schedule_fields(Form(current.items())), "layout": current["layout"]})
    if outcome.body is not None:
        body = outcome.body
        SECRETS.add(*(d.stream_key or "" for d in body.add_destinations),
                    *(d.url or "" for d in body.add_destinations))
        try:
            await c.broadcasts.update(
                broadcast_id, start_at=body.start_at, end_at=body.end_at, max_duration_s=body.max_duration_s,
                layout=body.layout, add_destinations=body.destinations_to_add(),
                remove_destinations=body.remove_destinations, actor=who.name)
            return RedirectResponse(f"/broadcasts/{broadcast_id}?notice=saved", status_code=303)
        except InvalidInput as exc:
            outcome = Outcome(errors=rename_rows({exc.field: exc.message}, outcome.rows))
        except OrchestratorError as exc:
            outcome = Outcome(errors={"form": exc.message})
    return _page(request, who, values=form.raw(), errors=outcome.errors, broadcast=broadcast, status_code=422)
