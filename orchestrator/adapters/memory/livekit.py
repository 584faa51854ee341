"""FakeLiveKit: LiveKit's Egress and Room APIs in memory, with the errors and redaction the real gateway gives."""

from __future__ import annotations

import dataclasses
import itertools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from orchestrator.domain.egress import (
    EgressKind,
    EgressStatus,
    FileResult,
    Observation,
    Results,
    RoomSnapshot,
    SegmentResult,
    StreamResult,
)
from orchestrator.domain.errors import (
    EgressAlreadyEnded,
    EgressUnknownToLiveKit,
    LiveKitError,
    LiveKitRejected,
    LiveKitUnavailable,
)
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.redact import redact_stream_url
from orchestrator.domain.requests import EgressRequest, normalise_stream_url
from orchestrator.domain.sessions import CreatedRoom, ParticipantSnapshot, TrackSnapshot

from .clock import FakeClock

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
_START_METHOD = {EgressKind.ROOM_COMPOSITE: "StartRoomCompositeEgress", EgressKind.WEB: "StartWebEgress",
                 EgressKind.PARTICIPANT: "StartParticipantEgress", EgressKind.TRACK: "StartTrackEgress",
                 EgressKind.TRACK_COMPOSITE: "StartTrackCompositeEgress"}


class StartFailure(StrEnum):
    """How a scripted start call fails."""

    UNAVAILABLE_BUT_STARTED = "unavailable_but_started"  # LiveKit started it; the answer never came (timeout)
    REJECTED = "rejected"  # LiveKit refused the request (invalid_argument): nothing started
    NO_WORKER = "no_worker"  # no egress worker answered (unavailable): nothing started


@dataclass
class FakeRoom:
    name: str
    sid: str
    metadata: str = ""
    creation_time_ms: int = 0
    empty_timeout: int = 0
    departure_timeout: int = 0
    participants: dict[str, ParticipantSnapshot] = field(default_factory=dict)


@dataclass
class FakeEgress:
    request: EgressRequest
    info: Observation  # what LiveKit would answer about it now
    layout: str = ""
    stream_urls: list[str] = field(default_factory=list)  # unredacted, one per stream result


def _sid(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))


