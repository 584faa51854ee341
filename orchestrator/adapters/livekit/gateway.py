"""LiveKitEgressGateway: LiveKit's Egress and Room APIs through livekit-api; protobuf stops here."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp.connector import Connection
from google.protobuf.json_format import MessageToDict
from livekit import api
from livekit.api.egress_service import EgressService
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from yarl import URL

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
from orchestrator.domain.errors import (
    EgressAlreadyEnded,
    EgressUnknownToLiveKit,
    LiveKitRejected,
    LiveKitUnavailable,
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
from orchestrator.metrics import Metrics

T = TypeVar("T")
log = logging.getLogger(__name__)

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
_TRANSIENT_CODES = frozenset({"unavailable", "deadline_exceeded"})
_PARTICIPANT_KIND = {api.ParticipantInfo.STANDARD: "standard", api.ParticipantInfo.INGRESS: "ingress",
                     api.ParticipantInfo.EGRESS: "egress", api.ParticipantInfo.SIP: "sip",
                     api.ParticipantInfo.AGENT: "agent"}


# Told when a start request is written to LiveKit's connection (set per call; read by aiohttp's trace hook).
_ON_SENT: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("on_sent", default=None)


async def _request_written(session: aiohttp.ClientSession, ctx: Any, params: Any) -> None:
    callback = _ON_SENT.get()
    if callback is not None:
        _ON_SENT.set(None)
        callback()


_EGRESS_TOKEN_TTL = timedelta(minutes=10)
_IDLE_KEEP_S = 50.0
_POOL_LIMIT = 512
_REMEMBER_PEAK_S = 600.0  # keep_warm keeps as many connections as the busiest moment of the last 10 minutes


class LiveKitEgressGateway:
    """Every call this service makes to LiveKit goes through here.

    Errors come out as the domain's LiveKit errors, with stream keys and storage secrets redacted.
    Idempotent calls (list, stop, layout) are retried on transient failures; starts are not retried
    here, because a blind retry could make a second recording: the egress service decides.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout_s: float = 10.0,
        start_timeout_s: float = 35.0,
        attempts: int = 3,
        backoff_s: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._url, self._key, self._secret = url, api_key, api_secret
        self._timeout_s, self._start_timeout_s = timeout_s, start_timeout_s
        self._attempts, self._backoff_s = attempts, backoff_s
        self._metrics = metrics
        self._api: api.LiveKitAPI | None = None
        self._egress_api: api.LiveKitAPI | None = None
        self._egress_renew_at = 0.0
        self._session: aiohttp.ClientSession | None = None
        self._busy = self._peak = 0  # calls in flight now; most at once since the last keep_warm
        self._peaks: list[tuple[float, int]] = []  # (when, peak) at each keep_warm

    # LiveKitAPI must be built inside a running event loop, so build it on first use. Our own session:
    # aiohttp's default of 100 connections would hold back a few hundred broadcasts due at once.
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            trace = aiohttp.TraceConfig()
            trace.on_request_chunk_sent.append(_request_written)  # called just before the body is written
            # Idle connections are kept 50 s (load balancers commonly drop them after 60 s of silence).
            connector = aiohttp.TCPConnector(limit=_POOL_LIMIT, keepalive_timeout=_IDLE_KEEP_S)
            self._session = aiohttp.ClientSession(connector=connector, trace_configs=[trace])
        return self._session

    def _client(self) -> api.LiveKitAPI:
        """Room calls: livekit-api signs a token per call (their grants name the room)."""
        if self._api is None:
            self._api = api.LiveKitAPI(self._url, self._key, self._secret, session=self._http())
        return self._api

    def _egress(self) -> EgressService:
        """Egress calls all need the same grant (roomRecord): one token, signed again halfway through its
        life, instead of one per call (signing was 40% of a start call's CPU)."""
        now = time.monotonic()
        if self._egress_api is None or now >= self._egress_renew_at:
            token = (api.AccessToken(self._key, self._secret).with_grants(api.VideoGrants(room_record=True))
                     .with_ttl(_EGRESS_TOKEN_TTL).to_jwt())
            self._egress_api = api.LiveKitAPI.with_token(token, self._url, session=self._http())
            self._egress_renew_at = now + _EGRESS_TOKEN_TTL.total_seconds() / 2
        return self._egress_api.egress

    async def aclose(self) -> None:
        for client in (self._api, self._egress_api):
            if client is not None:
                await client.aclose()
        if self._session is not None:
            await self._session.close()
        self._api = self._egress_api = self._session = None

    # ---- egress ------------------------------------------------------------------------------

    async def start(self, request: EgressRequest, on_sent: Callable[[], None] | None = None) -> Observation:
        """One start call, never retried here. May raise LiveKitUnavailable even though it started.

        `on_sent` is called once, when the request is written to LiveKit's connection."""
        token = _ON_SENT.set(on_sent)
        try:
            egress = self._egress()
            method, call = _start_call(egress, request)
            info = await self._call(method, lambda: call, secrets=request.secrets(), retry=False,
                                    timeout_s=self._start_timeout_s)
        finally:
            _ON_SENT.reset(token)
        return observation_of(info)

    async def stop(self, egress_id: str) -> Observation:
        info = await self._call("StopEgress", lambda: self._egress().stop_egress(
            api.StopEgressRequest(egress_id=egress_id)))
        return observation_of(info)

    async def update_layout(self, egress_id: str, layout: str) -> Observation:
        info = await self._call("UpdateLayout", lambda: self._egress().update_layout(
            api.UpdateLayoutRequest(egress_id=egress_id, layout=layout)))
        return observation_of(info)

    async def update_stream(self, egress_id: str, add: list[str], remove: list[str]) -> Observation:
        add = [normalise_stream_url(u) for u in add]
        remove = [normalise_stream_url(u) for u in remove]
        secrets = frozenset(add + remove)
        info = await self._call("UpdateStream", lambda: self._egress().update_stream(
            api.UpdateStreamRequest(egress_id=egress_id, add_output_urls=add, remove_output_urls=remove)),
            secrets=secrets, retry=False)
        return observation_of(info)

    async def list_egresses(
        self, *, room_name: str = "", egress_id: str = "", active: bool = False
    ) -> list[Observation]:
        response = await self._call("ListEgress", lambda: self._egress().list_egress(
            api.ListEgressRequest(room_name=room_name, egress_id=egress_id, active=active)))
        return [observation_of(info) for info in response.items]

    # ---- rooms -------------------------------------------------------------------------------

    async def list_rooms(self, names: list[str] | None = None) -> list[RoomSnapshot]:
        response = await self._call("ListRooms", lambda: self._client().room.list_rooms(
            api.ListRoomsRequest(names=names or [])))
        return [RoomSnapshot(name=r.name, sid=r.sid, num_participants=r.num_participants,
                             num_publishers=r.num_publishers, metadata=r.metadata,
                             active_recording=r.active_recording) for r in response.rooms]

    async def list_participants(self, room_name: str) -> list[ParticipantSnapshot]:
        """ListParticipants: who is in the room and what each publishes (empty if the room is gone)."""
        try:
            response = await self._call("ListParticipants", lambda: self._client().room.list_participants(
                api.ListParticipantsRequest(room=room_name)))
        except LiveKitRejected as exc:
            if exc.twirp_code == "not_found":
                return []
            raise
        return [ParticipantSnapshot(
            identity=p.identity, kind=_PARTICIPANT_KIND.get(p.kind, "standard"),
            tracks=tuple(TrackSnapshot(sid=t.sid, type=api.TrackType.Name(t.type),
                                       source=api.TrackSource.Name(t.source), mime_type=t.mime_type)
                         for t in p.tracks)) for p in response.participants]

    async def create_room(
        self, name: str, *, metadata: str = "", empty_timeout: int = 0, departure_timeout: int = 0,
        composite: EgressRequest | None = None,
    ) -> CreatedRoom:
        """CreateRoom (idempotent), with a room-composite auto egress when `composite` is given."""
        request = api.CreateRoomRequest(name=name, metadata=metadata, empty_timeout=empty_timeout,
                                        departure_timeout=departure_timeout)
        secrets: frozenset[str] = frozenset()
        if composite is not None:
            secrets = composite.secrets()
            request.egress.room.CopyFrom(api.RoomCompositeEgressRequest(
                room_name=name, layout=composite.layout, custom_base_url=composite.custom_base_url,
                audio_only=composite.audio_only, video_only=composite.video_only, **_outputs(composite)))
        room = await self._call("CreateRoom", lambda: self._client().room.create_room(request),
                                secrets=secrets, retry=composite is None)
        return CreatedRoom(name=room.name, sid=room.sid, metadata=room.metadata,
                           creation_time_ms=room.creation_time_ms or room.creation_time * 1000)

    async def check_access(self) -> None:
        """Reachable, and our credentials may record (ListEgress needs the roomRecord grant)."""
        await self._call("ListEgress", lambda: self._egress().list_egress(
            api.ListEgressRequest(room_name="orchestrator-access-check", active=True)))

    async def keep_warm(self, connections: int) -> int:
        """Keep connections to LiveKit open and idle in the pool, ahead of need: `connections`, or as many
        as were in use at once at the busiest moment of the last ten minutes if that was more (at most the
        pool's limit). 0 keeps none.

        A burst of rooms starting together makes as many start calls at once; each that finds no idle
        connection opens one then (~130 us of CPU per connect() on loopback here, 9 ms for 68 of them in a
        burst of 100; over TLS in production a handshake, round trips and its CPU). Taking them from the
        pool at once hands out the idle ones and opens only the rest; all go back idle. Nothing is sent:
        LiveKit sees open connections. Best effort: a failure is logged and the calls connect themselves.
        Returns how many are ready.
        """
        now = time.monotonic()
        self._peaks = [(at, peak) for at, peak in self._peaks if now - at < _REMEMBER_PEAK_S]
        self._peaks.append((now, self._peak))
        self._peak = self._busy
        if connections <= 0:
            return 0
        connections = min(max(connections, *(peak for _, peak in self._peaks)), _POOL_LIMIT)
        session = self._http()
        connector = session.connector
        if connector is None or session.closed:
            return 0
        # Never sent: it only names the pool (scheme, host, port, TLS) that the calls will use.
        target = urlsplit(self._url)
        scheme = target.scheme.replace("ws", "http", 1) if target.scheme.startswith("ws") else target.scheme
        request = aiohttp.ClientRequest("POST", URL(f"{scheme}://{target.netloc}/"), loop=asyncio.get_running_loop())
        timeout = aiohttp.ClientTimeout(connect=self._timeout_s)

        async def take() -> Connection | str:
            try:
                return await connector.connect(request, [], timeout)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return type(exc).__name__

        taken = await asyncio.gather(*(take() for _ in range(connections)))
        failures = sorted({t for t in taken if isinstance(t, str)})
        ready = 0
        for conn in taken:
            if not isinstance(conn, str):
                conn.release()
                ready += 1
        if failures:
            log.warning("could open only %d of %d connections to LiveKit ahead of need (%s)", ready, connections,
                        ", ".join(failures))
        return ready

    # ---- plumbing ----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        make: Callable[[], Awaitable[T]],
        *,
        secrets: frozenset[str] = frozenset(),
        retry: bool = True,
        timeout_s: float | None = None,
    ) -> T:
        if not retry:
            return await self._once(method, make, secrets, timeout_s or self._timeout_s)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff_s, max=10 * max(self._backoff_s, 0.1)),
            retry=retry_if_exception_type(LiveKitUnavailable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, make, secrets, timeout_s or self._timeout_s)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self, method: str, make: Callable[[], Awaitable[T]], secrets: frozenset[str], timeout_s: float
    ) -> T:
        began = time.perf_counter()
        code = ""
        self._busy += 1
        self._peak = max(self._peak, self._busy)
        try:
            # Our own deadline: livekit-api 1.2.2 passes timeout=None per request, which makes aiohttp
            # ignore the session's timeout, so without this a hung LiveKit would hang us forever.
            async with asyncio.timeout(timeout_s):
                return await make()
        except api.ServerError as exc:
            code = exc.code
            raise translate(exc, secrets) from None
        except TimeoutError:
            code = "timeout"
            raise LiveKitUnavailable(f"LiveKit did not answer {method} in time") from None
        except aiohttp.ClientError as exc:
            code = "connection"
            raise LiveKitUnavailable(
                f"LiveKit is unreachable: {redact_text(type(exc).__name__ + ': ' + str(exc), secrets)}"
            ) from None
        finally:
            self._busy -= 1
            if self._metrics is not None:
                self._metrics.livekit_latency.labels(method).observe(time.perf_counter() - began)
                if code:
                    self._metrics.livekit_errors.labels(method, code).inc()


