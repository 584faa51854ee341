"""Broadcasts and their runs as data: validation, recurrence (DST-correct), statuses, history (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import InvalidInput
from .layouts import BUILTIN_LAYOUTS, LAYOUT_NAMES, LayoutOptions
from .redact import redact_stream_url
from .requests import Preset, check_mux_key, check_stream_url


class RunStatus(StrEnum):
    SCHEDULED = "scheduled"
    STARTING = "starting"
    LIVE = "live"
    STOPPING = "stopping"
    ENDED = "ended"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"

    @property
    def finished(self) -> bool:
        return self in RUN_FINISHED


RUN_FINISHED = frozenset({RunStatus.ENDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.MISSED})
RUN_ACTIVE = frozenset({RunStatus.STARTING, RunStatus.LIVE, RunStatus.STOPPING})


class BroadcastState(StrEnum):
    ACTIVE = "active"  # has runs to come or running
    FINISHED = "finished"  # no more runs
    CANCELLED = "cancelled"


class LaunchReason(StrEnum):
    """Why an egress was started for a run (stored as `broadcast_run_egresses.reason`)."""

    START = "start"
    REPLACEMENT = "replacement"  # the run's egress ended early: healing
    ROLLOVER = "rollover"  # before LiveKit Cloud's stream time limit


class RunEventKind(StrEnum):
    """What a run history row records; decisions count these, never the words of `detail`."""

    SCHEDULED = "scheduled"
    CLAIMED = "claimed"
    STARTED_BY_HAND = "started_by_hand"
    MISSED = "missed"
    WAITING_FOR_PUBLISHER = "waiting_for_publisher"
    LAUNCHING = "launching"  # an egress row made and linked; its start call about to leave
    LAUNCHED = "launched"
    LAUNCH_FAILED = "launch_failed"
    LIVE = "live"
    HANDED_OVER = "handed_over"  # an older egress stopped after a rollover
    ENDED_EARLY = "ended_early"  # the egress ended before the run: a replacement follows
    TAKEN_OVER = "taken_over"  # another replica's launch lease ran out
    ROLLING_OVER = "rolling_over"
    READD_DESTINATION = "readd_destination"  # with `destination`: one attempt to re-add a failed stream
    READD_FAILED = "readd_failed"
    CHANGED = "changed"  # layout, destinations, end or schedule changed by a command
    PREFLIGHT = "preflight"
    PREFLIGHT_FAILED = "preflight_failed"  # a check failed; with `require_preflight` the run fails next
    STOPPING = "stopping"
    STOP_FAILED = "stop_failed"
    ENDED = "ended"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Destination:
    """Where a broadcast goes. `url` is the real ingest URL (a secret); `id` and `display` are safe to show."""

    kind: str  # "mux" | "rtmp"
    url: str

    @property
    def id(self) -> str:
        return "dst_" + hashlib.sha256(self.url.encode()).hexdigest()[:10]

    @property
    def display(self) -> str:
        return redact_stream_url(self.url)


@dataclass(frozen=True)
class Recurrence:
    cron: str
    timezone: str
    until: datetime | None = None
    count: int | None = None


@dataclass(frozen=True)
class BroadcastSpec:
    """A validated broadcast as asked for."""

    room_name: str
    destinations: tuple[Destination, ...]
    layout: str = "gallery"
    preset: Preset = Preset.P1080_30
    record_filepath: str | None = None
    start_at: datetime | None = None  # None: start now
    end_at: datetime | None = None
    max_duration_s: int | None = None
    recurrence: Recurrence | None = None
    wait_for_publisher: bool = False
    title: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    callback_urls: tuple[str, ...] = ()  # this broadcast's events go here too (besides the global ones)
    layout_options: LayoutOptions | None = None  # display options of a served layout
    require_preflight: bool = False  # a failed automatic preflight fails the run instead of starting it

    def duration(self) -> timedelta:
        if self.max_duration_s is not None:
            return timedelta(seconds=self.max_duration_s)
        assert self.end_at is not None and self.start_at is not None
        return self.end_at - self.start_at


def parse_destination(raw: dict[str, object], where: str) -> Destination:
    kind = raw.get("type")
    if kind == "mux":
        key = str(raw.get("stream_key") or "")
        if not key.strip():
            raise InvalidInput(f"{where}.stream_key", "must not be empty")
        return Destination("mux", check_mux_key(key, f"{where}.stream_key"))
    if kind == "rtmp":
        return Destination("rtmp", check_stream_url(str(raw.get("url") or ""), f"{where}.url"))
    raise InvalidInput(f"{where}.type", "must be 'mux' or 'rtmp'")


def check_layout(layout: str) -> str:
    if layout not in LAYOUT_NAMES and layout not in BUILTIN_LAYOUTS:
        names = ", ".join(sorted({*LAYOUT_NAMES, *BUILTIN_LAYOUTS}))
        raise InvalidInput("layout", f"unknown layout; use one of {names}")
    return layout


def check_recurrence(cron: str, timezone: str, until: datetime | None, count: int | None) -> Recurrence:
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("recurrence.timezone", "is not an IANA time zone (e.g. Europe/Berlin)") from None
    try:
        CronSim(cron, datetime(2026, 1, 1, tzinfo=tz))
    except CronSimError as exc:
        raise InvalidInput("recurrence.cron", f"is not a valid cron expression: {exc}") from None
    if until is None and count is None:
        raise InvalidInput("recurrence", "needs 'until' or 'count' (no endless series)")
    if count is not None and not 1 <= count <= 10_000:
        raise InvalidInput("recurrence.count", "must be between 1 and 10000")
    return Recurrence(cron, timezone, until, count)


def validate_spec(spec: BroadcastSpec, now: datetime, cap: timedelta) -> BroadcastSpec:
    """Raise InvalidInput naming the field; returns the spec with start_at filled for 'start now'."""
    if not spec.room_name.strip():
        raise InvalidInput("room_name", "is required")
    if not spec.destinations:
        raise InvalidInput("destinations", "at least one destination is required")
    if len({d.url for d in spec.destinations}) != len(spec.destinations):
        raise InvalidInput("destinations", "the same destination is listed twice")
    check_layout(spec.layout)
    if spec.layout_options is not None and spec.layout not in LAYOUT_NAMES:
        raise InvalidInput("layout_options", f"options apply to the served layouts ({', '.join(LAYOUT_NAMES)})")
    for i, url in enumerate(spec.callback_urls):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"callback_urls.{i}", "must be an http(s) URL")
    if (spec.end_at is None) == (spec.max_duration_s is None):
        raise InvalidInput("end_at", "give exactly one of end_at or max_duration_s (no endless broadcasts)")
    if spec.recurrence is not None and spec.end_at is not None:
        raise InvalidInput("end_at", "a recurring broadcast takes max_duration_s, not end_at")
    if spec.recurrence is not None and spec.start_at is None:
        raise InvalidInput("start_at", "a recurring broadcast needs start_at (its first possible start)")
    start = spec.start_at or now
    if spec.start_at is not None and spec.start_at < now - timedelta(seconds=5):
        raise InvalidInput("start_at", "is in the past; leave it out to start now")
    if spec.max_duration_s is not None and spec.max_duration_s <= 0:
        raise InvalidInput("max_duration_s", "must be positive")
    if spec.end_at is not None and spec.end_at <= start:
        raise InvalidInput("end_at", "must be after the start")
    duration = timedelta(seconds=spec.max_duration_s) if spec.max_duration_s else spec.end_at - start  # type: ignore[operator]
    if duration > cap:
        raise InvalidInput("max_duration_s" if spec.max_duration_s else "end_at",
                           f"the broadcast would last longer than the cap of {int(cap.total_seconds())} s")
    return replace(spec, start_at=start)


def occurrence(spec: BroadcastSpec, index: int, after: datetime | None = None) -> tuple[datetime, datetime] | None:
    """The planned (start, end) of occurrence `index` (0-based) at or after `after`, or None past the series.

    One-off broadcasts have one occurrence. Recurring ones follow the cron expression in their time zone,
    so 09:00 stays 09:00 local across daylight-saving changes.
    """
    assert spec.start_at is not None
    if spec.recurrence is None:
        if index > 0:
            return None
        end = spec.end_at or spec.start_at + spec.duration()
        return spec.start_at, end
    rec = spec.recurrence
    if rec.count is not None and index >= rec.count:
        return None
    tz = ZoneInfo(rec.timezone)
    begin = max(spec.start_at, after) if after else spec.start_at
    # CronSim yields times strictly after its start: step back a second so `begin` itself can match.
    it = CronSim(rec.cron, (begin - timedelta(seconds=1)).astimezone(tz))
    start = next(it)
    if rec.until is not None and start > rec.until:
        return None
    return start, start + spec.duration()


@dataclass(frozen=True)
class Broadcast:
    id: str
    spec: BroadcastSpec
    state: BroadcastState
    created_at: datetime
    updated_at: datetime
    version: int = 0  # bumped by every change: edits are guarded updates


@dataclass(frozen=True)
class BroadcastEvent:
    """One row of a broadcast's own history: its creation and every edit or change of state."""

    at: datetime
    state_before: BroadcastState | None
    state_after: BroadcastState
    detail: str
    actor: str = "system"  # who asked: a person's or key's name; "system" when the service acted itself