class FakeLiveKit:
    """EgressGateway and RoomGateway in memory. A test adds rooms and participants, scripts failures, and moves
    egresses along (`activate`, `end`); every change queues the webhook LiveKit would send (`take_notices`)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or FakeClock()
        self.rooms: dict[str, FakeRoom] = {}
        self.egresses: dict[str, FakeEgress] = {}
        self.started: list[EgressRequest] = []  # every start request that reached LiveKit, in order
        self.calls: list[str] = []  # every method called, by LiveKit's name
        self.notices: list[WebhookNotice] = []
        self.down = False  # every call fails as when LiveKit is unreachable
        self.access_error: LiveKitError | None = None  # what check_access raises
        self.finish_on_stop = False  # a stopped ACTIVE egress completes at once instead of staying ENDING
        self.before_answer: Callable[[Observation], Awaitable[None]] | None = None  # runs inside a start call
        self._failures: list[StartFailure] = []
        self._ns = 0
        self._event_ids = itertools.count(1)

    # ---- scripting -------------------------------------------------------------------------

    def add_room(self, name: str, *, sid: str = "", metadata: str = "") -> FakeRoom:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = FakeRoom(name, sid or _sid("RM_"), metadata, self._time_ns() // 1_000_000)
            self._notify("room_started", room)
        return room

    def remove_room(self, name: str) -> None:
        room = self.rooms.pop(name)
        self._notify("room_finished", room)

    def join(self, room_name: str, identity: str, *, kind: str = "standard",
             tracks: tuple[TrackSnapshot, ...] = ()) -> ParticipantSnapshot:
        room = self.rooms[room_name]
        participant = room.participants[identity] = ParticipantSnapshot(identity, kind, tracks)
        self._notify("participant_joined", room, identity=identity)
        for track in tracks:
            self._notify("track_published", room, identity=identity, track_sid=track.sid)
        return participant

    def leave(self, room_name: str, identity: str) -> None:
        room = self.rooms[room_name]
        del room.participants[identity]
        self._notify("participant_left", room, identity=identity)

    def fail_next_start(self, failure: StartFailure, times: int = 1) -> None:
        self._failures += [failure] * times

    def activate(self, egress_id: str) -> Observation:
        """The worker got its start signal: STARTING -> ACTIVE, streams connected."""
        egress = self.egresses[egress_id]
        if egress.info.status != EgressStatus.STARTING:
            raise ValueError(f"{egress_id} is {egress.info.status.value}, not starting")
        return self._change(egress, status=EgressStatus.ACTIVE)

    def end(self, egress_id: str, status: EgressStatus = EgressStatus.COMPLETE, *, error: str = "",
            error_code: int = 0, results: Results | None = None) -> Observation:
        """The egress ends as the worker reports it; by default its outputs are written."""
        egress = self.egresses[egress_id]
        if not status.terminal:
            raise ValueError(f"{status.value} is not an end")
        if egress.info.status.terminal:
            raise ValueError(f"{egress_id} has ended already")
        ended = self._clock()
        return self._change(egress, status=status, error=error, error_code=error_code, ended_at=ended,
                            results=results if results is not None else self._results(egress, ended))

    def take_notices(self) -> list[WebhookNotice]:
        """The webhooks LiveKit has sent since the last call, in order."""
        taken, self.notices = self.notices, []
        return taken

    # ---- EgressGateway ---------------------------------------------------------------------

    async def start(self, request: EgressRequest) -> Observation:
        method = _START_METHOD[request.kind]
        self._call(method)
        failure = self._failures.pop(0) if self._failures else None
        if request.kind != EgressKind.WEB and request.room_name not in self.rooms:
            raise LiveKitRejected("not_found", 404, "requested room does not exist")
        if failure == StartFailure.NO_WORKER:
            raise LiveKitUnavailable("LiveKit is unavailable (unavailable): no response from servers")
        if failure == StartFailure.REJECTED:
            raise LiveKitRejected("invalid_argument", 400, "request has missing or invalid field: output")
        info = self._launch(request)
        if self.before_answer is not None:
            await self.before_answer(info)
        if failure == StartFailure.UNAVAILABLE_BUT_STARTED:
            raise LiveKitUnavailable(f"LiveKit did not answer {method} in time")
        return info

    async def stop(self, egress_id: str) -> Observation:
        self._call("StopEgress")
        egress = self._find(egress_id)
        if egress.info.status.terminal:
            raise EgressAlreadyEnded("failed_precondition", 412,
                                     f"egress with status {_name(egress.info.status)} cannot be stopped")
        if egress.info.status == EgressStatus.STARTING:
            return self._change(egress, status=EgressStatus.ABORTED, error="Stop called before pipeline could start",
                                error_code=412, details="End reason: StopEgress API", ended_at=self._clock())
        if egress.info.status == EgressStatus.ACTIVE:
            self._change(egress, status=EgressStatus.ENDING, details="End reason: StopEgress API")
            if self.finish_on_stop:
                return self.end(egress_id)
        return egress.info

    async def update_layout(self, egress_id: str, layout: str) -> Observation:
        self._call("UpdateLayout")
        egress = self._find(egress_id)
        egress.layout = layout
        return egress.info

    async def update_stream(self, egress_id: str, add: list[str], remove: list[str]) -> Observation:
        self._call("UpdateStream")
        egress = self._find(egress_id)
        if egress.info.status.terminal:
            raise EgressAlreadyEnded("failed_precondition", 412,
                                     f"egress with status {_name(egress.info.status)} cannot be updated")
        if egress.request.stream is None:
            raise LiveKitRejected("invalid_argument", 400, "UpdateStream called on non-streaming egress")
        streams = list(egress.info.results.streams)
        for url in map(normalise_stream_url, add):
            egress.stream_urls.append(url)
            streams.append(StreamResult(url=redact_stream_url(url), status="active", started_at=self._clock()))
        missing = []
        for url in map(normalise_stream_url, remove):
            index = next((i for i, (raw, s) in enumerate(zip(egress.stream_urls, streams, strict=True))
                          if raw == url and s.status == "active"), None)
            if index is None:
                missing.append(redact_stream_url(url))
                continue
            streams[index] = dataclasses.replace(streams[index], status="finished", ended_at=self._clock())
        info = self._change(egress, results=dataclasses.replace(egress.info.results, streams=tuple(streams)))
        if missing:
            raise LiveKitRejected("not_found", 404, "\n".join(f"stream {url} not found" for url in missing))
        outputs_left = egress.request.file or egress.request.hls or any(s.status == "active" for s in streams)
        if info.status == EgressStatus.ACTIVE and not outputs_left:
            return self._change(egress, status=EgressStatus.ENDING, details="End reason: All streams stopped")
        return info

    async def list_egresses(self, *, room_name: str = "", egress_id: str = "", active: bool = False
                            ) -> list[Observation]:
        self._call("ListEgress")
        if egress_id:
            return [self._find(egress_id).info]
        return [e.info for e in self.egresses.values()
                if (not room_name or e.info.room_name == room_name) and not (active and e.info.status.terminal)]

    async def list_rooms(self, names: list[str] | None = None) -> list[RoomSnapshot]:
        self._call("ListRooms")
        return [self._snapshot(r) for r in self.rooms.values() if not names or r.name in names]

    async def check_access(self) -> None:
        self._call("ListEgress")
        if self.access_error is not None:
            raise self.access_error

    # ---- RoomGateway -----------------------------------------------------------------------

    async def list_participants(self, room_name: str) -> list[ParticipantSnapshot]:
        self._call("ListParticipants")
        room = self.rooms.get(room_name)
        return list(room.participants.values()) if room is not None else []

    async def create_room(self, name: str, *, metadata: str = "", empty_timeout: int = 0, departure_timeout: int = 0,
                          composite: EgressRequest | None = None) -> CreatedRoom:
        """Idempotent; a new room with `composite` starts that room composite itself (auto egress)."""
        self._call("CreateRoom")
        if len(name) > 256:
            raise LiveKitRejected("invalid_argument", 400, "room name length exceeds limits: max length 256")
        room = self.rooms.get(name)
        if room is None:
            room = self.add_room(name, metadata=metadata)
            room.empty_timeout, room.departure_timeout = empty_timeout, departure_timeout
            if composite is not None:
                self._launch(dataclasses.replace(composite, kind=EgressKind.ROOM_COMPOSITE, room_name=name))
        return CreatedRoom(room.name, room.sid, room.metadata, room.creation_time_ms)

    # ---- inside ----------------------------------------------------------------------------

    def _call(self, method: str) -> None:
        self.calls.append(method)
        if self.down:
            raise LiveKitUnavailable(f"LiveKit is unreachable: ClientConnectorError calling {method}")

    def _find(self, egress_id: str) -> FakeEgress:
        egress = self.egresses.get(egress_id)
        if egress is None:
            raise EgressUnknownToLiveKit("not_found", 404, "egress does not exist")
        return egress

    def _launch(self, request: EgressRequest) -> Observation:
        room = self.rooms.get(request.room_name) if request.kind != EgressKind.WEB else None
        urls = [normalise_stream_url(u) for u in request.stream.urls] if request.stream else []
        at = self._clock()
        info = Observation(
            egress_id=_sid("EG_"), status=EgressStatus.STARTING, room_name=room.name if room else "",
            room_id=room.sid if room else "", kind=request.kind, started_at=at, updated_at_ns=self._time_ns(),
            results=Results(streams=tuple(StreamResult(url=redact_stream_url(u), status="active") for u in urls)),
            request=request.redacted(), fingerprint=request.fingerprint())
        self.egresses[info.egress_id] = FakeEgress(request, info, request.layout, urls)
        self.started.append(request)
        self._notify("egress_started", room, egress=info)
        return info

    def _change(self, egress: FakeEgress, **changes: Any) -> Observation:
        egress.info = dataclasses.replace(egress.info, **changes, updated_at_ns=self._time_ns())
        event = "egress_ended" if egress.info.status.terminal else "egress_updated"
        self._notify(event, self.rooms.get(egress.info.room_name), egress=egress.info)
        return egress.info

    def _results(self, egress: FakeEgress, ended: datetime) -> Results:
        r, info = egress.request, egress.info
        seconds = (ended - info.started_at).total_seconds() if info.started_at else 0.0
        bucket = r.storage.bucket if r.storage else ""
        files = (FileResult(filename=r.file.filepath, location=f"s3://{bucket}/{r.file.filepath}", size_bytes=1024,
                            duration_s=seconds, started_at=info.started_at, ended_at=ended),) if r.file else ()
        segments = (SegmentResult(playlist_name=f"{r.hls.filename_prefix}/{r.hls.playlist_name}",
                                  segment_count=max(1, int(seconds // r.hls.segment_duration_s)),
                                  duration_s=seconds),) if r.hls else ()
        streams = tuple(s if s.status != "active" else dataclasses.replace(s, status="finished", ended_at=ended)
                        for s in info.results.streams)
        return Results(files=files, streams=streams, segments=segments)

    def _snapshot(self, room: FakeRoom) -> RoomSnapshot:
        recording = any(e.info.room_name == room.name and not e.info.status.terminal for e in self.egresses.values())
        return RoomSnapshot(name=room.name, sid=room.sid, num_participants=len(room.participants),
                            num_publishers=sum(1 for p in room.participants.values() if p.tracks),
                            metadata=room.metadata, active_recording=recording)

    def _time_ns(self) -> int:
        """Now in nanoseconds, never twice the same (LiveKit's updated_at orders reports of one egress)."""
        self._ns = max(int(self._clock().timestamp() * 1e9), self._ns + 1)
        return self._ns

    def _notify(self, event: str, room: FakeRoom | None, *, egress: Observation | None = None, identity: str = "",
                track_sid: str = "") -> None:
        self.notices.append(WebhookNotice(
            id=f"EV_fake{next(self._event_ids):06d}", event=event, created_at=self._clock(),
            room_name=room.name if room else "", room_sid=room.sid if room else "", participant_identity=identity,
            track_sid=track_sid, egress=egress))


def _name(status: EgressStatus) -> str:
    return f"EGRESS_{status.value.upper()}"
