"""What a caller asks an egress to do: sources, outputs, presets, and their validation (pure)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from .egress import EgressKind
from .errors import InvalidInput
from .redact import MUX_RTMPS_INGEST, redact_stream_url

# LiveKit's own check for RTMP URLs (egress pkg/config/urls.go).
RTMP_URL = re.compile(r"^(rtmps?://)(.*/)(.*/)(\S*)( live=1)?$")


class Preset(StrEnum):
    """Encoding presets by name; the adapter maps them to LiveKit's EncodingOptionsPreset."""

    P720_30 = "720p30"
    P720_60 = "720p60"
    P1080_30 = "1080p30"
    P1080_60 = "1080p60"
    PORTRAIT_720_30 = "portrait-720p30"
    PORTRAIT_720_60 = "portrait-720p60"
    PORTRAIT_1080_30 = "portrait-1080p30"
    PORTRAIT_1080_60 = "portrait-1080p60"


class FileType(StrEnum):
    MP4 = "mp4"
    OGG = "ogg"
    MP3 = "mp3"
    WEBM = "webm"  # track egress only: LiveKit picks the container from the codec


@dataclass(frozen=True)
class S3Target:
    """Where an output is uploaded; credentials come from the service's settings, never from callers' logs."""

    bucket: str
    region: str = ""
    endpoint: str = ""
    access_key: str = ""
    secret: str = ""
    force_path_style: bool = False


NO_STORAGE = ("no storage for recordings is configured: set ORCHESTRATOR_S3_BUCKET (with ORCHESTRATOR_S3_REGION, "
              "_ENDPOINT, _ACCESS_KEY, _SECRET as needed) or ORCHESTRATOR_RECORDINGS_DIR (a directory shared with "
              "LiveKit's egress workers)")


def require_storage(available: bool, field: str) -> None:
    """Refuse, naming `field`, what would write files (MP4, HLS, images) when there is nowhere to keep them."""
    if not available:
        raise InvalidInput(field, NO_STORAGE)


def require_storage_for(request: EgressRequest, available: bool, field: str) -> EgressRequest:
    """`request` itself, unless it writes files while there is no storage: then InvalidInput naming `field`
    and the settings to set. Nothing that writes files goes to LiveKit without somewhere to keep them."""
    if request.writes_files:
        require_storage(available, field)
    return request


@dataclass(frozen=True)
class FileOutput:
    filepath: str = ""
    file_type: FileType | None = None


@dataclass(frozen=True)
class HlsOutput:
    filename_prefix: str = ""
    playlist_name: str = "playlist.m3u8"
    live_playlist_name: str = ""
    segment_duration_s: int = 6


@dataclass(frozen=True)
class StreamOutput:
    urls: tuple[str, ...]  # unredacted; never stored or logged as is


@dataclass(frozen=True)
class ImageOutput:
    capture_interval_s: int = 10
    filename_prefix: str = ""
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class EgressRequest:
    """One egress as a caller asked for it, already validated."""

    kind: EgressKind
    room_name: str = ""
    layout: str = ""
    custom_base_url: str = ""
    audio_only: bool = False
    video_only: bool = False
    preset: Preset | None = None
    track_id: str = ""
    audio_track_id: str = ""
    video_track_id: str = ""
    identity: str = ""
    screen_share: bool = False
    url: str = ""
    file: FileOutput | None = None
    hls: HlsOutput | None = None
    stream: StreamOutput | None = None
    images: ImageOutput | None = None
    storage: S3Target | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # Provenance, stored with the request so its recordings can be found by what made them.
    broadcast_id: str = ""  # the broadcast whose run this egress carries
    rule_id: str = ""  # the automatic-recording rule that started it

    @property
    def writes_files(self) -> bool:
        """File, HLS or image outputs: they need storage (S3 or a volume shared with egress)."""
        return bool(self.file or self.hls or self.images)

    def secrets(self) -> frozenset[str]:
        """Every string in this request that must never be shown."""
        found: set[str] = set()
        if self.stream:
            for url in self.stream.urls:
                found.add(url)
                key = stream_key_of(url)
                if key:
                    found.add(key)
        if self.storage:
            found.update(s for s in (self.storage.access_key, self.storage.secret) if s)
        return frozenset(found)

    def redacted(self) -> dict[str, object]:
        """The request as it may be stored and shown: stream keys masked, no storage credentials."""
        outputs: list[dict[str, object]] = []
        if self.file:
            outputs.append({"type": "file", "filepath": self.file.filepath,
                            "file_type": self.file.file_type.value if self.file.file_type else None})
        if self.hls:
            outputs.append({"type": "hls", "filename_prefix": self.hls.filename_prefix,
                            "playlist_name": self.hls.playlist_name,
                            "segment_duration_s": self.hls.segment_duration_s})
        if self.stream:
            outputs.append({"type": "stream", "urls": [redact_stream_url(u) for u in self.stream.urls]})
        if self.images:
            outputs.append({"type": "images", "capture_interval_s": self.images.capture_interval_s,
                            "filename_prefix": self.images.filename_prefix})
        body: dict[str, object] = {
            "kind": self.kind.value, "room_name": self.room_name, "layout": self.layout,
            "custom_base_url": _strip_query(self.custom_base_url), "audio_only": self.audio_only,
            "video_only": self.video_only, "preset": self.preset.value if self.preset else None,
            "track_id": self.track_id, "audio_track_id": self.audio_track_id,
            "video_track_id": self.video_track_id, "identity": self.identity,
            "url": _strip_query(self.url), "outputs": outputs,
            "broadcast_id": self.broadcast_id, "rule_id": self.rule_id,
        }
        if self.storage:
            body["storage"] = {"bucket": self.storage.bucket, "region": self.storage.region,
                               "endpoint": self.storage.endpoint}
        return {k: v for k, v in body.items() if v not in ("", None, False) or k in ("kind", "outputs")}

    def fingerprint(self) -> str:
        """A digest of what LiveKit echoes back in EgressInfo.request, to recognise our own egress."""
        return fingerprint_of(
            kind=self.kind, room_name=self.room_name, layout=self.layout, identity=self.identity,
            track_ids=(self.track_id, self.audio_track_id, self.video_track_id),
            file_path=self.file.filepath if self.file else None,
            stream_urls=tuple(stream_target(u) for u in self.stream.urls) if self.stream else (),
        )


