"""Console pages: rooms (room sessions open and recent; one room's sessions with the rules that matched and why,
their recordings, and the gaps between parts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.domain.explain import explain
from orchestrator.domain.sessions import ClaimState
from orchestrator.services.autorecord import SessionView

from .base import ConsoleViewer, render

router = APIRouter(include_in_schema=False)

LIST_SIZE = 50  # as /v1/sessions
ROOM_SESSIONS = 20


@router.get("/rooms", response_class=HTMLResponse)
async def room_list(request: Request, who: ConsoleViewer, c: ContainerDep, room: str = "",
                    open: str = "") -> HTMLResponse:
    room = room.strip()
    views = await run_in_threadpool(c.autorecord.sessions, room_name=room or None, open_only=open == "1",
                                    limit=LIST_SIZE)
    return render(request, "rooms.html.j2", who, title="Rooms", sessions=views, room=room, open_only=open == "1")


@router.get("/rooms/{name}", response_class=HTMLResponse)
async def room_detail(request: Request, name: str, who: ConsoleViewer, c: ContainerDep) -> HTMLResponse:
    views = await run_in_threadpool(c.autorecord.sessions, room_name=name, limit=ROOM_SESSIONS)
    return render(request, "rooms_detail.html.j2", who, title=f"Room {name}", name=name,
                  sessions=[_session(v) for v in views], status_code=200)


def _session(view: SessionView) -> dict[str, Any]:
    """A session as the page shows it: each recording with its egress and why it failed, gaps by rule name."""
    names = {m.rule_id: m.rule_name for m in view.session.matches}
    recordings = []
    for claim in sorted(view.claims, key=lambda c: (c.rule_id, c.action.value, c.subject, c.part)):
        egress = view.egresses.get(claim.egress_pk or "")
        failed = claim.state == ClaimState.FAILED or (egress is not None and bool(egress.error))
        error = claim.error or (egress.error if egress else "")
        status = egress.status.value if egress else claim.state.value
        recordings.append({"claim": claim, "rule_name": names.get(claim.rule_id, claim.rule_id), "egress": egress,
                           "why": explain(error, status) if failed else None})
    gaps = [{"rule_name": names.get(rule_id, rule_id), "after_part": g.after_part, "seconds": g.seconds}
            for rule_id, found in sorted(view.gaps.items()) for g in found]
    return {"s": view.session, "recordings": recordings, "gaps": gaps}
