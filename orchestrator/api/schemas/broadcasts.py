"""Bodies of the broadcast API (`/v1/broadcasts`) and their translation to and from the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from orchestrator.domain.broadcasts import (
    Broadcast,
    BroadcastEvent,
    BroadcastRun,
    BroadcastSpec,
    Destination,
    RunEgress,
    RunEvent,
    check_recurrence,
    parse_destination,
)
from orchestrator.domain.callbacks import shown_url
from orchestrator.domain.layouts import parse_layout_options
from orchestrator.domain.requests import Preset

from .common import Strict
from .layouts import LayoutOptionsIn


class DestinationIn(Strict):
    type: Literal["mux", "rtmp"]
    stream_key: str | None = Field(None, max_length=256, description="Mux Live Stream key (type mux)")
    url: str | None = Field(None, max_length=2048, description="rtmp(s)://host/app/stream_key (type rtmp)")


class RecurrenceIn(Strict):
    cron: str = Field(max_length=128, description="Five-field cron expression, e.g. '0 9 * * 1-5'")
    timezone: str = Field(max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    until: AwareDatetime | None = None
    count: int | None = None


class RecordIn(Strict):
    filepath: str = Field("broadcasts/{room_name}-{time}.mp4", max_length=1024)


class BroadcastCreate(Strict):
    room_name: str = Field(max_length=256)
    layout: str = Field("gallery", max_length=64)
    layout_options: LayoutOptionsIn | None = None
    destinations: list[DestinationIn] = Field(default_factory=list, max_length=10)
    record: RecordIn | None = None
    preset: Preset = Preset.P1080_30
    start_at: AwareDatetime | None = Field(None, description="RFC 3339 with offset; leave out to start now")
    end_at: AwareDatetime | None = None
    max_duration_s: int | None = None
    recurrence: RecurrenceIn | None = None
    wait_for_publisher: bool = False
    require_preflight: bool = Field(False, description="a failed preflight (the automatic one, or one made as "
                                                       "the run starts when none passed recently) fails the run "
                                                       "with the reasons instead of starting it")
    title: str = Field("", max_length=256)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)
    callback_urls: list[str] = Field(default_factory=list, max_length=5,
                                     description="broadcast.started/ended/failed/preflight_failed go here too "
                                                 "(signed)")

    def to_spec(self) -> BroadcastSpec:
        destinations = tuple(parse_destination(d.model_dump(), f"destinations.{i}")
                             for i, d in enumerate(self.destinations))
        recurrence = None
        if self.recurrence is not None:
            r = self.recurrence
            recurrence = check_recurrence(r.cron, r.timezone, r.until, r.count)
        return BroadcastSpec(
            room_name=self.room_name.strip(), destinations=destinations, layout=self.layout, preset=self.preset,
            record_filepath=self.record.filepath if self.record else None, start_at=self.start_at,
            end_at=self.end_at, max_duration_s=self.max_duration_s, recurrence=recurrence,
            wait_for_publisher=self.wait_for_publisher, title=self.title, metadata=self.metadata,
            callback_urls=tuple(self.callback_urls), require_preflight=self.require_preflight,
            layout_options=parse_layout_options(self.layout_options.model_dump(exclude_none=True))
            if self.layout_options else None,
        )


class BroadcastUpdate(Strict):
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None
    max_duration_s: int | None = None
    layout: str | None = Field(None, max_length=64)
    add_destinations: list[DestinationIn] = Field(default_factory=list, max_length=10)
    remove_destinations: list[str] = Field(default_factory=list, max_length=10,
                                           description="destination ids (dst_...)")

    def destinations_to_add(self) -> list[Destination]:
        return [parse_destination(d.model_dump(), f"add_destinations.{i}")
                for i, d in enumerate(self.add_destinations)]


class RunOut(BaseModel):
    id: str
    seq: int
    status: str
    planned_start: datetime
    planned_end: datetime
    actual_start: datetime | None
    actual_end: datetime | None
    error: str
    attempts: int
    egress: str | None
    egresses: list[dict[str, Any]]
    preflight: list[dict[str, Any]] | None
    events: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, run: BroadcastRun, events: list[RunEvent] | None = None,
           egresses: list[RunEgress] | None = None) -> RunOut:
        return cls(
            id=run.id, seq=run.seq, status=run.status.value, planned_start=run.planned_start,
            planned_end=run.planned_end, actual_start=run.actual_start, actual_end=run.actual_end, error=run.error,
            attempts=run.attempts, egress=run.egress_pk,
            egresses=[{"id": e.egress_pk, "reason": e.reason, "created_at": e.created_at} for e in egresses or []],
            preflight=run.preflight,
            events=[{"at": e.at, "status_before": e.status_before.value if e.status_before else None,
                     "status_after": e.status_after.value, "egress": e.egress_pk, "detail": e.detail,
                     "actor": e.actor}
                    for e in events] if events is not None else None,
        )


class NextRunOut(BaseModel):
    """A broadcast's next run as lists show it: under way, or the one to come."""

    id: str
    seq: int
    status: str
    planned_start: datetime
    planned_end: datetime
    timezone: str  # the broadcast's IANA zone (its recurrence's; UTC for a one-off), to show the times in

    @classmethod
    def of(cls, run: BroadcastRun, b: Broadcast) -> NextRunOut:
        return cls(id=run.id, seq=run.seq, status=run.status.value, planned_start=run.planned_start,
                   planned_end=run.planned_end, timezone=b.spec.recurrence.timezone if b.spec.recurrence else "UTC")


