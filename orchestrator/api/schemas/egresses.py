"""Bodies of the egress API (`/v1/egresses`) and their translation to and from the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from orchestrator.domain.egress import EgressEvent, EgressKind, EgressRecord, EgressStatus
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.requests import (
    EgressRequest,
    FileOutput,
    FileType,
    HlsOutput,
    ImageOutput,
    Preset,
    S3Target,
    StreamOutput,
    check_mux_key,
    check_stream_url,
)

from .common import Strict
from .layouts import LayoutOptionsIn, resolve_layout


class S3FileOut(Strict):
    type: Literal["s3", "file"] = Field(description="a file in the configured storage: S3, else the recordings "
                                                    "directory (`file` and `s3` mean the same)")
    filepath: str = Field("", max_length=1024, description="Object key or path; LiveKit's {room_name}, {time}... work")
    file_type: FileType | None = None


class HlsOut(Strict):
    type: Literal["hls"]
    filename_prefix: str = Field("", max_length=1024)
    playlist_name: str = Field("playlist.m3u8", max_length=256)
    live_playlist_name: str = Field("", max_length=256)
    segment_duration_s: int = 6


class RtmpOut(Strict):
    type: Literal["rtmp"]
    url: str = Field(max_length=2048, description="rtmp(s)://host[/path]/app/stream_key")


class MuxOut(Strict):
    type: Literal["mux"]
    stream_key: str = Field(max_length=256)


class ImagesOut(Strict):
    type: Literal["images"]
    capture_interval_s: int = 10
    filename_prefix: str = Field("", max_length=1024)
    width: int = Field(0, ge=0, le=7680)
    height: int = Field(0, ge=0, le=7680)


OutputIn = Annotated[S3FileOut | HlsOut | RtmpOut | MuxOut | ImagesOut, Field(discriminator="type")]


class EgressCreate(Strict):
    kind: EgressKind
    room_name: str = Field("", max_length=256)
    layout: str = Field("", max_length=64)
    layout_options: LayoutOptionsIn | None = None
    audio_only: bool = False
    video_only: bool = False
    preset: Preset | None = None
    track_id: str = Field("", max_length=128)
    audio_track_id: str = Field("", max_length=128)
    video_track_id: str = Field("", max_length=128)
    identity: str = Field("", max_length=256)
    screen_share: bool = False
    url: str = Field("", max_length=4096)
    outputs: list[OutputIn] = Field(min_length=1, max_length=16)

    def to_request(self, storage: S3Target | None, public_url: str) -> EgressRequest:
        file = hls = images = None
        urls: list[str] = []
        for i, out in enumerate(self.outputs):
            where = f"outputs.{i}"
            if isinstance(out, S3FileOut):
                if file:
                    raise InvalidInput(where, "only one file output per egress")
                file = FileOutput(filepath=out.filepath, file_type=out.file_type)
            elif isinstance(out, HlsOut):
                if hls:
                    raise InvalidInput(where, "only one HLS output per egress")
                hls = HlsOutput(out.filename_prefix, out.playlist_name, out.live_playlist_name,
                                out.segment_duration_s)
            elif isinstance(out, RtmpOut):
                urls.append(check_stream_url(out.url, f"{where}.url"))
            elif isinstance(out, MuxOut):
                urls.append(check_mux_key(out.stream_key, f"{where}.stream_key"))
            else:
                if images:
                    raise InvalidInput(where, "only one images output per egress")
                images = ImageOutput(out.capture_interval_s, out.filename_prefix, out.width, out.height)
        if len(set(urls)) != len(urls):
            raise InvalidInput("outputs", "the same stream destination is listed twice")
        layout, custom_base_url = resolve_layout(
            self.layout, public_url, self.layout_options.model_dump(exclude_none=True) if self.layout_options else None)
        return EgressRequest(
            kind=self.kind, room_name=self.room_name.strip(), layout=layout, custom_base_url=custom_base_url,
            audio_only=self.audio_only, video_only=self.video_only, preset=self.preset,
            track_id=self.track_id, audio_track_id=self.audio_track_id, video_track_id=self.video_track_id,
            identity=self.identity, screen_share=self.screen_share, url=self.url, file=file, hls=hls,
            stream=StreamOutput(tuple(urls)) if urls else None, images=images,
            storage=storage if (file or hls or images) else None,
        )


class EgressUpdate(Strict):
    layout: str | None = Field(None, max_length=64)
    add_stream_urls: list[str] = Field(default_factory=list, max_length=16)
    remove_stream_urls: list[str] = Field(default_factory=list, max_length=16)


class FileOut(BaseModel):
    filename: str
    location: str
    size_bytes: int
    duration_s: float
    ended_at: datetime | None


class StreamOutInfo(BaseModel):
    url: str
    status: str
    error: str
    started_at: datetime | None
    ended_at: datetime | None
    retries: int


class SegmentsOut(BaseModel):
    playlist_name: str
    playlist_location: str
    segment_count: int
    size_bytes: int
    duration_s: float


class EventOut(BaseModel):
    at: datetime
    source: str
    outcome: str
    status_before: EgressStatus | None
    status_after: EgressStatus
    event_id: str
    detail: str
    actor: str  # who asked: a person's or API key's name; "system" when the service acted itself


class EgressOut(BaseModel):
    id: str
    egress_id: str | None
    kind: EgressKind | None
    room_name: str
    room_id: str
    status: EgressStatus
    origin: str
    error: str
    error_code: int
    details: str
    request: dict[str, Any]
    outputs: list[dict[str, Any]]
    files: list[FileOut]
    streams: list[StreamOutInfo]
    segments: list[SegmentsOut]
    images: list[dict[str, Any]]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime
    events: list[EventOut] | None = None

    @classmethod
    def of(cls, rec: EgressRecord, events: list[EgressEvent] | None = None) -> EgressOut:
        r = rec.results
        outputs = rec.request.get("outputs", [])
        return cls(
            id=rec.id, egress_id=rec.egress_id, kind=rec.kind, room_name=rec.room_name, room_id=rec.room_id,
            status=rec.status, origin=rec.origin.value, error=rec.error, error_code=rec.error_code,
            details=rec.details, request=rec.request, outputs=outputs if isinstance(outputs, list) else [],
            files=[FileOut(filename=f.filename, location=f.location, size_bytes=f.size_bytes,
                           duration_s=f.duration_s, ended_at=f.ended_at) for f in r.files],
            streams=[StreamOutInfo(url=s.url, status=s.status, error=s.error, started_at=s.started_at,
                                   ended_at=s.ended_at, retries=s.retries) for s in r.streams],
            segments=[SegmentsOut(playlist_name=s.playlist_name, playlist_location=s.playlist_location,
                                  segment_count=s.segment_count, size_bytes=s.size_bytes,
                                  duration_s=s.duration_s) for s in r.segments],
            images=[{"filename_prefix": i.filename_prefix, "image_count": i.image_count} for i in r.images],
            created_at=rec.created_at, started_at=rec.started_at, ended_at=rec.ended_at,
            updated_at=rec.updated_at,
            events=[EventOut(at=e.at, source=e.source.value, outcome=e.outcome.value,
                             status_before=e.status_before, status_after=e.status_after,
                             event_id=e.event_id, detail=e.detail, actor=e.actor) for e in events]
            if events is not None else None,
        )


class EgressPage(BaseModel):
    items: list[EgressOut]
    next_cursor: str | None
