"""Console pages: egresses (search by id or room, status filter, newest first by cursor; one egress's history; stop)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.api.pagination import decode_cursor, encode_cursor
from orchestrator.api.schemas.egresses import EgressOut
from orchestrator.domain.egress import EgressRecord, EgressStatus
from orchestrator.domain.errors import InvalidInput, NotFound, OrchestratorError
from orchestrator.domain.explain import explain
from orchestrator.domain.redact import redact_stream_url

from .base import ConsoleProducer, ConsoleViewer, FormDep, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
_ID_PREFIXES = ("EG_", "egr_")


@router.get("/egresses", response_class=HTMLResponse)
async def egress_list(request: Request, who: ConsoleViewer, c: ContainerDep, q: str = "", status: str = "",
                      cursor: str = "") -> Response:
    q = q.strip()
    wanted = {EgressStatus(status)} if status in set(EgressStatus) else None
    if q.startswith(_ID_PREFIXES):
        found = await run_in_threadpool(c.ledger.get, q)
        if found is not None:
            return RedirectResponse(f"/egresses/{found.id}", status_code=303)
    error = ""
    try:
        before = decode_cursor(cursor) if cursor else None
    except InvalidInput as exc:
        before, error = None, exc.message
    records = await run_in_threadpool(c.ledger.find, room_name=q or None, statuses=wanted, before=before,
                                      limit=PAGE_SIZE + 1)
    page, more = records[:PAGE_SIZE], len(records) > PAGE_SIZE
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
    return render(request, "egresses.html.j2", who, title="Egresses", items=[_row(r) for r in page], q=q,
                  status=status if wanted else "", statuses=[s.value for s in EgressStatus],
                  next_cursor=next_cursor, error=error, first_page=not cursor)


@router.get("/egresses/{ref}", response_class=HTMLResponse)
async def egress_detail(request: Request, ref: str, who: ConsoleViewer, c: ContainerDep) -> Response:
    return await _detail(request, ref, who, c)


@router.post("/egresses/{ref}/stop")
async def egress_stop(request: Request, ref: str, who: ConsoleProducer, c: ContainerDep, form: FormDep) -> Response:
    try:
        record = await c.egresses.stop(ref, actor=who.name)
    except NotFound:
        return await _detail(request, ref, who, c)
    except OrchestratorError as exc:
        return await _detail(request, ref, who, c, alert=exc.message, status_code=409)
    return RedirectResponse(f"/egresses/{record.id}?stopped=1", status_code=303)


async def _detail(request: Request, ref: str, who: Any, c: ContainerDep, *, alert: str = "",
                  status_code: int = 200) -> Response:
    try:
        view = await run_in_threadpool(c.egresses.view, ref)
    except NotFound as exc:
        return render(request, "egresses_missing.html.j2", who, title="No such egress", ref=ref,
                      message=exc.message, status_code=404)
    rec = view.record
    out = EgressOut.of(rec)
    return render(request, "egresses_detail.html.j2", who, title=f"Egress {rec.id}", e=_row(rec), out=out,
                  outputs=[_output(o) for o in out.outputs], events=list(reversed(view.events)),
                  streams=[{**s.model_dump(), "url": redact_stream_url(s.url)} for s in out.streams],
                  alert=alert, stopped=request.query_params.get("stopped") == "1", status_code=status_code)


def _row(rec: EgressRecord) -> dict[str, Any]:
    failed = rec.status in (EgressStatus.FAILED, EgressStatus.ABORTED) or bool(rec.error)
    return {"rec": rec, "why": explain(rec.error, rec.status.value) if failed else None,
            "can_stop": not rec.status.terminal}


def _output(output: dict[str, Any]) -> str:
    """One stored output as a line of text; stream URLs are stored redacted, and masked again to be sure."""
    kind = str(output.get("type", "output"))
    if kind == "stream":
        urls = output.get("urls") or []
        return "stream: " + ", ".join(redact_stream_url(str(u)) for u in urls)
    where = output.get("filepath") or output.get("filename_prefix") or output.get("playlist_name") or ""
    return f"{kind}: {where}" if where else kind
