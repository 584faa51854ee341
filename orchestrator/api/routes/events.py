"""`GET /v1/events`: what changes, as Server-Sent Events (egresses, broadcast runs, broadcasts, recordings,
room sessions), whichever replica made the change; for API clients and the console's live pages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from orchestrator.api.auth import require
from orchestrator.api.deps import ContainerDep
from orchestrator.api.schemas.common import ErrorOut
from orchestrator.domain.activity import ChangeKind
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.identity import Role
from orchestrator.services.events import Ended, EventFeed, Order, cursor_of, parse_cursor

router = APIRouter(prefix="/v1/events", tags=["events"], dependencies=[Depends(require(Role.VIEWER))],
                   responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})

HEARTBEAT_S = 15


@router.get("", response_class=EventSourceResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def events(
    c: ContainerDep,
    kind: Annotated[list[str] | None, Query(description="Only these kinds (repeatable): egress, run, broadcast, "
                                                         "recording, session; default: all")] = None,
    last_event_id: Annotated[str | None, Header(description="Resume after this event's `id`")] = None,
) -> EventSourceResponse:
    """A Server-Sent Events stream: `event: <kind>`, `id: <cursor>`, `data: {"kind", "id", "status",
    "room_name", "at", ...}` for each change, within about a second of it, whichever replica made it; a
    comment every 15 s keeps the connection open. Sending `Last-Event-ID` (as EventSource does on reconnecting)
    first replays what changed after that event. No stream key, storage credential or callback URL is ever in it."""
    known = {k.value for k in ChangeKind}
    if unknown := sorted(set(kind or ()) - known):
        raise InvalidInput("kind", f"unknown kind {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    after = None
    if last_event_id:
        after = parse_cursor(last_event_id)
        if after is None:
            raise InvalidInput("Last-Event-ID", "is not an event id from this stream")
    kinds = [ChangeKind(k) for k in kind or ()]
    return EventSourceResponse(_stream(c.events, kinds, after), ping=HEARTBEAT_S, sep="\n")


async def _stream(feed: EventFeed, kinds: Iterable[ChangeKind], after: Order | None) -> AsyncIterator[ServerSentEvent]:
    sub = await feed.subscribe(kinds, after)  # here, not in the route: a stream never started leaves nothing
    try:
        while True:
            try:
                change = await sub.next(HEARTBEAT_S)
            except Ended:
                return
            if change is not None:
                yield ServerSentEvent(json.dumps(change.payload(), separators=(",", ":")), event=change.kind.value,
                                      id=cursor_of(change), sep="\n")
    finally:
        sub.close()  # the client left (or the service stops): no subscriber is left behind
