"""Egress statuses, what LiveKit reports about an egress, and the state machine that folds reports in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class EgressStatus(StrEnum):
    STARTING = "starting"
    ACTIVE = "active"
    ENDING = "ending"
    COMPLETE = "complete"
    FAILED = "failed"
    ABORTED = "aborted"
    LIMIT_REACHED = "limit_reached"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def rank(self) -> int:
        """How far along the lifecycle a status is; terminal statuses share the last rank."""
        return _RANK.get(self, 3)


TERMINAL = frozenset(
    {EgressStatus.COMPLETE, EgressStatus.FAILED, EgressStatus.ABORTED, EgressStatus.LIMIT_REACHED}
)
UNFINISHED = frozenset(set(EgressStatus) - TERMINAL)
_RANK = {EgressStatus.STARTING: 0, EgressStatus.ACTIVE: 1, EgressStatus.ENDING: 2}


class EgressKind(StrEnum):
    ROOM_COMPOSITE = "room_composite"
    TRACK_COMPOSITE = "track_composite"
    TRACK = "track"
    PARTICIPANT = "participant"
    WEB = "web"


class ChangeSource(StrEnum):
    """Who told us about a change of state."""

    API = "api"
    WEBHOOK = "webhook"
    RECONCILE = "reconcile"


class Outcome(StrEnum):
    """What folding one report into the ledger did."""

    CREATED = "created"  # the egress entered the ledger
    APPLIED = "applied"  # the status moved forward
    REFRESHED = "refreshed"  # same status, newer results
    DUPLICATE = "duplicate"  # nothing new
    STALE = "stale"  # older than what we know: never moves backwards
    IGNORED_TERMINAL = "ignored_terminal"  # the egress had already ended


@dataclass(frozen=True)
class FileResult:
    filename: str
    location: str = ""
    size_bytes: int = 0
    duration_s: float = 0.0
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class StreamResult:
    url: str  # always redacted
    status: str  # active | finished | failed
    error: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    retries: int = 0


@dataclass(frozen=True)
class SegmentResult:
    playlist_name: str
    playlist_location: str = ""
    live_playlist_location: str = ""
    segment_count: int = 0
    size_bytes: int = 0
    duration_s: float = 0.0


@dataclass(frozen=True)
class ImageResult:
    filename_prefix: str
    image_count: int = 0


@dataclass(frozen=True)
class Results:
    files: tuple[FileResult, ...] = ()
    streams: tuple[StreamResult, ...] = ()
    segments: tuple[SegmentResult, ...] = ()
    images: tuple[ImageResult, ...] = ()


@dataclass(frozen=True)
class Observation:
    """What LiveKit says about one egress at one moment (an EgressInfo, translated and redacted)."""

    egress_id: str
    status: EgressStatus
    room_name: str = ""
    room_id: str = ""
    kind: EgressKind | None = None
    error: str = ""
    error_code: int = 0
    details: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    updated_at_ns: int = 0
    results: Results = field(default_factory=Results)
    request: dict[str, object] = field(default_factory=dict)  # redacted
    fingerprint: str = ""  # of the request, to recognise an egress our own start call made


@dataclass(frozen=True)
class RoomSnapshot:
    """A room as LiveKit lists it."""

    name: str
    sid: str
    num_participants: int = 0
    num_publishers: int = 0
    metadata: str = ""
    active_recording: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    status: EgressStatus  # the status after the decision

    @property
    def changes_row(self) -> bool:
        return self.outcome in (Outcome.APPLIED, Outcome.REFRESHED)


def decide(
    current: EgressStatus, current_updated_ns: int, observed: EgressStatus, observed_updated_ns: int
) -> Decision:
    """Fold one observed status into the current one.

    Terminal statuses never change; an older or lower report never moves an egress backwards;
    a report at the same status only refreshes the results when it is newer.
    """
    if current.terminal:
        if observed == current and observed_updated_ns > current_updated_ns:
            return Decision(Outcome.REFRESHED, current)
        if observed == current:
            return Decision(Outcome.DUPLICATE, current)
        return Decision(Outcome.IGNORED_TERMINAL, current)
    if observed.rank > current.rank:
        return Decision(Outcome.APPLIED, observed)
    if observed.rank < current.rank:
        return Decision(Outcome.STALE, current)
    if observed_updated_ns > current_updated_ns:
        return Decision(Outcome.REFRESHED, current)
    return Decision(Outcome.DUPLICATE, current)


def force(current: EgressStatus, target: EgressStatus) -> Decision:
    """A transition the service itself decides (a start that failed, a deadline, an egress LiveKit lost)."""
    if current.terminal:
        return Decision(Outcome.IGNORED_TERMINAL, current)
    return Decision(Outcome.APPLIED, target)


def past_start_deadline(
    status: EgressStatus, created_at: datetime, now: datetime, deadline: timedelta
) -> bool:
    """True when an egress has waited in `starting` longer than the deadline allows."""
    return status == EgressStatus.STARTING and now - created_at >= deadline


def start_deadline_reason(deadline: timedelta) -> str:
    seconds = int(deadline.total_seconds())
    return (
        f"did not start within {seconds} s: LiveKit never received the start signal. "
        "Is anyone publishing in the room, and does the layout page print START_RECORDING? "
        "The egress was stopped."
    )


# The first history row of a ledger row written before its start call leaves (by the API or for a claim won).
START_REQUESTED = "start requested"


class Origin(StrEnum):
    """How an egress entered the ledger."""

    API = "api"  # we started it
    ADOPTED = "adopted"  # LiveKit told us about one we had not seen


@dataclass(frozen=True)
class EgressRecord:
    """One egress as the ledger knows it."""

    id: str
    egress_id: str | None
    kind: EgressKind | None
    room_name: str
    status: EgressStatus
    origin: Origin
    created_at: datetime
    updated_at: datetime
    room_id: str = ""
    error: str = ""
    error_code: int = 0
    details: str = ""
    request: dict[str, object] = field(default_factory=dict)
    results: Results = field(default_factory=Results)
    fingerprint: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    livekit_updated_ns: int = 0
    version: int = 0


@dataclass(frozen=True)
class EgressEvent:
    """One line of an egress's history: every report and every change, applied or not."""

    at: datetime
    source: ChangeSource
    outcome: Outcome
    status_before: EgressStatus | None
    status_after: EgressStatus
    event_id: str = ""
    detail: str = ""
    actor: str = "system"  # who asked: a person's or key's name; "system" when the service acted itself


@dataclass(frozen=True)
class Applied:
    """The result of folding one report into the ledger."""

    record: EgressRecord | None
    outcome: Outcome
    status_before: EgressStatus | None = None
    duplicate_event: bool = False

    @property
    def status_changed(self) -> bool:
        return self.record is not None and self.status_before != self.record.status
