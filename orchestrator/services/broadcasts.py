"""Scheduled broadcasts: each run starts exactly once, heals itself while live, and ends when LiveKit says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ParamSpec, Protocol, TypeVar

from starlette.concurrency import run_in_threadpool

from orchestrator.adapters.rtmp_probe import RtmpProbe
from orchestrator.adapters.sql.broadcast_repository import SqlBroadcastRepository
from orchestrator.adapters.sql.egress_repository import SqlEgressRepository
from orchestrator.domain.broadcasts import (
    RUN_ACTIVE,
    Broadcast,
    BroadcastRun,
    BroadcastSpec,
    BroadcastState,
    Destination,
    RunEgress,
    RunEvent,
    RunStatus,
    check_layout,
    healing_delay,
    needs_rollover,
    occurrence,
    validate_spec,
)
from orchestrator.domain.egress import EgressKind, EgressStatus
from orchestrator.domain.errors import Conflict, InvalidInput, LiveKitError, NotFound
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.ids import new_id
from orchestrator.domain.layouts import LAYOUT_NAMES, layout_url
from orchestrator.domain.requests import EgressRequest, FileOutput, S3Target, StreamOutput

from .changes import EgressChange
from .egresses import EgressLedgerService
from .ports import Clock, EgressGateway

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class Timer(Protocol):
    """Runs a coroutine at a given time in this process (APScheduler behind it); keyed, replaceable."""

    def at(self, when: datetime, key: str, job: Callable[[], Awaitable[None]]) -> None: ...
    def cancel(self, key: str) -> None: ...


@dataclass(frozen=True)
class BroadcastPolicy:
    cap: timedelta = timedelta(hours=12)
    misfire_grace: timedelta = timedelta(minutes=5)
    heal_attempts: int = 5
    heal_base_s: float = 1.0
    rollover_after: timedelta = timedelta(hours=11, minutes=45)  # before LiveKit Cloud's 12 h stream limit
    preflight_lead: timedelta = timedelta(minutes=3)
    stop_retry: timedelta = timedelta(seconds=10)
    launch_lease: timedelta = timedelta(seconds=90)  # a replica that claimed a start and went silent is replaced
    timer_horizon: timedelta = timedelta(minutes=15)  # runs further ahead wait in the database only


@dataclass(frozen=True)
class BroadcastView:
    broadcast: Broadcast
    runs: list[tuple[BroadcastRun, list[RunEvent], list[RunEgress]]]


class BroadcastService:
    """Schedules, starts, heals and stops broadcast runs; the database decides who does what."""

    def __init__(
        self,
        repo: SqlBroadcastRepository,
        ledger: SqlEgressRepository,
        egresses: EgressLedgerService,
        gateway: EgressGateway,
        clock: Clock,
        timer: Timer,
        *,
        instance: str,
        public_url: str,
        storage: S3Target | None,
        policy: BroadcastPolicy | None = None,
        probe: RtmpProbe | None = None,
        layout_check: Callable[[str], Awaitable[tuple[bool, str]]] | None = None,
    ) -> None:
        self._repo, self._ledger, self._egresses, self._gateway = repo, ledger, egresses, gateway
        self._now, self._timer, self._instance = clock, timer, instance
        self._public_url, self._storage = public_url, storage
        self.policy = policy or BroadcastPolicy()
        self._probe = probe or RtmpProbe()
        self._layout_check = layout_check
        # Set by bootstrap: sends broadcast.started/ended/failed callbacks (idempotent per run and kind).
        self.announce: Callable[[str, str, dict[str, object], tuple[str, ...]], Awaitable[object]] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._last_stop: dict[str, datetime] = {}

    # ---- queries -----------------------------------------------------------------------------

    def get(self, broadcast_id: str) -> Broadcast:
        broadcast = self._repo.get(broadcast_id)
        if broadcast is None:
            raise NotFound(f"no broadcast with id {broadcast_id!r}")
        return broadcast

    def find(self, *, room_name: str | None = None, state: BroadcastState | None = None,
             before: tuple[datetime, str] | None = None, limit: int = 50) -> list[Broadcast]:
        return self._repo.find(room_name=room_name, state=state, before=before, limit=limit)

    def view(self, broadcast_id: str) -> BroadcastView:
        broadcast = self.get(broadcast_id)
        runs = [(r, self._repo.events(r.id), self._repo.egresses(r.id)) for r in self._repo.runs_of(broadcast_id)]
        return BroadcastView(broadcast, runs)

    # ---- commands ----------------------------------------------------------------------------

    async def create(self, spec: BroadcastSpec) -> Broadcast:
        now = self._now()
        spec = validate_spec(spec, now, self.policy.cap)
        first = occurrence(spec, 0)
        if first is None:
            raise InvalidInput("recurrence", "the series has no occurrence (check start_at, until and count)")
        broadcast = Broadcast(id=new_id("brd"), spec=spec, state=BroadcastState.ACTIVE, created_at=now,
                              updated_at=now)
        run = self._new_run(broadcast, 0, *first)
        await self._db(self._repo.create, broadcast, run, detail="scheduled")
        self._schedule(run)
        return broadcast

    async def start_now(self, broadcast_id: str) -> BroadcastRun:
        """Start the next scheduled run now instead of at its planned time."""
        broadcast = await self._db(self.get, broadcast_id)
        if broadcast.state != BroadcastState.ACTIVE:
            raise Conflict(f"broadcast {broadcast_id} is {broadcast.state.value}")
        runs = await self._db(self._repo.runs_of, broadcast_id)
        if any(r.status in RUN_ACTIVE for r in runs):
            raise Conflict("a run of this broadcast is already live or starting")
        scheduled = [r for r in runs if r.status == RunStatus.SCHEDULED]
        if not scheduled:
            raise Conflict("this broadcast has no scheduled run left")
        run = scheduled[0]
        now = self._now()
        duration = run.planned_end - run.planned_start
        claimed = await self._db(self._repo.transition, run.id, [RunStatus.SCHEDULED], RunStatus.STARTING, now,
                                 "started by hand ahead of schedule", claimed_by=self._instance,
                                 planned_start=now, planned_end=now + duration)
        if claimed is None:
            raise Conflict("the run was claimed meanwhile")
        self._timer.at(claimed.planned_end, f"end:{run.id}", lambda: self.end_run(run.id))
        await self._launch(claimed, "start")
        return await self._db(self._repo.run, run.id) or claimed

    async def stop(self, broadcast_id: str, *, reason: str = "stopped by hand") -> BroadcastRun:
        """Stop the run that is live or starting now."""
        await self._db(self.get, broadcast_id)
        active = [r for r in await self._db(self._repo.runs_of, broadcast_id) if r.status in RUN_ACTIVE]
        if not active:
            raise Conflict("no run of this broadcast is live or starting")
        return await self._stop_run(active[0], reason)

    async def cancel(self, broadcast_id: str) -> Broadcast:
        """No more runs; a live run is stopped."""
        await self._db(self.get, broadcast_id)
        now = self._now()
        await self._db(self._repo.update_broadcast, broadcast_id, now, state=BroadcastState.CANCELLED)
        for run in await self._db(self._repo.runs_of, broadcast_id):
            if run.status == RunStatus.SCHEDULED:
                await self._db(self._repo.transition, run.id, [RunStatus.SCHEDULED], RunStatus.CANCELLED, now,
                               "cancelled")
                self._unschedule(run.id)
            elif run.status in RUN_ACTIVE:
                await self._stop_run(run, "cancelled")
        return await self._db(self.get, broadcast_id)

    async def update(
        self, broadcast_id: str, *, start_at: datetime | None = None, end_at: datetime | None = None,
        max_duration_s: int | None = None, layout: str | None = None,
        add_destinations: list[Destination] | None = None, remove_destinations: list[str] | None = None,
    ) -> Broadcast:
        """Reschedule; while live, change the layout and add or remove destinations without interrupting others."""
        broadcast = await self._db(self.get, broadcast_id)
        if broadcast.state != BroadcastState.ACTIVE:
            raise Conflict(f"broadcast {broadcast_id} is {broadcast.state.value}")
        spec = broadcast.spec
        now = self._now()
        destinations = list(spec.destinations)
        for dest in add_destinations or []:
            if dest.url in {d.url for d in destinations}:
                raise InvalidInput("add_destinations", "that destination is already part of the broadcast")
            destinations.append(dest)
        removed: list[Destination] = []
        for ref in remove_destinations or []:
            match = [d for d in destinations if d.id == ref]
            if not match:
                raise InvalidInput("remove_destinations", f"no destination with id {ref!r}")
            destinations.remove(match[0])
            removed.append(match[0])
        if not destinations:
            raise InvalidInput("remove_destinations", "a broadcast keeps at least one destination")
        runs = await self._db(self._repo.runs_of, broadcast_id)
        live = next((r for r in runs if r.status in RUN_ACTIVE), None)
        new_spec = replace(spec, destinations=tuple(destinations), layout=layout or spec.layout)
        if start_at is not None or end_at is not None or max_duration_s is not None:
            if live is not None and start_at is not None:
                raise Conflict("the broadcast is live; only its end can be changed now")
            new_spec = replace(
                new_spec, start_at=start_at or spec.start_at,
                end_at=end_at if end_at is not None else (None if max_duration_s is not None else spec.end_at),
                max_duration_s=max_duration_s if max_duration_s is not None
                else (None if end_at is not None else spec.max_duration_s))
            # While live, the start is history: check the new end against it, not against now.
            new_spec = validate_spec(new_spec, now if live is None else new_spec.start_at or now, self.policy.cap)
        if layout is not None:
            check_layout(layout)
        await self._db(self._repo.update_broadcast, broadcast_id, now, spec=new_spec)
        if live is not None and live.egress_pk is not None:
            await self._apply_live_changes(live, layout, add_destinations or [], removed)
            if end_at is not None or max_duration_s is not None:
                first = occurrence(new_spec, 0)
                if first is not None and live.seq == 0:
                    planned_end = first[1] if end_at is not None else live.planned_start + new_spec.duration()
                    await self._db(self._repo.note, live.id, now, f"end moved to {planned_end.isoformat()}",
                                   planned_end=planned_end)
                    self._timer.at(planned_end, f"end:{live.id}", lambda: self.end_run(live.id))
        for run in runs:
            if run.status == RunStatus.SCHEDULED and (start_at or end_at or max_duration_s):
                slot = occurrence(new_spec, run.seq)
                if slot is not None:
                    await self._db(self._repo.note, run.id, now, "rescheduled", planned_start=slot[0],
                                   planned_end=slot[1])
                    updated = await self._db(self._repo.run, run.id)
                    if updated is not None:
                        self._schedule(updated)
        return await self._db(self.get, broadcast_id)

    async def _apply_live_changes(
        self, run: BroadcastRun, layout: str | None, add: list[Destination], remove: list[Destination]
    ) -> None:
        assert run.egress_pk is not None
        now = self._now()
        if layout is not None:
            await self._egresses.update(run.egress_pk, layout=layout)
            await self._db(self._repo.note, run.id, now, f"layout changed to {layout}", egress_pk=run.egress_pk)
        if add or remove:
            await self._egresses.update(run.egress_pk, add_stream_urls=[d.url for d in add],
                                        remove_stream_urls=[d.url for d in remove])
            names = [f"+{d.display}" for d in add] + [f"-{d.display}" for d in remove]
            await self._db(self._repo.note, run.id, now, f"destinations changed: {', '.join(names)}",
                           egress_pk=run.egress_pk)

    # ---- the run lifecycle -------------------------------------------------------------------

    async def start_due(self) -> None:
        """Claim every run whose start has come (one transaction) and launch them all at once."""
        now = self._now()
        claimed, missed = await self._db(self._repo.claim_due, now, now - self.policy.misfire_grace, self._instance)
        for run in missed:
            log.warning("broadcast run %s missed its start by %d s", run.id,
                        int((now - run.planned_start).total_seconds()))
            await self._next_occurrence(run)
        if claimed:
            await self._launch_many(claimed, "start")

    async def _launch(self, run: BroadcastRun, reason: str) -> None:
        """Start an egress for one run (the first one, a replacement, or a rollover)."""
        await self._launch_many([run], reason)

    async def _launch_many(self, runs: list[BroadcastRun], reason: str) -> None:
        """Start egresses for runs: their rows and links in two transactions, then every call at once."""
        async with contextlib.AsyncExitStack() as stack:
            for run_id in sorted({r.id for r in runs}):
                await stack.enter_async_context(self._lock(run_id))
            loaded = await self._db(self._load, runs)  # one hop for all: 300 runs due together are common
            ready = [r for r in [await self._ready(run, broadcast, reason) for run, broadcast in loaded]
                     if r is not None]
            if not ready:
                return
            requests = [self._egress_request(b.spec) for _, b in ready]
            records = await self._db(self._egresses.prepare, requests)
            links = [(run.id, record.id, reason) for (run, _), record in zip(ready, records, strict=True)]
            await self._db(self._repo.attach_many, links, self._now())
            results = await asyncio.gather(*(self._egresses.launch(rec, req) for rec, req in zip(records, requests,
                                                                                                 strict=True)),
                                           return_exceptions=True)
            started: list[tuple[str, str, str]] = []
            for (run, _), record, result in zip(ready, records, results, strict=True):
                if isinstance(result, BaseException):
                    message = result.message if isinstance(result, LiveKitError) else type(result).__name__
                    if not isinstance(result, LiveKitError):
                        log.error("start of run %s failed", run.id, exc_info=result)
                    await self._launch_failed(run, record.id, reason, message)
                else:
                    started.append((run.id, record.id, f"{reason}: LiveKit started {result.egress_id}"))
            await self._db(self._note_all, started)

    def _load(self, runs: list[BroadcastRun]) -> list[tuple[BroadcastRun, Broadcast | None]]:
        """Each run as stored now, with its broadcast."""
        broadcasts: dict[str, Broadcast | None] = {}
        loaded = []
        for run in runs:
            if run.broadcast_id not in broadcasts:
                broadcasts[run.broadcast_id] = self._repo.get(run.broadcast_id)
            loaded.append((self._repo.run(run.id) or run, broadcasts[run.broadcast_id]))
        return loaded

    def _note_all(self, notes: list[tuple[str, str, str]]) -> None:
        for run_id, egress_pk, detail in notes:
            self._repo.note(run_id, self._now(), detail, egress_pk=egress_pk)

    async def _ready(
        self, run: BroadcastRun, broadcast: Broadcast | None, reason: str
    ) -> tuple[BroadcastRun, Broadcast] | None:
        """The run and its broadcast if an egress should be started for it now."""
        if broadcast is None or run.status not in RUN_ACTIVE or run.status == RunStatus.STOPPING:
            return None
        if reason != "rollover" and (run.egress_pk is not None or run.claimed_by != self._instance):
            return None  # launched already, or another replica owns this launch
        now = self._now()
        if now >= run.planned_end:
            await self._finish_without_egress(run, _no_start_reason(run))
            return None
        if broadcast.spec.wait_for_publisher and reason == "start" and not await self._has_publisher(broadcast):
            if "waiting for a publisher" not in (run.error or ""):
                await self._db(self._repo.note, run.id, now,
                               f"waiting for a publisher in room {broadcast.spec.room_name!r}",
                               error="waiting for a publisher")
            return None
        return run, broadcast

    async def _launch_failed(self, run: BroadcastRun, egress_pk: str, reason: str, message: str) -> None:
        attempts = run.attempts + 1
        now = self._now()
        if attempts >= self.policy.heal_attempts:
            failed = await self._db(self._repo.transition, run.id, RUN_ACTIVE, RunStatus.FAILED, now,
                                    f"{reason} failed ({message}); giving up after {attempts} attempts",
                                    egress_pk=egress_pk, error=message, actual_end=now)
            await self._emit("broadcast.failed", failed)
            return
        delay = healing_delay(attempts, self.policy.heal_base_s)
        await self._db(self._repo.note, run.id, now, f"{reason} failed ({message}); retrying in {delay:g} s",
                       egress_pk=egress_pk, current_egress=None, error=message)
        self._timer.at(now + timedelta(seconds=delay), f"heal:{run.id}", lambda: self._launch(run, reason))

    async def end_run(self, run_id: str) -> None:
        """At the planned end: stop the egress; the run ends when LiveKit reports it finished."""
        run = await self._db(self._repo.run, run_id)
        if run is None or run.status not in (RunStatus.STARTING, RunStatus.LIVE):
            return
        await self._stop_run(run, "planned end")

    async def _stop_run(self, run: BroadcastRun, reason: str) -> BroadcastRun:
        now = self._now()
        if run.egress_pk is None:
            if reason == "planned end":
                reason = _no_start_reason(run)
            return await self._finish_without_egress(run, reason)
        stopping = await self._db(self._repo.transition, run.id, [RunStatus.STARTING, RunStatus.LIVE],
                                  RunStatus.STOPPING, now, f"stopping: {reason}", egress_pk=run.egress_pk,
                                  error="cancelled" if reason == "cancelled" else run.error)
        run = stopping or await self._db(self._repo.run, run.id) or run
        await self._stop_egress(run)
        return await self._db(self._repo.run, run.id) or run

    async def _stop_egress(self, run: BroadcastRun) -> None:
        assert run.egress_pk is not None
        self._last_stop[run.id] = self._now()
        try:
            record = await self._egresses.stop(run.egress_pk)
        except LiveKitError as exc:
            await self._db(self._repo.note, run.id, self._now(), f"stop failed ({exc.message}); will retry",
                           egress_pk=run.egress_pk)
            return
        if record.status.terminal:
            await self._egress_finished(run, record.id, record.status, record.error)

    async def _finish_without_egress(self, run: BroadcastRun, reason: str) -> BroadcastRun:
        broadcast = await self._db(self._repo.get, run.broadcast_id)
        cancelled = broadcast is not None and broadcast.state == BroadcastState.CANCELLED
        target = RunStatus.CANCELLED if cancelled else RunStatus.FAILED
        done = await self._db(self._repo.transition, run.id, RUN_ACTIVE, target, self._now(),
                              f"ended without an egress: {reason}", error="" if cancelled else reason,
                              actual_end=self._now())
        if done is not None:
            await self._emit("broadcast.ended" if cancelled else "broadcast.failed", done)
            await self._next_occurrence(done)
        return done or run

    # ---- reacting to the egress ledger ---------------------------------------------------------

    async def on_egress_change(self, change: EgressChange) -> None:
        record = change.record
        if record.egress_id is None:
            return  # a start call that failed: the launcher handles it
        run = await self._db(self._repo.run_for_egress, record.id)
        if run is None:
            return
        if record.id != run.egress_pk:
            return  # an egress this run has moved on from (replaced or rolled over)
        if record.status == EgressStatus.ACTIVE:
            # The run's egress is active: any older egress still running (after a rollover) can go now.
            for older in await self._db(self._repo.egresses, run.id):
                previous = await self._db(self._ledger.get, older.egress_pk)
                if previous is not None and previous.id != record.id and not previous.status.terminal:
                    await self._db(self._repo.note, run.id, self._now(),
                                   f"handed over to {record.id}; stopping {previous.id}", egress_pk=previous.id)
                    await self._egresses.stop_quietly(previous.id)
            if run.status == RunStatus.STARTING:
                live = await self._db(self._repo.transition, run.id, [RunStatus.STARTING], RunStatus.LIVE, self._now(),
                                      f"live: egress {record.id} is active", egress_pk=record.id,
                                      actual_start=run.actual_start or self._now(), error="")
                await self._emit("broadcast.started", live)
            return
        if record.status.terminal:
            await self._egress_finished(run, record.id, record.status, record.error)

    async def _egress_finished(self, run: BroadcastRun, egress_pk: str, status: EgressStatus, error: str) -> None:
        current = await self._db(self._repo.run, run.id)
        run = current or run
        if run.egress_pk != egress_pk or run.status.finished:
            return
        now = self._now()
        ending = run.status == RunStatus.STOPPING or now >= run.planned_end - timedelta(seconds=2)
        if ending:
            broadcast = await self._db(self._repo.get, run.broadcast_id)
            cancelled = broadcast is not None and broadcast.state == BroadcastState.CANCELLED
            target = RunStatus.CANCELLED if cancelled else RunStatus.ENDED
            done = await self._db(self._repo.transition, run.id, RUN_ACTIVE, target, now,
                                  f"ended: egress {egress_pk} finished ({status.value})", egress_pk=egress_pk,
                                  actual_end=now, error="" if status == EgressStatus.COMPLETE else error)
            if done is not None:
                await self._emit("broadcast.ended", done)
                await self._next_occurrence(done)
            return
        # Ended before the run's end: heal with a replacement egress, quickly and a bounded number of times.
        egresses = await self._db(self._repo.egresses, run.id)
        replacements = sum(1 for e in egresses if e.reason == "replacement")
        if replacements >= self.policy.heal_attempts:
            failed = await self._db(self._repo.transition, run.id, RUN_ACTIVE, RunStatus.FAILED, now,
                                    f"egress {egress_pk} ended ({status.value}: {error}); no replacement "
                                    f"left after {replacements}", egress_pk=egress_pk,
                                    error=error or status.value, actual_end=now)
            await self._emit("broadcast.failed", failed)
            return
        delay = healing_delay(replacements + 1, self.policy.heal_base_s)
        claimed = await self._db(
            self._repo.note_if,
            run.id, run.version, now, f"egress {egress_pk} ended early ({status.value}: {error}); "
                                      f"replacement {replacements + 1} in {delay:g} s by {self._instance}",
            egress_pk=egress_pk, current_egress=None, claimed_by=self._instance, error=error or status.value)
        if claimed is None:
            return  # another replica is healing this run
        run = claimed
        self._timer.at(now + timedelta(seconds=delay), f"heal:{run.id}", lambda: self._launch(run, "replacement"))

    async def on_room_event(self, notice: WebhookNotice) -> None:
        """A publisher appeared: start the runs of that room that wait for one, without waiting for the sweep."""
        if notice.event not in ("track_published", "participant_joined") or not notice.room_name:
            return
        for run in await self._db(self._repo.runs_in, [RunStatus.STARTING]):
            if run.egress_pk is None and run.claimed_by == self._instance:
                broadcast = await self._db(self._repo.get, run.broadcast_id)
                if broadcast is not None and broadcast.spec.room_name == notice.room_name:
                    await self._launch(run, "start")

    # ---- the sweep: what timers and notifications may have missed ---------------------------

    async def sweep(self) -> None:
        now = self._now()
        await self.start_due()
        for run in await self._db(self._repo.runs_in, RUN_ACTIVE):
            await self._check_active(run, now)

    async def _check_active(self, run: BroadcastRun, now: datetime) -> None:
        if run.status in (RunStatus.STARTING, RunStatus.LIVE) and now >= run.planned_end:
            await self._stop_run(run, "planned end")
            return
        if run.egress_pk is None:
            if run.status == RunStatus.STOPPING:
                return
            if run.claimed_by != self._instance:
                if now - run.updated_at < self.policy.launch_lease:
                    return  # another replica is starting it
                taken = await self._db(self._repo.note_if, run.id, run.version, now,
                                       f"{self._instance} takes over from {run.claimed_by or 'nobody'}, "
                                       "silent for longer than the lease", claimed_by=self._instance)
                if taken is None:
                    return
                run = taken
            # Waiting for a publisher, or a start/replacement to retry.
            await self._launch(run, "start" if run.status == RunStatus.STARTING else "replacement")
            return
        record = await self._db(self._ledger.get, run.egress_pk)
        if record is None:
            return
        if record.status.terminal:
            await self._egress_finished(run, record.id, record.status, record.error)
            return
        if run.status == RunStatus.STOPPING:
            last = self._last_stop.get(run.id)
            if last is None or now - last >= self.policy.stop_retry:
                await self._stop_egress(run)
            return
        if record.status == EgressStatus.ACTIVE and run.status == RunStatus.STARTING:
            await self.on_egress_change(EgressChange(record, EgressStatus.STARTING))
            return
        if run.status == RunStatus.LIVE:
            await self._heal_streams(run, record.results.streams)
            if not needs_rollover(record.started_at, now, self.policy.rollover_after):
                return
            egresses = await self._db(self._repo.egresses, run.id)
            if any(e.reason == "rollover" and e.created_at > (record.started_at or now) for e in egresses):
                return
            claimed = await self._db(self._repo.note_if, run.id, run.version, now,
                                     "rolling over to a new egress before the stream time limit", egress_pk=record.id)
            if claimed is not None:
                await self._launch(claimed, "rollover")

    async def _heal_streams(self, run: BroadcastRun, streams: tuple[object, ...]) -> None:
        broadcast = await self._db(self._repo.get, run.broadcast_id)
        if broadcast is None or run.egress_pk is None:
            return
        by_display = {d.display: d for d in broadcast.spec.destinations}
        active = {getattr(s, "url", "") for s in streams if getattr(s, "status", "") == "active"}
        failed = {getattr(s, "url", "") for s in streams if getattr(s, "status", "") == "failed"}
        for shown in failed - active:
            dest = by_display.get(shown)
            if dest is None:
                continue
            events = await self._db(self._repo.events, run.id)
            tries = sum(1 for e in events if f"re-adding destination {dest.id}" in e.detail)
            if tries >= self.policy.heal_attempts:
                continue
            claimed = await self._db(self._repo.note_if, run.id, run.version, self._now(),
                                     f"re-adding destination {dest.id} ({dest.display}): its stream failed "
                                     f"(attempt {tries + 1})", egress_pk=run.egress_pk)
            if claimed is None or claimed.egress_pk is None:
                return  # another replica is on it
            run = claimed
            try:
                await self._egresses.update(claimed.egress_pk, add_stream_urls=[dest.url])
            except LiveKitError as exc:
                await self._db(self._repo.note, run.id, self._now(), f"re-adding {dest.id} failed: {exc.message}")

    # ---- preflight ---------------------------------------------------------------------------

    async def preflight(self, broadcast_id: str) -> list[dict[str, object]]:
        """LiveKit reachable and allowed to record; each destination completes the RTMP handshake; layout answers."""
        broadcast = await self._db(self.get, broadcast_id)
        checks: list[dict[str, object]] = []
        try:
            await self._gateway.check_access()
            checks.append({"check": "livekit", "ok": True, "detail": "reachable; the credentials may record"})
        except LiveKitError as exc:
            checks.append({"check": "livekit", "ok": False, "detail": exc.message})
        results = await asyncio.gather(*(self._probe.probe(d.url) for d in broadcast.spec.destinations))
        for dest, result in zip(broadcast.spec.destinations, results, strict=True):
            checks.append({"check": f"destination {dest.id}", "destination": dest.display, "ok": result.ok,
                           "detail": result.detail, "millis": result.millis})
        layout = broadcast.spec.layout
        if layout in LAYOUT_NAMES and self._layout_check is not None:
            ok, detail = await self._layout_check(layout_url(self._public_url, layout))
            checks.append({"check": "layout", "ok": ok, "detail": detail})
        else:
            checks.append({"check": "layout", "ok": True, "detail": f"LiveKit's built-in layout {layout!r}"})
        runs = await self._db(self._repo.runs_of, broadcast_id)
        target = next((r for r in runs if r.status in RUN_ACTIVE), None) or next(
            (r for r in runs if r.status == RunStatus.SCHEDULED), None)
        if target is not None:
            passed = sum(1 for c in checks if c["ok"])
            await self._db(self._repo.note, target.id, self._now(), f"preflight: {passed}/{len(checks)} checks passed",
                           preflight=checks)
        return checks

    # ---- scheduling --------------------------------------------------------------------------

    async def refresh_timers(self) -> None:
        await self.rebuild()

    async def rebuild(self) -> int:
        """At start-up and then every minute: put the runs of the coming horizon on the timer.

        The database is the source of truth; only the near future is held in memory, so start-up stays
        fast with many thousands of broadcasts scheduled.
        """
        horizon = self._now() + self.policy.timer_horizon
        runs = await self._db(self._repo.runs_in, [RunStatus.SCHEDULED], starting_before=horizon)
        runs += await self._db(self._repo.runs_in, [RunStatus.STARTING, RunStatus.LIVE])
        for run in runs:
            self._schedule(run)
        return len(runs)

    def _schedule(self, run: BroadcastRun) -> None:
        if run.planned_start > self._now() + self.policy.timer_horizon:
            return  # a later rebuild picks it up
        if run.status == RunStatus.SCHEDULED:
            pre = run.planned_start - self.policy.preflight_lead
            if pre > self._now() and self.policy.preflight_lead:
                self._timer.at(pre, f"pre:{run.id}", lambda: self._auto_preflight(run))
            # One job per moment: runs due together are claimed and launched together.
            self._timer.at(run.planned_start, f"due:{run.planned_start.isoformat()}", self.start_due)
        self._timer.at(run.planned_end, f"end:{run.id}", lambda: self.end_run(run.id))

    def _unschedule(self, run_id: str) -> None:
        for prefix in ("pre", "end", "heal"):
            self._timer.cancel(f"{prefix}:{run_id}")

    async def _auto_preflight(self, run: BroadcastRun) -> None:
        current = await self._db(self._repo.run, run.id)
        if current is not None and current.status == RunStatus.SCHEDULED:
            await self.preflight(run.broadcast_id)

    async def _next_occurrence(self, finished: BroadcastRun) -> None:
        lock = self._locks.get(finished.id)
        if lock is not None and not lock.locked():
            del self._locks[finished.id]  # a finished run needs no lock any more
        self._last_stop.pop(finished.id, None)
        broadcast = await self._db(self._repo.get, finished.broadcast_id)
        if broadcast is None or broadcast.state != BroadcastState.ACTIVE:
            return
        slot = occurrence(broadcast.spec, finished.seq + 1, after=finished.planned_start + timedelta(seconds=1))
        if slot is None:
            await self._db(self._repo.update_broadcast, broadcast.id, self._now(), state=BroadcastState.FINISHED)
            return
        run = self._new_run(broadcast, finished.seq + 1, *slot)
        if await self._db(self._repo.add_run, run, "scheduled (next occurrence)"):
            self._schedule(run)

    def _new_run(self, broadcast: Broadcast, seq: int, start: datetime, end: datetime) -> BroadcastRun:
        now = self._now()
        return BroadcastRun(id=new_id("run"), broadcast_id=broadcast.id, seq=seq, planned_start=start,
                            planned_end=end, status=RunStatus.SCHEDULED, created_at=now, updated_at=now)

    # ---- helpers -----------------------------------------------------------------------------

    def _egress_request(self, spec: BroadcastSpec) -> EgressRequest:
        layout, custom = (("", layout_url(self._public_url, spec.layout, spec.layout_options))
                          if spec.layout in LAYOUT_NAMES else (spec.layout, ""))
        file = FileOutput(filepath=spec.record_filepath) if spec.record_filepath is not None else None
        return EgressRequest(
            kind=EgressKind.ROOM_COMPOSITE, room_name=spec.room_name, layout=layout, custom_base_url=custom,
            preset=spec.preset, stream=StreamOutput(tuple(d.url for d in spec.destinations)), file=file,
            storage=self._storage if file else None,
        )

    async def _has_publisher(self, broadcast: Broadcast) -> bool:
        try:
            rooms = await self._gateway.list_rooms([broadcast.spec.room_name])
        except LiveKitError:
            return False
        return any(r.name == broadcast.spec.room_name and r.num_publishers > 0 for r in rooms)

    async def _emit(self, kind: str, run: BroadcastRun | None) -> None:
        """A callback for the run's new status, sent in the background (its outbox makes it durable)."""
        if run is None or self.announce is None:
            return
        broadcast = await self._db(self._repo.get, run.broadcast_id)
        data: dict[str, object] = {
            "broadcast_id": run.broadcast_id, "run_id": run.id, "seq": run.seq, "status": run.status.value,
            "room_name": broadcast.spec.room_name if broadcast else "",
            "title": broadcast.spec.title if broadcast else "",
            "planned_start": run.planned_start.isoformat(), "planned_end": run.planned_end.isoformat(),
            "actual_start": run.actual_start.isoformat() if run.actual_start else None,
            "actual_end": run.actual_end.isoformat() if run.actual_end else None, "error": run.error,
        }
        urls = broadcast.spec.callback_urls if broadcast else ()
        task = asyncio.ensure_future(self.announce(kind, run.id, data, urls))
        self._tasks.add(task)
        task.add_done_callback(self._announced)

    def _announced(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("broadcast callback failed", exc_info=task.exception())

    @staticmethod
    async def _db(call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """A repository call in a worker thread: the event loop never waits on the database (on SQLite, on
        its one writer, which a webhook batch may hold)."""
        return await run_in_threadpool(call, *args, **kwargs)

    def _lock(self, run_id: str) -> asyncio.Lock:
        return self._locks.setdefault(run_id, asyncio.Lock())


def _no_start_reason(run: BroadcastRun) -> str:
    """Why a run reached its end time without an egress, in words a producer understands."""
    if run.error == "waiting for a publisher":
        return "no publisher joined before the end time"
    return "the broadcast could not start before its end time"
