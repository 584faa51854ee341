"""Launching a run's egress (its first, a replacement, or a rollover): rows first, then every start call at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from orchestrator.domain.broadcasts import (
    RUN_ACTIVE,
    Broadcast,
    BroadcastRun,
    BroadcastSpec,
    BroadcastState,
    LaunchReason,
    RunChanges,
    RunEventKind,
    RunStatus,
)
from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.domain.egress import EgressKind
from orchestrator.domain.errors import LiveKitError
from orchestrator.domain.layouts import LAYOUT_NAMES, layout_url
from orchestrator.domain.requests import EgressRequest, FileOutput, S3Target, StreamOutput
from orchestrator.domain.runs import (
    WAITING_FOR_PUBLISHER,
    BroadcastPolicy,
    Recovery,
    decide_launch_failed,
    launch_wants_preflight,
    no_start_reason,
)
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.ports import BroadcastStore, Clock, EgressGateway
from orchestrator.services.threads import in_thread

from .announce import RunAnnouncements
from .preflight import BroadcastPreflight
from .timers import RunTimers

log = logging.getLogger(__name__)


def egress_request(spec: BroadcastSpec, public_url: str, storage: S3Target | None, broadcast_id: str = ""
                   ) -> EgressRequest:
    """The room composite a broadcast streams: a served layout by URL, or LiveKit's built-in one by name."""
    layout, custom = (("", layout_url(public_url, spec.layout, spec.layout_options))
                      if spec.layout in LAYOUT_NAMES else (spec.layout, ""))
    file = FileOutput(filepath=spec.record_filepath) if spec.record_filepath is not None else None
    return EgressRequest(
        kind=EgressKind.ROOM_COMPOSITE, room_name=spec.room_name, layout=layout, custom_base_url=custom,
        preset=spec.preset, stream=StreamOutput(tuple(d.url for d in spec.destinations)), file=file,
        storage=storage if file else None, broadcast_id=broadcast_id,
    )