def translate(exc: Any, secrets: frozenset[str] = frozenset()) -> Exception:
    """A livekit-api ServerError as one of our errors, its message redacted."""
    message = redact_text(exc.message or f"HTTP {exc.status}", secrets)
    if exc.code in _TRANSIENT_CODES or exc.status >= 500 or exc.status == 408:
        return LiveKitUnavailable(f"LiveKit is unavailable ({exc.code}): {message}")
    if exc.status == 401:
        # LiveKit's auth layer answers in plain text, so the client only sees code "unknown".
        return LiveKitRejected("unauthenticated", 401,
                               "LiveKit refused our credentials: check LIVEKIT_API_KEY and LIVEKIT_API_SECRET")
    if exc.code == "not_found" and "egress" in message:
        return EgressUnknownToLiveKit(exc.code, exc.status, message)
    if exc.code == "failed_precondition":
        return EgressAlreadyEnded(exc.code, exc.status, message)
    return LiveKitRejected(exc.code, exc.status, message)


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


def _start_call(egress: Any, r: EgressRequest) -> tuple[str, Awaitable[api.EgressInfo]]:
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
    assert file is not None and r.storage is not None  # validated: a track egress writes one file
    return "StartTrackEgress", egress.start_track_egress(api.TrackEgressRequest(
        room_name=r.room_name, track_id=r.track_id,
        file=api.DirectFileOutput(filepath=file.filepath, s3=_s3(r.storage))))


# ---- EgressInfo -> Observation -------------------------------------------------------------------


def _time(ns: int) -> datetime | None:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC) if ns else None


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
    results = Results(
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
    return Observation(
        egress_id=info.egress_id, status=_STATUS.get(info.status, EgressStatus.FAILED),
        room_name=info.room_name, room_id=info.room_id, kind=kind, error=redact_text(info.error),
        error_code=info.error_code, details=info.details, started_at=_time(info.started_at),
        ended_at=_time(info.ended_at), updated_at_ns=info.updated_at or info.started_at,
        results=results, request=request, fingerprint=fingerprint,
    )


_SECRET_FIELDS = {"accessKey", "secret", "sessionToken", "assumeRoleExternalId", "credentials",
                  "accountName", "accountKey", "proxy", "websocketUrl"}


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
