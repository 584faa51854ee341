"""`/v1/recordings`: the catalog, download links, deletion and the retention listing; signed playlist/file links."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, RedirectResponse, Response

from orchestrator.api.auth import ProducerDep, require
from orchestrator.api.deps import ContainerDep
from orchestrator.api.pagination import decode_cursor, encode_cursor
from orchestrator.api.schemas import ErrorOut
from orchestrator.api.schemas.recordings import DownloadLinkOut, RecordingOut, RecordingPage, RetentionOut
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.identity import Role
from orchestrator.domain.recordings import RecordingQuery, RecordingStatus

router = APIRouter(prefix="/v1/recordings", tags=["recordings"], dependencies=[Depends(require(Role.VIEWER))],
                   responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})
# Links handed out by /download: they carry their own expiring signature instead of the API token.
links = APIRouter(prefix="/v1/recordings", tags=["recordings"], include_in_schema=False)


@router.get("", response_model=RecordingPage)
async def list_recordings(
    c: ContainerDep,
    room_name: str | None = None,
    room_id: Annotated[str | None, Query(description="The room session (LiveKit's RM_ id)")] = None,
    broadcast_id: str | None = None,
    rule_id: str | None = None,
    egress: Annotated[str | None, Query(description="Our egress id or LiveKit's EG_ id")] = None,
    status: Annotated[list[RecordingStatus] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="Recorded at or after (RFC 3339)")] = None,
    until: Annotated[datetime | None, Query(description="Recorded before (RFC 3339)")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RecordingPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(name, "must carry a UTC offset (RFC 3339)")
    before = decode_cursor(cursor) if cursor else None
    found = await c.recordings.find(RecordingQuery(
        room_name=room_name, room_id=room_id, broadcast_id=broadcast_id, rule_id=rule_id, egress=egress,
        statuses=frozenset(status) if status else None, since=since, until=until, before=before, limit=limit + 1))
    page, more = found[:limit], len(found) > limit
    next_cursor = encode_cursor(page[-1].recorded_at, page[-1].id) if more and page else None
    return RecordingPage(items=[RecordingOut.of(r) for r in page], next_cursor=next_cursor)


@router.get("/retention", response_model=RetentionOut)
async def retention_listing(
    c: ContainerDep, days: Annotated[float | None, Query(gt=0, description="Default: the configured period")] = None,
) -> RetentionOut:
    """Dry run: what the retention job would delete now."""
    if days is None and not c.recordings.retention_days:
        raise InvalidInput("days", "no retention period is configured (ORCHESTRATOR_RECORDINGS_RETENTION_DAYS)")
    report = await c.recordings.retention(dry_run=True, days=days)
    return RetentionOut(dry_run=True, cutoff=report.cutoff, recordings=[RecordingOut.of(r) for r in report.recordings],
                        failed=0)


@router.get("/{recording_id}", response_model=RecordingOut, responses={404: {"model": ErrorOut}})
async def show_recording(recording_id: str, c: ContainerDep) -> RecordingOut:
    view = await c.recordings.view(recording_id)
    return RecordingOut.of(view.recording, view.events)


@router.get("/{recording_id}/download", status_code=307, response_model=DownloadLinkOut,
            responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 503: {"model": ErrorOut}})
async def download_recording(
    recording_id: str, c: ContainerDep, redirect: bool = True,
    expires_in: Annotated[int | None, Query(ge=1, le=7 * 24 * 3600, description="Seconds")] = None,
) -> Response:
    """307 to a link that works without the token until it expires; `redirect=false` returns it as JSON."""
    link = await c.recordings.download_link(recording_id, expires_in)
    if redirect:
        return RedirectResponse(link.url, status_code=307)
    body = DownloadLinkOut(url=link.url, expires_at=link.expires_at)
    return Response(body.model_dump_json(), status_code=200, media_type="application/json")


@router.delete("/{recording_id}", response_model=RecordingOut,
               responses={404: {"model": ErrorOut}, 503: {"model": ErrorOut}})
async def delete_recording(recording_id: str, c: ContainerDep, who: ProducerDep) -> RecordingOut:
    """Delete the stored objects; the recording stays in the catalog as `deleted`."""
    return RecordingOut.of(await c.recordings.delete(recording_id, actor=who.name))


@links.get("/{recording_id}/playlist.m3u8")
async def signed_playlist(recording_id: str, expires: int, sig: str, c: ContainerDep) -> Response:
    text = await c.recordings.playlist(recording_id, expires, sig)
    return Response(text, media_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "private"})


@links.get("/{recording_id}/content")
async def signed_content(recording_id: str, expires: int, sig: str, c: ContainerDep, key: str = "") -> Response:
    """A local recording (or one HLS segment of it), streamed with HTTP Range support."""
    local = await c.recordings.local_file(recording_id, expires, sig, key)
    return FileResponse(local.path, media_type=local.media_type, filename=local.path.name)