class RunLauncher:
    """Starts egresses for runs this replica owns; a failed start is retried after the domain's backoff. A run
    whose broadcast requires its preflight starts its first egress only on a recent passed one."""

    def __init__(self, store: BroadcastStore, egresses: EgressLedgerService, gateway: EgressGateway, clock: Clock,
                 timers: RunTimers, announcements: RunAnnouncements, preflight: BroadcastPreflight, *,
                 instance: str, policy: BroadcastPolicy, public_url: str, storage: S3Target | None) -> None:
        self._store, self._egresses, self._gateway, self._now = store, egresses, gateway, clock
        self._timers, self._announce, self._preflight = timers, announcements, preflight
        self._instance, self._policy, self._public_url, self._storage = instance, policy, public_url, storage
        self._locks: dict[str, asyncio.Lock] = {}

    async def launch(self, run: BroadcastRun, reason: LaunchReason) -> None:
        await self.launch_many([run], reason)

    async def launch_many(self, runs: list[BroadcastRun], reason: LaunchReason) -> None:
        """Rows and links in two transactions, then every start call at once (300 runs due together are common)."""
        async with contextlib.AsyncExitStack() as stack:
            for run_id in sorted({r.id for r in runs}):
                await stack.enter_async_context(self._lock(run_id))
            loaded = await in_thread(self._load, runs)
            ready = [r for r in [await self._ready(run, broadcast, reason) for run, broadcast in loaded]
                     if r is not None]
            if any(launch_wants_preflight(b.spec.require_preflight, reason) for _, b in ready):
                ready = await self._preflighted(ready, reason)
            if not ready:
                return
            requests = [egress_request(b.spec, self._public_url, self._storage, b.id) for _, b in ready]
            records = await in_thread(self._egresses.prepare, requests)
            links = [(run.id, record.id, reason) for (run, _), record in zip(ready, records, strict=True)]
            await in_thread(self._store.attach_many, links, self._now())
            results = await asyncio.gather(*(self._egresses.launch(rec, req)
                                             for rec, req in zip(records, requests, strict=True)),
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
            await in_thread(self._note_started, started)

    async def finish_without_egress(self, run: BroadcastRun, reason: str) -> BroadcastRun:
        """The run ends with no egress to stop: cancelled if its broadcast is, failed otherwise."""
        broadcast = await in_thread(self._store.get, run.broadcast_id)
        cancelled = broadcast is not None and broadcast.state == BroadcastState.CANCELLED
        target = RunStatus.CANCELLED if cancelled else RunStatus.FAILED
        now = self._now()
        done = await in_thread(self._store.transition, run.id, RUN_ACTIVE, target, now,
                               f"ended without an egress: {reason}",
                               RunChanges(error="" if cancelled else reason, actual_end=now),
                               kind=RunEventKind.CANCELLED if cancelled else RunEventKind.FAILED)
        if done is not None:
            await self._announce.emit(CallbackEventType.BROADCAST_ENDED if cancelled
                                      else CallbackEventType.BROADCAST_FAILED, done)
            await self.finished(done)
        return done or run

    async def finished(self, run: BroadcastRun) -> None:
        """A run is over: forget its lock, and schedule the series' next run."""
        lock = self._locks.get(run.id)
        if lock is not None and not lock.locked():
            del self._locks[run.id]
        await self._timers.next_occurrence(run)

    # ---- internals ---------------------------------------------------------------------------

    def _load(self, runs: list[BroadcastRun]) -> list[tuple[BroadcastRun, Broadcast | None]]:
        """Each run as stored now, with its broadcast (one worker-thread hop for all)."""
        broadcasts: dict[str, Broadcast | None] = {}
        loaded = []
        for run in runs:
            if run.broadcast_id not in broadcasts:
                broadcasts[run.broadcast_id] = self._store.get(run.broadcast_id)
            loaded.append((self._store.run(run.id) or run, broadcasts[run.broadcast_id]))
        return loaded

    def _note_started(self, notes: list[tuple[str, str, str]]) -> None:
        for run_id, egress_pk, detail in notes:
            self._store.note(run_id, self._now(), detail, egress_pk=egress_pk, kind=RunEventKind.LAUNCHED)

    async def _ready(self, run: BroadcastRun, broadcast: Broadcast | None, reason: LaunchReason
                     ) -> tuple[BroadcastRun, Broadcast] | None:
        """The run and its broadcast if an egress should be started for it now."""
        if broadcast is None or run.status not in RUN_ACTIVE or run.status == RunStatus.STOPPING:
            return None
        if reason != LaunchReason.ROLLOVER and (run.egress_pk is not None or run.claimed_by != self._instance):
            return None  # launched already, or another replica owns this launch
        now = self._now()
        if now >= run.planned_end:
            await self.finish_without_egress(run, no_start_reason(run))
            return None
        if broadcast.spec.wait_for_publisher and reason == LaunchReason.START and not await self._has_publisher(
                broadcast):
            if not run.awaiting_publisher:
                await in_thread(self._store.note, run.id, now,
                                f"waiting for a publisher in room {broadcast.spec.room_name!r}",
                                RunChanges(error=WAITING_FOR_PUBLISHER, awaiting_publisher=True),
                                kind=RunEventKind.WAITING_FOR_PUBLISHER)
            return None
        return run, broadcast

    async def _preflighted(self, ready: list[tuple[BroadcastRun, Broadcast]], reason: LaunchReason
                           ) -> list[tuple[BroadcastRun, Broadcast]]:
        """The runs that may start: those whose broadcast requires its preflight are checked all at once
        (bounded by the probes' timeouts); one that fails has failed the run instead of starting."""
        needing = [(run, b) for run, b in ready if launch_wants_preflight(b.spec.require_preflight, reason)]
        verdicts = await asyncio.gather(*(self._preflight.at_launch(run, b) for run, b in needing))
        refused = {run.id for (run, _), ok in zip(needing, verdicts, strict=True) if not ok}
        return [(run, b) for run, b in ready if run.id not in refused]

    async def _launch_failed(self, run: BroadcastRun, egress_pk: str, reason: LaunchReason, message: str) -> None:
        decision = decide_launch_failed(run.attempts + 1, self._policy)
        now = self._now()
        if decision.action == Recovery.FAIL:
            failed = await in_thread(self._store.transition, run.id, RUN_ACTIVE, RunStatus.FAILED, now,
                                     f"{reason} failed ({message}); giving up after {decision.attempt} attempts",
                                     RunChanges(error=message, actual_end=now), egress_pk=egress_pk,
                                     kind=RunEventKind.FAILED)
            await self._announce.emit(CallbackEventType.BROADCAST_FAILED, failed)
            return
        await in_thread(self._store.note, run.id, now, f"{reason} failed ({message}); retrying in "
                        f"{decision.delay_s:g} s", RunChanges(egress_pk=None, error=message), egress_pk=egress_pk,
                        kind=RunEventKind.LAUNCH_FAILED)
        self._timers.retry_at(run.id, decision.delay_s, lambda: self.launch(run, reason))

    async def _has_publisher(self, broadcast: Broadcast) -> bool:
        try:
            rooms = await self._gateway.list_rooms([broadcast.spec.room_name])
        except LiveKitError:
            return False
        return any(r.name == broadcast.spec.room_name and r.num_publishers > 0 for r in rooms)

    def _lock(self, run_id: str) -> asyncio.Lock:
        return self._locks.setdefault(run_id, asyncio.Lock())