class BroadcastEventOut(BaseModel):
    at: datetime
    state_before: str | None
    state_after: str
    detail: str
    actor: str  # who asked: a person's or API key's name; "system" when the service acted itself


class BroadcastOut(BaseModel):
    id: str
    room_name: str
    layout: str
    layout_options: dict[str, object] | None
    preset: str
    destinations: list[dict[str, str]]
    record: dict[str, str] | None
    start_at: datetime | None
    end_at: datetime | None
    max_duration_s: int | None
    recurrence: dict[str, Any] | None
    wait_for_publisher: bool
    require_preflight: bool
    title: str
    metadata: dict[str, str]
    callback_urls: list[str]
    state: str
    created_at: datetime
    updated_at: datetime
    runs: list[RunOut] | None = None
    next_run: NextRunOut | None = None  # in lists only (the detail has every run)
    history: list[BroadcastEventOut] | None = None  # in the detail only: creation, edits, changes of state

    @classmethod
    def of(cls, b: Broadcast, runs: list[RunOut] | None = None, next_run: BroadcastRun | None = None,
           history: list[BroadcastEvent] | None = None) -> BroadcastOut:
        s = b.spec
        rec = s.recurrence
        return cls(
            id=b.id, room_name=s.room_name, layout=s.layout, preset=s.preset.value,
            layout_options=s.layout_options.to_query() if s.layout_options else None,
            destinations=[{"id": d.id, "type": d.kind, "url": d.display} for d in s.destinations],
            record={"filepath": s.record_filepath} if s.record_filepath is not None else None,
            start_at=s.start_at, end_at=s.end_at, max_duration_s=s.max_duration_s,
            recurrence={"cron": rec.cron, "timezone": rec.timezone, "until": rec.until, "count": rec.count}
            if rec else None,
            wait_for_publisher=s.wait_for_publisher, require_preflight=s.require_preflight, title=s.title,
            metadata=s.metadata, callback_urls=[shown_url(u) for u in s.callback_urls], state=b.state.value,
            created_at=b.created_at, updated_at=b.updated_at, runs=runs,
            next_run=NextRunOut.of(next_run, b) if next_run is not None else None,
            history=[BroadcastEventOut(at=e.at, state_before=e.state_before.value if e.state_before else None,
                                       state_after=e.state_after.value, detail=e.detail, actor=e.actor)
                     for e in history] if history is not None else None,
        )


class BroadcastPage(BaseModel):
    items: list[BroadcastOut]
    next_cursor: str | None
