"""How the recordings pages show a recording: sizes and durations in human units, status badges, the player."""

from __future__ import annotations

from urllib.parse import quote

from orchestrator.domain.recordings import Recording, RecordingKind, RecordingStatus

STATUS_BADGE = {
    RecordingStatus.READY: "available", RecordingStatus.VERIFYING: "verifying",
    RecordingStatus.MISSING: "missing", RecordingStatus.DELETED: "deleted",
}
"""The console.css badge class of each status."""


def human_size(size_bytes: int) -> str:
    """1536 -> '1.5 KB', 734003200 -> '700 MB' (powers of 1024, as file managers show them)."""
    if size_bytes <= 0:
        return "—"
    value = float(size_bytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    if unit == "bytes":
        return f"{size_bytes} bytes"
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


def human_duration(seconds: float) -> str:
    """75.4 -> '1 min 15 s', 3725 -> '1 h 2 min 5 s', 0 -> '—'."""
    if seconds <= 0:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{total} s"
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return " ".join(part for part in (f"{h} h" if h else "", f"{m} min" if m or h else "", f"{s} s" if s else "")
                    if part)


def playable(recording: Recording) -> bool:
    """Whether the page offers a player: the objects exist (or are being checked) and it is audio or video."""
    if recording.status not in (RecordingStatus.READY, RecordingStatus.VERIFYING):
        return False
    return recording.kind == RecordingKind.HLS or recording.content_type.startswith(("video/", "audio/"))


def media_url(recording: Recording) -> str:
    """Same-origin URL a player fetches with the console session (MP4, or the HLS playlist)."""
    rid = quote(recording.id, safe="")
    return f"/recordings/{rid}/playlist.m3u8" if recording.kind == RecordingKind.HLS else f"/recordings/{rid}/media"


def segment_url(recording_id: str, key: str) -> str:
    return f"/recordings/{quote(recording_id, safe='')}/media?key={quote(key, safe='')}"
