"""A run's lifecycle: claimed when due, live when its egress is, then ended, healed or failed; and the sweep."""

from __future__ import annotations

import logging
from datetime import datetime

from orchestrator.domain.broadcasts import (
    KEEP,
    RUN_ACTIVE,
    BroadcastRun,
    BroadcastState,
    LaunchReason,
    RunChanges,
    RunEventKind,
    RunStatus,
)
from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.domain.egress import EgressStatus
from orchestrator.domain.errors import LiveKitError
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.identity import SYSTEM
from orchestrator.domain.runs import (
    BroadcastPolicy,
    Recovery,
    StopReason,
    decide_egress_ended,
    lease_expired,
    no_start_reason,
    stop_error,
)
from orchestrator.services.changes import EgressChange
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.ports import BroadcastStore, Clock, EgressLedger
from orchestrator.services.threads import in_thread

from .announce import RunAnnouncements
from .healing import LiveRunHealer
from .launcher import RunLauncher
from .timers import RunTimers

log = logging.getLogger(__name__)
PUBLISHER_EVENTS = frozenset({"track_published", "participant_joined"})  # LiveKit webhook event names


class RunLifecycle:
    """Moves runs through their statuses; the database decides which replica does what (guarded updates)."""

    def __init__(self, store: BroadcastStore, ledger: EgressLedger, egresses: EgressLedgerService, clock: Clock,
                 timers: RunTimers, launcher: RunLauncher, healer: LiveRunHealer, announcements: RunAnnouncements,
                 *, instance: str, policy: BroadcastPolicy) -> None:
        self._store, self._ledger, self._egresses, self._now = store, ledger, egresses, clock
        self._timers, self._launcher, self._healer, self._announce = timers, launcher, healer, announcements
        self._instance, self._policy = instance, policy
        self._last_stop: dict[str, datetime] = {}

    async def start_due(self) -> None:
        """Claim every run whose start has come (one transaction, the misfire decision in the store) and
        launch them all at once."""
        now = self._now()
        claimed, missed = await in_thread(self._store.claim_due, now, self._policy.misfire_grace, self._instance)
        for run in missed:
            log.warning("broadcast run %s missed its start by %d s", run.id,
                        int((now - run.planned_start).total_seconds()))
            await self._launcher.finished(run)
        if claimed:
            await self._launcher.launch_many(claimed, LaunchReason.START)

    async def end_run(self, run_id: str) -> None:
        """At the planned end: stop the egress; the run ends when LiveKit reports it finished."""
        run = await in_thread(self._store.run, run_id)
        if run is None or run.status not in (RunStatus.STARTING, RunStatus.LIVE):
            return
        await self.stop_run(run, StopReason.PLANNED_END)

    async def stop_run(self, run: BroadcastRun, reason: StopReason, *, actor: str = SYSTEM.name) -> BroadcastRun:
        """Stop a run (`actor`: who asked; the service itself at its planned end)."""
        if run.egress_pk is None:
            why = no_start_reason(run) if reason == StopReason.PLANNED_END else reason.value
            return await self._launcher.finish_without_egress(run, why)
        error = stop_error(reason)
        stopping = await in_thread(self._store.transition, run.id, [RunStatus.STARTING, RunStatus.LIVE],
                                   RunStatus.STOPPING, self._now(), f"stopping: {reason.value}",
                                   RunChanges(error=KEEP if error is None else error), egress_pk=run.egress_pk,
                                   kind=RunEventKind.STOPPING, actor=actor)
        run = stopping or await in_thread(self._store.run, run.id) or run
        await self._stop_egress(run, actor)
        return await in_thread(self._store.run, run.id) or run

    # ---- reacting to the egress ledger ---------------------------------------------------------

    async def on_egress_change(self, change: EgressChange) -> None:
        record = change.record
        if record.egress_id is None:
            return  # a start call that failed: the launcher handles it
        run = await in_thread(self._store.run_for_egress, record.id)
        if run is None or record.id != run.egress_pk:
            return  # not a broadcast's, or an egress this run has moved on from (replaced or rolled over)
        if record.status == EgressStatus.ACTIVE:
            # The run's egress is active: any older egress still running (after a rollover) can go now.
            for older in await in_thread(self._store.egresses, run.id):
                previous = await in_thread(self._ledger.get, older.egress_pk)
                if previous is not None and previous.id != record.id and not previous.status.terminal:
                    await in_thread(self._store.note, run.id, self._now(),
                                    f"handed over to {record.id}; stopping {previous.id}", egress_pk=previous.id,
                                    kind=RunEventKind.HANDED_OVER)
                    await self._egresses.stop_quietly(previous.id)
            if run.status == RunStatus.STARTING:
                now = self._now()
                live = await in_thread(self._store.transition, run.id, [RunStatus.STARTING], RunStatus.LIVE, now,
                                       f"live: egress {record.id} is active",
                                       RunChanges(actual_start=run.actual_start or now, error=""),
                                       egress_pk=record.id, kind=RunEventKind.LIVE)
                await self._announce.emit(CallbackEventType.BROADCAST_STARTED, live)
            return
        if record.status.terminal:
            await self.egress_finished(run, record.id, record.status, record.error)

    async def egress_finished(self, run: BroadcastRun, egress_pk: str, status: EgressStatus, error: str) -> None:
        """The run's egress ended: end the run, heal it with a replacement, or fail it (the domain decides)."""
        current = await in_thread(self._store.run, run.id)
        run = current or run
        if run.egress_pk != egress_pk or run.status.finished:
            return
        now = self._now()
        egresses = await in_thread(self._store.egresses, run.id)
        decision = decide_egress_ended(run.status, run.planned_end, now, egresses, self._policy)
        if decision.action == Recovery.END:
            broadcast = await in_thread(self._store.get, run.broadcast_id)
            cancelled = broadcast is not None and broadcast.state == BroadcastState.CANCELLED
            target, kind = ((RunStatus.CANCELLED, RunEventKind.CANCELLED) if cancelled
                            else (RunStatus.ENDED, RunEventKind.ENDED))
            done = await in_thread(self._store.transition, run.id, RUN_ACTIVE, target, now,
                                   f"ended: egress {egress_pk} finished ({status.value})",
                                   RunChanges(actual_end=now, error="" if status == EgressStatus.COMPLETE else error),
                                   egress_pk=egress_pk, kind=kind)
            if done is not None:
                self._last_stop.pop(done.id, None)
                await self._announce.emit(CallbackEventType.BROADCAST_ENDED, done)
                await self._launcher.finished(done)
            return
        if decision.action == Recovery.FAIL:
            failed = await in_thread(self._store.transition, run.id, RUN_ACTIVE, RunStatus.FAILED, now,
                                     f"egress {egress_pk} ended ({status.value}: {error}); no replacement "
                                     f"left after {decision.attempt}",
                                     RunChanges(error=error or status.value, actual_end=now), egress_pk=egress_pk,
                                     kind=RunEventKind.FAILED)
            await self._announce.emit(CallbackEventType.BROADCAST_FAILED, failed)
            return
        claimed = await in_thread(
            self._store.note, run.id, now,
            f"egress {egress_pk} ended early ({status.value}: {error}); "
            f"replacement {decision.attempt} in {decision.delay_s:g} s by {self._instance}",
            RunChanges(egress_pk=None, claimed_by=self._instance, error=error or status.value),
            egress_pk=egress_pk, expected_version=run.version, kind=RunEventKind.ENDED_EARLY)
        if claimed is None:
            return  # another replica is healing this run
        self._timers.retry_at(run.id, decision.delay_s,
                              lambda: self._launcher.launch(claimed, LaunchReason.REPLACEMENT))

    async def on_room_event(self, notice: WebhookNotice) -> None:
        """A publisher appeared: start the runs of that room that wait for one, without waiting for the sweep."""
        if notice.event not in PUBLISHER_EVENTS or not notice.room_name:
            return
        for run in await in_thread(self._store.runs_in, [RunStatus.STARTING]):
            if run.egress_pk is None and run.claimed_by == self._instance:
                broadcast = await in_thread(self._store.get, run.broadcast_id)
                if broadcast is not None and broadcast.spec.room_name == notice.room_name:
                    await self._launcher.launch(run, LaunchReason.START)

    # ---- the sweep: what timers and notifications may have missed ---------------------------

    async def sweep(self) -> None:
        now = self._now()
        await self.start_due()
        active = await in_thread(self._store.runs_in, RUN_ACTIVE)
        self._last_stop = {k: v for k, v in self._last_stop.items() if k in {r.id for r in active}}
        for run in active:
            await self._check_active(run, now)

    async def _check_active(self, run: BroadcastRun, now: datetime) -> None:
        if run.status in (RunStatus.STARTING, RunStatus.LIVE) and now >= run.planned_end:
            await self.stop_run(run, StopReason.PLANNED_END)
            return
        if run.egress_pk is None:
            await self._launch_unstarted(run, now)
            return
        record = await in_thread(self._ledger.get, run.egress_pk)
        if record is None:
            return
        if record.status.terminal:
            await self.egress_finished(run, record.id, record.status, record.error)
        elif run.status == RunStatus.STOPPING:
            last = self._last_stop.get(run.id)
            if last is None or now - last >= self._policy.stop_retry:
                await self._stop_egress(run)
        elif record.status == EgressStatus.ACTIVE and run.status == RunStatus.STARTING:
            await self.on_egress_change(EgressChange(record, EgressStatus.STARTING))
        elif run.status == RunStatus.LIVE:
            await self._healer.check(run, record)

    async def _launch_unstarted(self, run: BroadcastRun, now: datetime) -> None:
        """A run with no egress: waiting for a publisher, or a start or replacement to retry; taken over from
        a replica silent for longer than the launch lease."""
        if run.status == RunStatus.STOPPING:
            return
        if run.claimed_by != self._instance:
            if not lease_expired(run, now, self._policy.launch_lease):
                return  # another replica is starting it
            taken = await in_thread(self._store.note, run.id, now,
                                    f"{self._instance} takes over from {run.claimed_by or 'nobody'}, "
                                    "silent for longer than the lease", RunChanges(claimed_by=self._instance),
                                    expected_version=run.version, kind=RunEventKind.TAKEN_OVER)
            if taken is None:
                return
            run = taken
        await self._launcher.launch(run, LaunchReason.START if run.status == RunStatus.STARTING
                                    else LaunchReason.REPLACEMENT)

    async def _stop_egress(self, run: BroadcastRun, actor: str = SYSTEM.name) -> None:
        assert run.egress_pk is not None
        self._last_stop[run.id] = self._now()
        try:
            record = await self._egresses.stop(run.egress_pk, actor=actor)
        except LiveKitError as exc:
            await in_thread(self._store.note, run.id, self._now(), f"stop failed ({exc.message}); will retry",
                            egress_pk=run.egress_pk, kind=RunEventKind.STOP_FAILED)
            return
        if record.status.terminal:
            await self.egress_finished(run, record.id, record.status, record.error)
