"""Console page: the recordings catalog, filtered (each recording's page, player and deletion: recording_detail.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import AutoRecorderDep, ContainerDep
from orchestrator.api.pagination import decode_cursor, encode_cursor
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.recordings import RecordingQuery, RecordingStatus

from . import recording_detail
from .base import ConsoleViewer, render
from .recording_views import STATUS_BADGE, human_duration, human_size

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
FILTERS = ("room_name", "since", "until", "status", "broadcast_id", "rule_id")


class RecordingFilters(BaseModel):
    """The list's filter form, named and checked like `GET /v1/recordings`'s query (so errors read the same);
    dates are whole UTC days, `until` included."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    room_name: str | None = Field(None, max_length=256)
    since: date | None = None
    until: date | None = None
    status: RecordingStatus | None = None
    broadcast_id: str | None = Field(None, max_length=128)
    rule_id: str | None = Field(None, max_length=128)
    cursor: str | None = Field(None, max_length=512)

    def query(self, limit: int) -> RecordingQuery:
        if self.since and self.until and self.until < self.since:
            raise InvalidInput("until", "must not be before since")
        return RecordingQuery(
            room_name=self.room_name, broadcast_id=self.broadcast_id, rule_id=self.rule_id,
            statuses=frozenset({self.status}) if self.status else None,
            since=_midnight(self.since), until=_midnight(self.until + timedelta(days=1) if self.until else None),
            before=decode_cursor(self.cursor) if self.cursor else None, limit=limit + 1)


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), UTC) if day else None


def read_filters(request: Request) -> tuple[RecordingFilters, dict[str, str], dict[str, str]]:
    """The filters (the valid ones when some are not), the form's values as typed, and an error per field."""
    typed = {k: v for k, v in request.query_params.items() if k in (*FILTERS, "cursor")}
    given = {k: v for k, v in typed.items() if v.strip()}
    try:
        return RecordingFilters.model_validate(given), typed, {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else "query"
            errors.setdefault(field, f"{field}: {e['msg']}")
        valid = {k: v for k, v in given.items() if k not in errors}
        return RecordingFilters.model_validate(valid), typed, errors


async def _listing(request: Request, c: ContainerDep, recorder: AutoRecorderDep, who: Any,
                   template: str) -> HTMLResponse:
    filters, typed, errors = read_filters(request)
    rows: list[Any] = []
    next_cursor = None
    if not errors:
        try:
            found = await c.recordings.find(filters.query(PAGE_SIZE))
            rows = found[:PAGE_SIZE]
            if len(found) > PAGE_SIZE and rows:
                next_cursor = encode_cursor(rows[-1].recorded_at, rows[-1].id)
        except InvalidInput as exc:
            errors[exc.field or "query"] = exc.message
    rules = await run_in_threadpool(recorder.list_rules) if template == "recordings.html.j2" else []
    kept = {k: typed.get(k, "") for k in FILTERS}
    return render(request, template, who, title="Recordings", rows=rows, filters=kept, errors=errors,
                  next_cursor=next_cursor, cursor=typed.get("cursor", ""), rules=rules,
                  statuses=[s.value for s in RecordingStatus], badge=STATUS_BADGE, human_size=human_size,
                  human_duration=human_duration, deleted=request.query_params.get("deleted", ""))


@router.get("/recordings", response_class=HTMLResponse)
async def recordings_page(request: Request, c: ContainerDep, recorder: AutoRecorderDep,
                          who: ConsoleViewer) -> HTMLResponse:
    """Recordings newest first, filtered by room, UTC dates, status, broadcast and rule; a cursor pages on."""
    return await _listing(request, c, recorder, who, "recordings.html.j2")


@router.get("/recordings/rows", response_class=HTMLResponse)
async def recordings_rows(request: Request, c: ContainerDep, recorder: AutoRecorderDep,
                          who: ConsoleViewer) -> HTMLResponse:
    """The list's table alone, re-fetched when a recording changes (SSE)."""
    return await _listing(request, c, recorder, who, "recording_rows.html.j2")


router.include_router(recording_detail.router)  # after /recordings/rows, which /recordings/{id} would match