@dataclass(frozen=True)
class BroadcastRun:
    """One occurrence of a broadcast."""

    id: str
    broadcast_id: str
    seq: int
    planned_start: datetime
    planned_end: datetime
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    actual_start: datetime | None = None
    actual_end: datetime | None = None
    error: str = ""
    egress_pk: str | None = None
    attempts: int = 0
    claimed_by: str = ""
    preflight: list[dict[str, object]] | None = None
    version: int = 0
    awaiting_publisher: bool = False  # starting, but the room has no publisher yet (wait_for_publisher)


@dataclass(frozen=True)
class RunEvent:
    at: datetime
    status_before: RunStatus | None
    status_after: RunStatus
    detail: str
    egress_pk: str | None = None
    kind: RunEventKind | None = None  # None on rows written before kinds were stored
    destination: str | None = None  # the destination id a READD_DESTINATION row is about
    actor: str = "system"  # who asked: a person's or key's name; "system" when the service acted itself


@dataclass(frozen=True)
class RunEgress:
    egress_pk: str
    reason: LaunchReason
    created_at: datetime


class Keep(StrEnum):
    """A RunChanges field left as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class RunChanges:
    """The fields of a run an update sets; KEEP leaves a field as it is (None clears a nullable one)."""

    egress_pk: str | Keep | None = KEEP  # the run's current egress
    error: str | Keep = KEEP
    claimed_by: str | Keep = KEEP
    planned_start: datetime | Keep = KEEP
    planned_end: datetime | Keep = KEEP
    actual_start: datetime | Keep | None = KEEP
    actual_end: datetime | Keep | None = KEEP
    preflight: list[dict[str, object]] | Keep | None = KEEP
    awaiting_publisher: bool | Keep = KEEP

    def values(self) -> dict[str, object]:
        """The fields set, by name."""
        return {name: value for name, value in self.__dict__.items() if value is not KEEP}


@dataclass(frozen=True)
class ProbeResult:
    """A destination's preflight: did the ingest complete TCP, TLS and the RTMP handshake?"""

    ok: bool
    detail: str
    millis: float
