"""Protobuf <-> domain for LiveKit: start requests, EgressInfo as observations, rooms, participants; redaction."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from livekit import api
from livekit.api.egress_service import EgressService

from orchestrator.domain.egress import (
    EgressKind,
    EgressStatus,
    FileResult,
    ImageResult,
    Observation,
    Results,
    RoomSnapshot,
    SegmentResult,
    StreamResult,
)
from orchestrator.domain.redact import redact_stream_url, redact_text
from orchestrator.domain.requests import (
    EgressRequest,
    FileType,
    Preset,
    S3Target,
    fingerprint_of,
    normalise_stream_url,
    stream_target,
)
from orchestrator.domain.sessions import CreatedRoom, ParticipantSnapshot, TrackSnapshot

_STATUS = {
    api.EGRESS_STARTING: EgressStatus.STARTING,
    api.EGRESS_ACTIVE: EgressStatus.ACTIVE,
    api.EGRESS_ENDING: EgressStatus.ENDING,
    api.EGRESS_COMPLETE: EgressStatus.COMPLETE,
    api.EGRESS_FAILED: EgressStatus.FAILED,
    api.EGRESS_ABORTED: EgressStatus.ABORTED,
    api.EGRESS_LIMIT_REACHED: EgressStatus.LIMIT_REACHED,
}
_KIND = {
    "room_composite": EgressKind.ROOM_COMPOSITE,
    "track_composite": EgressKind.TRACK_COMPOSITE,
    "track": EgressKind.TRACK,
    "participant": EgressKind.PARTICIPANT,
    "web": EgressKind.WEB,
}
_PRESET = {
    Preset.P720_30: api.EncodingOptionsPreset.H264_720P_30,
    Preset.P720_60: api.EncodingOptionsPreset.H264_720P_60,
    Preset.P1080_30: api.EncodingOptionsPreset.H264_1080P_30,
    Preset.P1080_60: api.EncodingOptionsPreset.H264_1080P_60,
    Preset.PORTRAIT_720_30: api.EncodingOptionsPreset.PORTRAIT_H264_720P_30,
    Preset.PORTRAIT_720_60: api.EncodingOptionsPreset.PORTRAIT_H264_720P_60,
    Preset.PORTRAIT_1080_30: api.EncodingOptionsPreset.PORTRAIT_H264_1080P_30,
    Preset.PORTRAIT_1080_60: api.EncodingOptionsPreset.PORTRAIT_H264_1080P_60,
}
_DEFAULT_FILETYPE = api.EncodedFileType.DEFAULT_FILETYPE
_FILE_TYPE = {FileType.MP4: api.EncodedFileType.MP4, FileType.OGG: api.EncodedFileType.OGG,
              FileType.MP3: api.EncodedFileType.MP3}
_STREAM_STATUS = {api.StreamInfo.ACTIVE: "active", api.StreamInfo.FINISHED: "finished",
                  api.StreamInfo.FAILED: "failed"}
_PARTICIPANT_KIND = {api.ParticipantInfo.STANDARD: "standard", api.ParticipantInfo.INGRESS: "ingress",
                     api.ParticipantInfo.EGRESS: "egress", api.ParticipantInfo.SIP: "sip",
                     api.ParticipantInfo.AGENT: "agent"}
_SECRET_FIELDS = {"accessKey", "secret", "sessionToken", "assumeRoleExternalId", "credentials",
                  "accountName", "accountKey", "proxy", "websocketUrl"}


# ---- requests ------------------------------------------------------------------------------------


def _s3(target: S3Target) -> api.S3Upload:
    return api.S3Upload(access_key=target.access_key, secret=target.secret, region=target.region,
                        endpoint=target.endpoint, bucket=target.bucket,
                        force_path_style=target.force_path_style)


def _outputs(request: EgressRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    storage = _s3(request.storage) if request.storage else None
    if request.file:
        out["file_outputs"] = [api.EncodedFileOutput(
            file_type=_FILE_TYPE.get(request.file.file_type, _DEFAULT_FILETYPE) if request.file.file_type
            else _DEFAULT_FILETYPE,
            filepath=request.file.filepath, s3=storage)]
    if request.hls:
        out["segment_outputs"] = [api.SegmentedFileOutput(
            protocol=api.SegmentedFileProtocol.HLS_PROTOCOL, filename_prefix=request.hls.filename_prefix,
            playlist_name=request.hls.playlist_name, live_playlist_name=request.hls.live_playlist_name,
            segment_duration=request.hls.segment_duration_s, s3=storage)]
    if request.stream:
        out["stream_outputs"] = [api.StreamOutput(
            protocol=api.StreamProtocol.RTMP, urls=[normalise_stream_url(u) for u in request.stream.urls])]
    if request.images:
        out["image_outputs"] = [api.ImageOutput(
            capture_interval=request.images.capture_interval_s, width=request.images.width,
            height=request.images.height, filename_prefix=request.images.filename_prefix, s3=storage)]
    if request.preset:
        out["preset"] = _PRESET[request.preset]
    return out


def start_call(egress: EgressService, r: EgressRequest) -> tuple[str, Awaitable[api.EgressInfo]]:
    """The Start*Egress call for a request: (method name, the call not yet awaited)."""
    if r.kind == EgressKind.ROOM_COMPOSITE:
        return "StartRoomCompositeEgress", egress.start_room_composite_egress(api.RoomCompositeEgressRequest(
            room_name=r.room_name, layout=r.layout, custom_base_url=r.custom_base_url,
            audio_only=r.audio_only, video_only=r.video_only, **_outputs(r)))
    if r.kind == EgressKind.WEB:
        return "StartWebEgress", egress.start_web_egress(api.WebEgressRequest(
            url=r.url, audio_only=r.audio_only, video_only=r.video_only, **_outputs(r)))
    if r.kind == EgressKind.PARTICIPANT:
        return "StartParticipantEgress", egress.start_participant_egress(api.ParticipantEgressRequest(
            room_name=r.room_name, identity=r.identity, screen_share=r.screen_share, **_outputs(r)))
    if r.kind == EgressKind.TRACK_COMPOSITE:
        return "StartTrackCompositeEgress", egress.start_track_composite_egress(
            api.TrackCompositeEgressRequest(room_name=r.room_name, audio_track_id=r.audio_track_id,
                                            video_track_id=r.video_track_id, **_outputs(r)))
    file = r.file
    assert file is not None  # validated: a track egress writes one file (no storage: on the worker's disk)
    return "StartTrackEgress", egress.start_track_egress(api.TrackEgressRequest(
        room_name=r.room_name, track_id=r.track_id,
        file=api.DirectFileOutput(filepath=file.filepath, s3=_s3(r.storage) if r.storage else None)))


def create_room_request(name: str, metadata: str, empty_timeout: int, departure_timeout: int,
                        composite: EgressRequest | None) -> api.CreateRoomRequest:
    """CreateRoom, with a room-composite auto egress when `composite` is given."""
    request = api.CreateRoomRequest(name=name, metadata=metadata, empty_timeout=empty_timeout,
                                    departure_timeout=departure_timeout)
    if composite is not None:
        request.egress.room.CopyFrom(api.RoomCompositeEgressRequest(
            room_name=name, layout=composite.layout, custom_base_url=composite.custom_base_url,
            audio_only=composite.audio_only, video_only=composite.video_only, **_outputs(composite)))
    return request


# ---- rooms and participants ----------------------------------------------------------------------


def room_snapshot(r: api.Room) -> RoomSnapshot:
    return RoomSnapshot(name=r.name, sid=r.sid, num_participants=r.num_participants,
                        num_publishers=r.num_publishers, metadata=r.metadata, active_recording=r.active_recording)


def created_room(room: api.Room) -> CreatedRoom:
    return CreatedRoom(name=room.name, sid=room.sid, metadata=room.metadata,
                       creation_time_ms=room.creation_time_ms or room.creation_time * 1000)


def participant_snapshot(p: api.ParticipantInfo) -> ParticipantSnapshot:
    return ParticipantSnapshot(
        identity=p.identity, kind=_PARTICIPANT_KIND.get(p.kind, "standard"),
        tracks=tuple(TrackSnapshot(sid=t.sid, type=api.TrackType.Name(t.type),
                                   source=api.TrackSource.Name(t.source), mime_type=t.mime_type)
                     for t in p.tracks))


# ---- EgressInfo -> Observation -------------------------------------------------------------------


def _time(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC) if ns else None


def _results(info: api.EgressInfo) -> Results:
    return Results(
        files=tuple(FileResult(filename=f.filename, location=f.location, size_bytes=f.size,
                               duration_s=f.duration / 1e9, started_at=_time(f.started_at),
                               ended_at=_time(f.ended_at)) for f in info.file_results),
        streams=tuple(StreamResult(url=redact_stream_url(s.url), status=_STREAM_STATUS.get(s.status, "active"),
                                   error=redact_text(s.error), started_at=_time(s.started_at),
                                   ended_at=_time(s.ended_at), retries=s.retries)
                      for s in info.stream_results),
        segments=tuple(SegmentResult(playlist_name=s.playlist_name, playlist_location=s.playlist_location,
                                     live_playlist_location=s.live_playlist_location,
                                     segment_count=s.segment_count, size_bytes=s.size,
                                     duration_s=s.duration / 1e9) for s in info.segment_results),
        images=tuple(ImageResult(filename_prefix=i.filename_prefix, image_count=i.image_count)
                     for i in info.image_results),
    )


def observation_of(info: api.EgressInfo) -> Observation:
    """Translate an EgressInfo (from a call or a webhook) into our own terms, redacted."""
    which = info.WhichOneof("request")
    kind = _KIND.get(which or "")
    request: dict[str, Any] = {}
    fingerprint = ""
    if which in _KIND:
        message = getattr(info, which)
        request = _redacted_request(message)
        stream_urls: list[str] = []
        file_path = None
        for stream in getattr(message, "stream_outputs", []):
            stream_urls.extend(stream.urls)
        files = list(getattr(message, "file_outputs", []))
        if files:
            file_path = files[0].filepath
        elif which == "track" and message.HasField("file"):
            file_path = message.file.filepath
        fingerprint = fingerprint_of(
            kind=kind, room_name=getattr(message, "room_name", ""), layout=getattr(message, "layout", ""),
            identity=getattr(message, "identity", ""),
            track_ids=(getattr(message, "track_id", ""), getattr(message, "audio_track_id", ""),
                       getattr(message, "video_track_id", "")),
            file_path=file_path, stream_urls=tuple(stream_target(u) for u in stream_urls))
    return Observation(
        egress_id=info.egress_id, status=_STATUS.get(info.status, EgressStatus.FAILED),
        room_name=info.room_name, room_id=info.room_id, kind=kind, error=redact_text(info.error),
        error_code=info.error_code, details=info.details, started_at=_time(info.started_at),
        ended_at=_time(info.ended_at), updated_at_ns=info.updated_at or info.started_at,
        results=_results(info), request=request, fingerprint=fingerprint,
    )


def _redacted_request(message: Any) -> dict[str, Any]:
    """LiveKit already redacts the echoed request; we drop credentials and mask URLs once more."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in _SECRET_FIELDS}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str) and "://" in value:
            return redact_stream_url(value) if not value.startswith("http") else value.split("?", 1)[0]
        return value

    result: dict[str, Any] = clean(MessageToDict(message))
    return result
