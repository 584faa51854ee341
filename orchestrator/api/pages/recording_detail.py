"""Console page: one recording (facts, player, why it is missing, history), its media for the player, download
and deletion. Media is served to the signed-in person's session, same-origin, so `<video>` and hls.js need no token."""

from __future__ import annotations

import posixpath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.bootstrap import Container
from orchestrator.domain.errors import NotFound
from orchestrator.domain.recording_reasons import EgressOutcome, explain_recording
from orchestrator.domain.recordings import Recording, RecordingKind, RecordingStatus
from orchestrator.services.recordings import DownloadLink

from .base import ConsoleProducer, ConsoleViewer, FormDep, render
from .recording_views import STATUS_BADGE, human_duration, human_size, media_url, playable, segment_url

router = APIRouter(include_in_schema=False)

PRIVATE = {"Cache-Control": "private, max-age=300"}


def _outcome(c: Container, recording: Recording) -> EgressOutcome | None:
    try:
        record = c.egresses.get(recording.egress_pk)
    except NotFound:
        return None
    return EgressOutcome(record.status, record.error)


@router.get("/recordings/{recording_id}", response_class=HTMLResponse)
async def recording_page(recording_id: str, request: Request, c: ContainerDep, who: ConsoleViewer) -> HTMLResponse:
    """A recording's facts, a player (MP4 in <video>, HLS through hls.js loaded on play), download, delete, and
    in plain words why it is missing, deleted or partial."""
    view = await c.recordings.view(recording_id)
    r = view.recording
    deleted_by = next((e.actor for e in reversed(view.events) if e.status_after == RecordingStatus.DELETED), "")
    why = explain_recording(r, await run_in_threadpool(_outcome, c, r), deleted_by=deleted_by)
    return render(request, "recording.html.j2", who, title=f"Recording of {r.room_name or r.id}", r=r,
                  events=view.events, why=why, badge=STATUS_BADGE, human_size=human_size,
                  human_duration=human_duration, playable=playable(r), media_url=media_url(r),
                  hls=r.kind == RecordingKind.HLS, audio=r.content_type.startswith("audio/"),
                  downloadable=r.status in (RecordingStatus.READY, RecordingStatus.VERIFYING),
                  name=posixpath.basename(r.key))


@router.get("/recordings/{recording_id}/media")
async def recording_media(recording_id: str, c: ContainerDep, who: ConsoleViewer, key: str = "") -> Response:
    """The recording's file (or one HLS segment with `key`) for the page's player, with Range support; an S3
    object is a redirect to a presigned link."""
    found = await c.recordings.media(recording_id, key)
    if isinstance(found, DownloadLink):
        return RedirectResponse(found.url, status_code=307)
    return FileResponse(found.path, media_type=found.media_type, headers=PRIVATE,
                        content_disposition_type="inline", filename=found.path.name)


@router.get("/recordings/{recording_id}/playlist.m3u8")
async def recording_playlist(recording_id: str, c: ContainerDep, who: ConsoleViewer) -> Response:
    """An HLS recording's playlist whose segments are this page's media links (S3 segments: presigned)."""
    text = await c.recordings.playlist_for(recording_id, lambda key: segment_url(recording_id, key))
    return Response(text, media_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-store"})


@router.get("/recordings/{recording_id}/download")
async def recording_download(recording_id: str, c: ContainerDep, who: ConsoleViewer) -> Response:
    """A file as an attachment; an HLS recording: its signed playlist link, which players such as VLC open."""
    view = await c.recordings.view(recording_id)
    if view.recording.kind == RecordingKind.HLS:
        link = await c.recordings.download_link(recording_id)
        return RedirectResponse(link.url, status_code=303)
    found = await c.recordings.media(recording_id)
    if isinstance(found, DownloadLink):  # presigned with Content-Disposition: attachment
        return RedirectResponse(found.url, status_code=303)
    return FileResponse(found.path, media_type=found.media_type, headers=PRIVATE, filename=found.path.name)


@router.post("/recordings/{recording_id}/delete")
async def recording_delete(recording_id: str, form: FormDep, c: ContainerDep, who: ConsoleProducer) -> Response:
    """Delete the stored objects (the recording stays in the catalog, deleted), then back to the list."""
    deleted = await c.recordings.delete(recording_id, f"deleted by {who.name}", actor=who.name)
    return RedirectResponse(f"/recordings?deleted={deleted.id}", status_code=303)
