"""Room sessions and the recording claims made for them: one claim per recording, whoever tries (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .backoff import backoff_s
from .rules import ActionKind, RuleMatch


class SessionSource(StrEnum):
    """How the service learnt that a room session began."""

    ROOM_STARTED = "room_started"  # the webhook, on time
    WEBHOOK = "webhook"  # a later event of the room (its room_started was lost or is late)
    RECONCILE = "reconcile"  # the sweep found the room in ListRooms: started late
    API = "api"  # POST /v1/rooms


class ClaimState(StrEnum):
    CLAIMED = "claimed"  # a replica owns the start and is starting it
    STARTED = "started"  # bound to a ledger egress
    DELEGATED = "delegated"  # LiveKit starts it itself (CreateRoom auto egress); bound when it appears
    FAILED = "failed"  # the start failed; the sweep may retry
    CANCELLED = "cancelled"  # the session ended before it started


RETRYABLE = frozenset({ClaimState.CLAIMED, ClaimState.FAILED})


@dataclass(frozen=True)
class RoomSession:
    room_sid: str
    room_name: str
    started_at: datetime
    source: SessionSource
    metadata: str = ""
    ended_at: datetime | None = None
    matches: tuple[RuleMatch, ...] = ()

    @property
    def started_late(self) -> bool:
        return self.source in (SessionSource.WEBHOOK, SessionSource.RECONCILE)


@dataclass(frozen=True)
class RecordingClaim:
    """The right to start one recording; its key is unique, so only one replica ever holds it."""

    key: str
    room_sid: str
    room_name: str
    rule_id: str
    action: ActionKind
    subject: str  # track sid, participant identity, or "" for a composite
    part: int
    state: ClaimState
    request: dict[str, Any]  # what to start (no credentials): rebuilt into an EgressRequest on retry
    created_at: datetime
    updated_at: datetime
    retry_at: datetime | None = None
    attempts: int = 0
    egress_pk: str | None = None
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def claim_key(room_sid: str, rule_id: str, action: ActionKind, subject: str = "", part: int = 1) -> str:
    if action == ActionKind.COMPOSITE:
        return f"{room_sid}/{rule_id}/composite/{part}"
    return f"{room_sid}/{rule_id}/{action.value}/{subject}"


def retry_delay(attempts: int, base: timedelta) -> timedelta:
    """Back off between retries of a failed start: base, 2x, 4x... capped at 32x."""
    return timedelta(seconds=backoff_s(attempts, base.total_seconds(), 32 * base.total_seconds()))


def next_retry(attempts: int, max_attempts: int, base: timedelta, now: datetime, *,
               for_good: bool = False) -> datetime | None:
    """When a claim whose start failed `attempts` times is tried again: None once the attempts are spent, or
    when the failure is for good (what it asks cannot start as it stands: a wrong rule, files and no storage)."""
    if for_good or attempts >= max_attempts:
        return None
    return now + retry_delay(attempts, base)


def refused(claim: RecordingClaim, reason: str) -> RecordingClaim:
    """A claim that cannot start as it stands, before any call: FAILED for good (never retried, no ledger row),
    with the reason the session shows."""
    return replace(claim, state=ClaimState.FAILED, error=reason[:2000], retry_at=None, egress_pk=None)


@dataclass(frozen=True)
class RoomRequest:
    """A POST /v1/rooms that asked LiveKit to start a rule's composite itself (CreateRoom auto egress)."""

    room_name: str
    rule_id: str
    created_at: datetime


def delegated(claims: Sequence[RecordingClaim], request: RoomRequest | None, *, created: bool,
              expected_since: datetime | None) -> list[RecordingClaim]:
    """The DELEGATED rule: when a new session opens and a CreateRoom for its room name is pending (made at or
    after `expected_since`), that request's rule's composite claim is LiveKit's to start, not ours: it becomes
    DELEGATED (no retry, no ledger row) and is bound to the egress LiveKit reports. The store consumes the
    request in the same transaction, whatever this returns; a session that existed already delegates nothing."""
    if (request is None or not created or expected_since is None or request.created_at < expected_since):
        return list(claims)
    return [replace(c, state=ClaimState.DELEGATED, retry_at=None, egress_pk=None)
            if c.rule_id == request.rule_id and c.action == ActionKind.COMPOSITE else c for c in claims]


@dataclass(frozen=True)
class TrackSnapshot:
    sid: str
    type: str  # AUDIO | VIDEO | DATA
    source: str = ""  # CAMERA, MICROPHONE, SCREEN_SHARE...
    mime_type: str = ""


@dataclass(frozen=True)
class ParticipantSnapshot:
    identity: str
    kind: str  # a ParticipantKind value
    tracks: tuple[TrackSnapshot, ...] = ()


@dataclass(frozen=True)
class CreatedRoom:
    """CreateRoom's answer: the room, and when LiveKit created it (older than the call: it existed)."""

    name: str
    sid: str
    metadata: str
    creation_time_ms: int


@dataclass(frozen=True)
class ClaimEvent:
    """One step in a recording claim's history (written with the guarded update that made it)."""

    at: datetime
    state_before: ClaimState | None  # None: the claim was created
    state_after: ClaimState
    detail: str
    egress_pk: str | None = None
