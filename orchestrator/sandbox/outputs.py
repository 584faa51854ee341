"""Egress worker request validation and output results (filenames, locations, sizes); pure functions."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from livekit import api

from .redact import redact_stream_url
from .twirp import TwirpError, invalid_field

RTMP_SCHEMES = frozenset({"rtmp", "rtmps", "mux", "twitch"})
ALL_SCHEMES = RTMP_SCHEMES | {"srt", "ws", "wss"}
_RTMP_FORMAT = re.compile(r"^(rtmps?://)(.*/)(.*/)(\S*)( live=1)?$")
_RTMP_FORMAT_HINT = "rtmp urls must be of format rtmp(s)://{host}(/{path})/{app}/{stream_key}( live=1)"


@dataclass
class OutputPlan:
    """The outputs of one egress request, after the one-of-each-type check."""

    file: api.EncodedFileOutput | api.DirectFileOutput | None = None
    stream_protocol: int = 0
    stream_urls: list[str] = field(default_factory=list)
    has_stream: bool = False
    segments: api.SegmentedFileOutput | None = None
    images: list[api.ImageOutput] = field(default_factory=list)

    @property
    def has_storage_output(self) -> bool:
        return self.file is not None or self.segments is not None or bool(self.images)


def invalid_url(url: str, reason: str) -> TwirpError:
    # LiveKit echoes the raw URL (stream key included) in this message.
    return TwirpError("invalid_argument", f"invalid url {url}: {reason}")


def stream_kind(protocol: int, urls: list[str]) -> str:
    """``rtmp``/``srt``/``websocket`` for a StreamOutput; DEFAULT_PROTOCOL is inferred from the first URL."""
    if protocol == api.RTMP:
        return "rtmp"
    if protocol == api.SRT:
        return "srt"
    if protocol == api.WEBSOCKET:
        return "websocket"
    if not urls:
        raise invalid_field("stream protocol")
    scheme = _scheme(urls[0])
    if scheme in RTMP_SCHEMES:
        return "rtmp"
    if scheme == "srt":
        return "srt"
    if scheme in ("ws", "wss"):
        return "websocket"
    raise invalid_url(urls[0], "invalid protocol")


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def normalize_stream_url(url: str, kind: str) -> str:
    """Validate one stream URL like the egress worker and return it with shorthands expanded."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise invalid_url(url, str(exc)) from exc
    scheme = parts.scheme.lower()
    if scheme not in ALL_SCHEMES:
        raise invalid_url(url, "invalid protocol")
    if kind == "rtmp":
        if scheme not in RTMP_SCHEMES:
            raise invalid_url(url, "invalid scheme")
        if scheme == "mux":
            return f"rtmps://global-live.mux.com:443/app/{url[len('mux://') :]}"
        if scheme == "twitch":
            return f"rtmps://live.twitch.tv:443/app/{url[len('twitch://') :]}"
        if not _RTMP_FORMAT.match(url):
            raise invalid_url(url, _RTMP_FORMAT_HINT)
        return url
    allowed = {"srt"} if kind == "srt" else {"ws", "wss"}
    if scheme not in allowed:
        raise invalid_url(url, "invalid scheme")
    return url


def collect_outputs(request: Any) -> OutputPlan:
    """Gather file/stream/segment/image outputs (deprecated oneof included); at most one of each."""
    plan = OutputPlan()
    files: list[Any] = list(getattr(request, "file_outputs", []))
    streams: list[api.StreamOutput] = list(getattr(request, "stream_outputs", []))
    segments: list[api.SegmentedFileOutput] = list(getattr(request, "segment_outputs", []))
    plan.images = list(getattr(request, "image_outputs", []))
    oneof = "output" if "output" in {o.name for o in request.DESCRIPTOR.oneofs} else None
    which = request.WhichOneof(oneof) if oneof else None
    if which == "file":
        files.insert(0, request.file)
    elif which == "stream":
        streams.insert(0, request.stream)
    elif which == "segments":
        segments.insert(0, request.segments)
    if len(files) > 1:
        raise invalid_field("multiple file outputs")
    if len(streams) > 1:
        raise invalid_field("multiple stream outputs")
    if len(segments) > 1:
        raise invalid_field("multiple segmented file outputs")
    plan.file = files[0] if files else None
    plan.segments = segments[0] if segments else None
    if streams:
        plan.has_stream = True
        plan.stream_protocol = streams[0].protocol
        plan.stream_urls = list(streams[0].urls) + [d.url for d in streams[0].destinations]
    if not (plan.file or plan.has_stream or plan.segments or plan.images):
        raise invalid_field("output")
    if plan.has_stream:
        kind = stream_kind(plan.stream_protocol, plan.stream_urls)
        if not plan.stream_urls and not (plan.file or plan.segments or plan.images):
            raise invalid_field("stream url")
        plan.stream_urls = [u for u in plan.stream_urls]
        for url in plan.stream_urls:
            normalize_stream_url(url, kind)
    return plan


