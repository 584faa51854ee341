"""In-memory rooms, participants and tracks with LiveKit's empty/departure timeouts and webhooks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from livekit import api

from . import events, ids
from .config import SandboxTimings
from .twirp import TwirpError

logger = logging.getLogger(__name__)

KINDS: dict[str, int] = {
    "standard": api.ParticipantInfo.STANDARD,
    "ingress": api.ParticipantInfo.INGRESS,
    "egress": api.ParticipantInfo.EGRESS,
    "sip": api.ParticipantInfo.SIP,
    "agent": api.ParticipantInfo.AGENT,
}
DEPENDENT_KINDS = frozenset({api.ParticipantInfo.EGRESS, api.ParticipantInfo.AGENT})

# source name -> (TrackType, TrackSource, mime type)
SOURCES: dict[str, tuple[int, int, str]] = {
    "camera": (api.VIDEO, api.CAMERA, "video/H264"),
    "microphone": (api.AUDIO, api.MICROPHONE, "audio/opus"),
    "screen_share": (api.VIDEO, api.SCREEN_SHARE, "video/H264"),
    "screen_share_audio": (api.AUDIO, api.SCREEN_SHARE_AUDIO, "audio/opus"),
}
MAX_ROOM_NAME = 256


def room_not_found() -> TwirpError:
    return TwirpError("not_found", "requested room does not exist")


def participant_not_found() -> TwirpError:
    return TwirpError("not_found", "participant not found")


@dataclass
class RoomState:
    """One live room and the bookkeeping behind CloseIfEmpty."""

    room: api.Room
    empty_timeout: float
    departure_timeout: float
    created_mono: float
    participants: dict[str, api.ParticipantInfo] = field(default_factory=dict)
    ever_joined: bool = False
    last_departure_mono: float = 0.0
    close_timer: asyncio.TimerHandle | None = None

    def snapshot(self) -> api.Room:
        visible = [p for p in self.participants.values() if not p.permission.hidden]
        self.room.num_participants = len(visible)
        self.room.num_publishers = sum(1 for p in visible if p.tracks)
        self.room.active_recording = any(
            p.kind == api.ParticipantInfo.EGRESS for p in self.participants.values()
        )
        copy = api.Room()
        copy.CopyFrom(self.room)
        return copy

    def find_track(self, track_sid: str) -> tuple[api.ParticipantInfo, api.TrackInfo] | None:
        for participant in self.participants.values():
            for track in participant.tracks:
                if track.sid == track_sid:
                    return participant, track
        return None


Notify = Callable[[api.WebhookEvent, str], None]


class RoomRegistry:
    """Rooms by name; hooks ``on_change(room)`` after membership/track changes, ``on_close(room)``."""

    def __init__(self, notify: Notify, timings: Callable[[], SandboxTimings]) -> None:
        self._notify = notify
        self._timings = timings
        self.rooms: dict[str, RoomState] = {}
        self.on_change: Callable[[str], None] = lambda _room: None
        self.on_close: Callable[[str], None] = lambda _room: None
        self.on_publish: Callable[[str, api.ParticipantInfo, api.TrackInfo], None] = lambda _r, _p, _t: None

    def get(self, name: str) -> RoomState:
        state = self.rooms.get(name)
        if state is None:
            raise room_not_found()
        return state

    def create(
        self,
        name: str,
        metadata: str = "",
        *,
        empty_timeout: int = 0,
        departure_timeout: int = 0,
        max_participants: int = 0,
    ) -> tuple[RoomState, bool]:
        """Idempotent create; returns (state, created). Fires room_started on creation."""
        if len(name) > MAX_ROOM_NAME:
            raise TwirpError(
                "invalid_argument", f"room name length exceeds limits: max length {MAX_ROOM_NAME}"
            )
        existing = self.rooms.get(name)
        if existing is not None:
            return existing, False
        timings = self._timings()
        now = time.time()
        room = api.Room(
            sid=ids.new_id(ids.ROOM),
            name=name,
            metadata=metadata,
            empty_timeout=empty_timeout or round(timings.empty_timeout),
            departure_timeout=departure_timeout or round(timings.departure_timeout),
            max_participants=max_participants,
            creation_time=int(now),
            creation_time_ms=int(now * 1000),
            enabled_codecs=[
                api.Codec(mime="audio/opus"),
                api.Codec(mime="video/H264"),
                api.Codec(mime="video/VP8"),
            ],
        )
        state = RoomState(
            room=room,
            empty_timeout=float(empty_timeout) if empty_timeout else timings.empty_timeout,
            departure_timeout=float(departure_timeout) if departure_timeout else timings.departure_timeout,
            created_mono=time.monotonic(),
        )
        self.rooms[name] = state
        logger.info("room %s created (%s)", name, room.sid)
        self._notify(events.room_event(events.ROOM_STARTED, state.snapshot()), name)
        self._reschedule(state)
        return state, True

    def join(
        self,
        room_name: str,
        identity: str,
        *,
        kind: str = "standard",
        name: str = "",
        metadata: str = "",
        publish: Sequence[str] = (),
        hidden: bool = False,
    ) -> api.ParticipantInfo:
        """Join (auto-creating the room); a duplicate identity replaces the previous session."""
        if kind not in KINDS:
            raise ValueError(f"unknown participant kind {kind!r}")
        state, _ = self.create(room_name)
        if identity in state.participants:
            self.leave(room_name, identity)
            state = self.rooms.get(room_name) or self.create(room_name)[0]
        now = time.time()
        info = api.ParticipantInfo(
            sid=ids.new_id(ids.PARTICIPANT),
            identity=identity,
            name=name,
            metadata=metadata,
            state=api.ParticipantInfo.ACTIVE,
            joined_at=int(now),
            joined_at_ms=int(now * 1000),
            kind=KINDS[kind],  # type: ignore[arg-type]
            permission=api.ParticipantPermission(
                can_subscribe=True,
                can_publish=not hidden,
                can_publish_data=not hidden,
                hidden=hidden,
                recorder=kind == "egress",
            ),
        )
        state.participants[identity] = info
        if info.kind not in DEPENDENT_KINDS:
            state.ever_joined = True
        self._notify(events.room_event(events.PARTICIPANT_JOINED, state.snapshot(), info), room_name)
        for source in publish:
            self.publish(room_name, identity, source, announce=False)
        self._reschedule(state)
        self.on_change(room_name)
        return self._copy(state.participants[identity])

    def publish(self, room_name: str, identity: str, source: str, *, announce: bool = True) -> api.TrackInfo:
        if source not in SOURCES:
            raise ValueError(f"unknown track source {source!r}")
        state = self.get(room_name)
        participant = state.participants.get(identity)
        if participant is None:
            raise participant_not_found()
        track_type, track_source, mime = SOURCES[source]
        track = api.TrackInfo(
            sid=ids.new_id(ids.TRACK),
            type=track_type,  # type: ignore[arg-type]
            source=track_source,  # type: ignore[arg-type]
            name=source,
            mime_type=mime,
            stream=source,
        )
        if track_type == api.VIDEO:
            track.width, track.height = 1280, 720
        participant.tracks.append(track)
        participant.is_publisher = True
        self._notify(
            events.room_event(events.TRACK_PUBLISHED, state.snapshot(), participant, track), room_name
        )
        if announce:
            self.on_change(room_name)
        self.on_publish(room_name, participant, track)
        copy = api.TrackInfo()
        copy.CopyFrom(track)
        return copy

    def unpublish(self, room_name: str, identity: str, track_sid: str) -> None:
        state = self.get(room_name)
        participant = state.participants.get(identity)
        if participant is None:
            raise participant_not_found()
        for index, track in enumerate(participant.tracks):
            if track.sid == track_sid:
                removed = api.TrackInfo()
                removed.CopyFrom(track)
                del participant.tracks[index]
                self._notify(
                    events.room_event(events.TRACK_UNPUBLISHED, state.snapshot(), participant, removed),
                    room_name,
                )
                self.on_change(room_name)
                return
        raise TwirpError("not_found", "track not found")

    def leave(self, room_name: str, identity: str) -> None:
        state = self.get(room_name)
        participant = state.participants.pop(identity, None)
        if participant is None:
            raise participant_not_found()
        participant.state = api.ParticipantInfo.DISCONNECTED
        if participant.kind not in DEPENDENT_KINDS:
            state.last_departure_mono = time.monotonic()
        self._notify(events.room_event(events.PARTICIPANT_LEFT, state.snapshot(), participant), room_name)
        self._reschedule(state)
        self.on_change(room_name)

    def update_participant(
        self, room_name: str, identity: str, metadata: str | None = None, name: str | None = None
    ) -> api.ParticipantInfo:
        participant = self.get(room_name).participants.get(identity)
        if participant is None:
            raise participant_not_found()
        if metadata is not None:
            participant.metadata = metadata
        if name is not None:
            participant.name = name
        participant.version += 1
        return self._copy(participant)

    def close(self, name: str) -> None:
        """Close like DeleteRoom/timeouts: dependents end, everybody leaves, then room_finished."""
        state = self.get(name)
        if state.close_timer is not None:
            state.close_timer.cancel()
            state.close_timer = None
        self.on_close(name)
        for identity in list(state.participants):
            participant = state.participants.pop(identity)
            participant.state = api.ParticipantInfo.DISCONNECTED
            self._notify(events.room_event(events.PARTICIPANT_LEFT, state.snapshot(), participant), name)
        self.rooms.pop(name, None)
        logger.info("room %s closed", name)
        self._notify(events.room_event(events.ROOM_FINISHED, state.snapshot()), name)

    def _reschedule(self, state: RoomState) -> None:
        if state.close_timer is not None:
            state.close_timer.cancel()
            state.close_timer = None
        if any(p.kind not in DEPENDENT_KINDS for p in state.participants.values()):
            return
        if state.ever_joined:
            deadline = state.last_departure_mono + state.departure_timeout
        else:
            deadline = state.created_mono + state.empty_timeout
        delay = max(0.0, deadline - time.monotonic())
        name = state.room.name
        state.close_timer = asyncio.get_running_loop().call_later(delay, self._close_if_current, name, state)

    def _close_if_current(self, name: str, state: RoomState) -> None:
        if self.rooms.get(name) is state:
            logger.info("room %s empty, closing", name)
            self.close(name)

    def cancel_timers(self) -> None:
        for state in self.rooms.values():
            if state.close_timer is not None:
                state.close_timer.cancel()
                state.close_timer = None

    @staticmethod
    def _copy(participant: api.ParticipantInfo) -> api.ParticipantInfo:
        copy = api.ParticipantInfo()
        copy.CopyFrom(participant)
        return copy