def fingerprint_of(
    *, kind: EgressKind | None, room_name: str, layout: str, identity: str,
    track_ids: tuple[str, str, str], file_path: str | None, stream_urls: tuple[str, ...],
) -> str:
    data = json.dumps([kind.value if kind else "", room_name, layout, identity, list(track_ids),
                       file_path, sorted(stream_urls)])
    return hashlib.sha256(data.encode()).hexdigest()[:32]


def stream_target(url: str) -> str:
    """A stream URL without its key: what identifies the destination in LiveKit's redacted echo."""
    url = normalise_stream_url(url)
    return url.split("?", 1)[0].rstrip("/").rpartition("/")[0]


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def mux_url(stream_key: str) -> str:
    return MUX_RTMPS_INGEST + stream_key


def normalise_stream_url(url: str) -> str:
    """`mux://KEY` becomes Mux's RTMPS ingest URL, as LiveKit does."""
    if url.lower().startswith("mux://"):
        return mux_url(url[len("mux://") :])
    return url


def stream_key_of(url: str) -> str:
    url = normalise_stream_url(url)
    path = urlsplit(url).path if "://" in url else ""
    return path.rstrip("/").rpartition("/")[2]


def check_stream_url(url: str, field_name: str) -> str:
    """Validate an RTMP/RTMPS destination the way LiveKit will, without echoing the key."""
    url = normalise_stream_url(url.strip())
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("rtmp", "rtmps"):
        raise InvalidInput(field_name, "must be an rtmp:// or rtmps:// URL")
    if not RTMP_URL.match(url) or not urlsplit(url).hostname:
        raise InvalidInput(field_name, "must look like rtmp(s)://host[/path]/app/stream_key")
    return url


def check_mux_key(key: str, field_name: str) -> str:
    key = key.strip()
    if not key or not re.fullmatch(r"[A-Za-z0-9_-]{8,128}", key):
        raise InvalidInput(field_name, "must be a Mux stream key (letters, digits, '-' and '_')")
    return mux_url(key)


_REQUIRED_BY_KIND: dict[EgressKind, tuple[str, ...]] = {
    EgressKind.ROOM_COMPOSITE: ("room_name",),
    EgressKind.TRACK_COMPOSITE: ("room_name",),
    EgressKind.TRACK: ("room_name", "track_id"),
    EgressKind.PARTICIPANT: ("room_name", "identity"),
    EgressKind.WEB: ("url",),
}


def validate(request: EgressRequest) -> EgressRequest:
    """Check a request against what LiveKit will accept; raise InvalidInput naming the field."""
    for name in _REQUIRED_BY_KIND[request.kind]:
        if not getattr(request, name):
            raise InvalidInput(name, f"is required for a {request.kind.value} egress")
    if request.room_name and len(request.room_name) > 256:
        raise InvalidInput("room_name", "is longer than 256 characters")
    if request.kind == EgressKind.TRACK_COMPOSITE and not (request.audio_track_id or request.video_track_id):
        raise InvalidInput("audio_track_id", "audio_track_id or video_track_id is required")
    if request.audio_only and request.video_only:
        raise InvalidInput("audio_only", "audio_only and video_only cannot both be true")
    if request.kind == EgressKind.WEB and urlsplit(request.url).scheme not in ("http", "https"):
        raise InvalidInput("url", "must be an http(s) URL")
    outputs = [o for o in (request.file, request.hls, request.stream, request.images) if o]
    if not outputs:
        raise InvalidInput("outputs", "at least one output is required")
    if request.images and not (request.file or request.hls or request.stream):
        raise InvalidInput("outputs", "image snapshots need a file, HLS or stream output beside them")
    if request.images and request.audio_only:
        raise InvalidInput("outputs", "image snapshots cannot be taken of an audio-only egress")
    if request.kind == EgressKind.TRACK:
        if request.hls or request.stream or request.images:
            raise InvalidInput("outputs", "a track egress writes exactly one file")
        if request.preset:
            raise InvalidInput("preset", "a track egress is not re-encoded; leave preset out")
    if request.layout and request.kind != EgressKind.ROOM_COMPOSITE:
        raise InvalidInput("layout", "only a room_composite egress has a layout")
    if request.file and request.file.file_type == FileType.WEBM and request.kind != EgressKind.TRACK:
        raise InvalidInput("outputs.file_type", "webm is only written by track egress")
    if request.hls and not 1 <= request.hls.segment_duration_s <= 60:
        raise InvalidInput("outputs.segment_duration_s", "must be between 1 and 60 seconds")
    if request.images and not 1 <= request.images.capture_interval_s <= 3600:
        raise InvalidInput("outputs.capture_interval_s", "must be between 1 and 3600 seconds")
    return request