def _valid_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate(kind: str, request: Any) -> OutputPlan:
    """Worker-side validation of a Start* request; raises TwirpError with LiveKit's messages."""
    if kind in ("room_composite", "web"):
        if request.audio_only and request.video_only:
            raise invalid_field("audio_only and video_only")
        if (
            kind == "room_composite"
            and request.custom_base_url
            and not _valid_http_url(request.custom_base_url)
        ):
            raise invalid_field("template base url")
        if kind == "web" and not _valid_http_url(request.url):
            raise invalid_field("web url")
    if kind == "participant" and not request.identity:
        raise invalid_field("identity")
    if kind == "track_composite" and not (request.audio_track_id or request.video_track_id):
        raise invalid_field("audio_track_id or video_track_id")
    if kind == "track":
        if not request.track_id:
            raise invalid_field("track_id")
        plan = OutputPlan()
        which = request.WhichOneof("output")
        if which == "file":
            plan.file = request.file
        elif which == "websocket_url":
            normalize_stream_url(request.websocket_url, "websocket")
            plan.has_stream, plan.stream_protocol = True, api.WEBSOCKET
            plan.stream_urls = [request.websocket_url]
        else:
            raise invalid_field("output")
    else:
        if (
            kind != "track"
            and request.WhichOneof("options") == "preset"
            and request.preset == api.PASSTHROUGH
        ):
            raise invalid_field("preset")
        plan = collect_outputs(request)
        if plan.images and getattr(request, "audio_only", False):
            raise invalid_field("audio_only images")
    if kind != "web" and not request.room_name:
        raise invalid_field("token or api key/secret")
    return plan


# ---- templating and results -------------------------------------------------------------------


def expand(template: str, room_name: str, room_id: str, now: datetime) -> str:
    """Apply LiveKit's filename placeholders."""
    return (
        template.replace("{room_name}", room_name)
        .replace("{room_id}", room_id)
        .replace("{time}", now.strftime("%Y-%m-%dT%H%M%S"))
        .replace("{utc}", now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}")
        .replace("{retry}", "0")
    )


def file_extension(file_type: int, audio_only: bool) -> str:
    if file_type == api.OGG:
        return ".ogg"
    if file_type == api.MP3:
        return ".mp3"
    if file_type == api.MP4:
        return ".mp4"
    return ".ogg" if audio_only else ".mp4"


def output_filename(filepath: str, ext: str, room_name: str, room_id: str, now: datetime) -> str:
    """Templated filename; empty or directory paths get ``<room or web>-<time><ext>``."""
    base = room_name or "web"
    if not filepath or filepath.endswith("/"):
        filepath = f"{filepath}{base}-{{time}}"
    name = expand(filepath, room_name, room_id, now)
    stem, dot, suffix = name.rpartition(".")
    if (
        dot
        and "/" not in suffix
        and f".{suffix.lower()}" in (".mp4", ".ogg", ".mp3", ".webm", ".ivf", ".m3u8")
    ):
        name = stem
    return name + ext


def storage_location(output: Any, key: str) -> str:
    """Where an uploaded object ends up (S3 path-style/virtual-host, GCP, Azure, AliOSS, local)."""
    which = output.WhichOneof("output") if "output" in {o.name for o in output.DESCRIPTOR.oneofs} else None
    if which == "s3":
        s3 = output.s3
        if s3.force_path_style:
            endpoint = (s3.endpoint or "https://s3.amazonaws.com").rstrip("/")
            return f"{endpoint}/{s3.bucket}/{key}"
        host = urlsplit(s3.endpoint).netloc or s3.endpoint if s3.endpoint else "s3.amazonaws.com"
        return f"https://{s3.bucket}.{host}/{key}"
    if which == "gcp":
        return f"https://storage.googleapis.com/{output.gcp.bucket}/{key}"
    if which == "azure":
        return (
            f"https://{output.azure.account_name}.blob.core.windows.net/{output.azure.container_name}/{key}"
        )
    if which == "aliOSS":
        return f"https://{output.aliOSS.bucket}.{output.aliOSS.endpoint}/{key}"
    return key


def prefill(info: api.EgressInfo, plan: OutputPlan, *, audio_only: bool, now: datetime) -> list[str]:
    """Fill STARTING results; returns the normalized (unredacted) stream URLs, parallel to stream_results."""
    room_name, room_id = info.room_name, info.room_id
    if plan.file is not None:
        file_type = getattr(plan.file, "file_type", 0)
        ext = file_extension(file_type, audio_only)
        info.file_results.add(filename=output_filename(plan.file.filepath, ext, room_name, room_id, now))
    raw: list[str] = []
    if plan.has_stream:
        kind = stream_kind(plan.stream_protocol, plan.stream_urls) if plan.stream_urls else "rtmp"
        for url in plan.stream_urls:
            raw.append(add_stream(info, url, kind))
    if plan.segments is not None:
        seg = plan.segments
        prefix = expand(seg.filename_prefix or f"{room_name or 'web'}-{{time}}", room_name, room_id, now)
        playlist = (
            expand(seg.playlist_name, room_name, room_id, now) if seg.playlist_name else f"{prefix}.m3u8"
        )
        if not playlist.endswith(".m3u8"):
            playlist += ".m3u8"
        live = expand(seg.live_playlist_name, room_name, room_id, now) if seg.live_playlist_name else ""
        if live and not live.endswith(".m3u8"):
            live += ".m3u8"
        info.segment_results.add(playlist_name=playlist, live_playlist_name=live)
    for image in plan.images:
        prefix = expand(image.filename_prefix or f"{room_name or 'web'}-{{time}}", room_name, room_id, now)
        info.image_results.add(filename_prefix=prefix)
    return raw


def add_stream(info: api.EgressInfo, url: str, kind: str) -> str:
    """Append an ACTIVE StreamInfo with the redacted URL; returns the normalized raw URL."""
    normalized = normalize_stream_url(url, kind)
    info.stream_results.add(url=redact_stream_url(normalized), status=api.StreamInfo.ACTIVE)
    return normalized


def finalize(
    info: api.EgressInfo, plan: OutputPlan, *, active_since_ns: int, now_ns: int, uploaded: bool
) -> None:
    """Fill the final results of an egress that ran from ``active_since_ns`` to ``now_ns``."""
    started = active_since_ns or info.started_at
    duration = max(0, now_ns - started) if active_since_ns else 0
    seconds = duration / 1e9
    for fi in info.file_results:
        fi.started_at = started
        fi.ended_at = now_ns
        fi.duration = duration
        fi.size = int(seconds * 4_500_000 / 8) + 1024
        if uploaded and plan.file is not None:
            fi.location = storage_location(plan.file, fi.filename)
    for seg in info.segment_results:
        seg_len = (plan.segments.segment_duration if plan.segments else 0) or 4
        seg.started_at = started
        seg.ended_at = now_ns
        seg.duration = duration
        seg.segment_count = max(1, math.ceil(seconds / seg_len)) if duration else 0
        seg.size = int(seconds * 4_500_000 / 8) + 512
        if uploaded and plan.segments is not None:
            seg.playlist_location = storage_location(plan.segments, seg.playlist_name)
            if seg.live_playlist_name:
                seg.live_playlist_location = storage_location(plan.segments, seg.live_playlist_name)
    for img, spec in zip(info.image_results, plan.images, strict=False):
        img.started_at = started
        img.ended_at = now_ns
        img.image_count = int(seconds // max(1, spec.capture_interval)) if duration else 0
    for stream in info.stream_results:
        if stream.status == api.StreamInfo.ACTIVE:
            stream.status = api.StreamInfo.FINISHED
            stream.ended_at = now_ns
            if stream.started_at:
                stream.duration = now_ns - stream.started_at


def utc_now(now_ns: int) -> datetime:
    return datetime.fromtimestamp(now_ns / 1e9, tz=UTC)
