"""Broadcast commands: create, start now, stop, cancel, and change (reschedule; while live, layout and destinations)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from orchestrator.domain.broadcasts import (
    RUN_ACTIVE,
    Broadcast,
    BroadcastRun,
    BroadcastSpec,
    BroadcastState,
    Destination,
    LaunchReason,
    RunChanges,
    RunEventKind,
    RunStatus,
    check_layout,
    occurrence,
    validate_spec,
)
from orchestrator.domain.errors import Conflict, InvalidInput, NotFound
from orchestrator.domain.ids import new_id
from orchestrator.domain.runs import BroadcastPolicy, StopReason
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.ports import BroadcastStore, Clock
from orchestrator.services.threads import in_thread

from .launcher import RunLauncher
from .lifecycle import RunLifecycle
from .timers import RunTimers, edit_broadcast, new_run


class BroadcastCommands:
    """What a producer asks for through the API; each command reads the database, then makes guarded writes."""

    def __init__(self, store: BroadcastStore, egresses: EgressLedgerService, clock: Clock, timers: RunTimers,
                 launcher: RunLauncher, lifecycle: RunLifecycle, *, instance: str, policy: BroadcastPolicy) -> None:
        self._store, self._egresses, self._now = store, egresses, clock
        self._timers, self._launcher, self._lifecycle = timers, launcher, lifecycle
        self._instance, self._policy = instance, policy

    def get(self, broadcast_id: str) -> Broadcast:
        broadcast = self._store.get(broadcast_id)
        if broadcast is None:
            raise NotFound(f"no broadcast with id {broadcast_id!r}")
        return broadcast

    async def create(self, spec: BroadcastSpec, *, actor: str) -> Broadcast:
        now = self._now()
        spec = validate_spec(spec, now, self._policy.cap)
        first = occurrence(spec, 0)
        if first is None:
            raise InvalidInput("recurrence", "the series has no occurrence (check start_at, until and count)")
        broadcast = Broadcast(id=new_id("brd"), spec=spec, state=BroadcastState.ACTIVE, created_at=now,
                              updated_at=now)
        run = new_run(broadcast, 0, first, now)
        await in_thread(self._store.create, broadcast, run, "scheduled", actor=actor)
        self._timers.schedule(run)
        return broadcast

    async def start_now(self, broadcast_id: str, *, actor: str) -> BroadcastRun:
        """Start the next scheduled run now instead of at its planned time."""
        broadcast = await in_thread(self.get, broadcast_id)
        if broadcast.state != BroadcastState.ACTIVE:
            raise Conflict(f"broadcast {broadcast_id} is {broadcast.state.value}")
        runs = await in_thread(self._store.runs_of, broadcast_id)
        if any(r.status in RUN_ACTIVE for r in runs):
            raise Conflict("a run of this broadcast is already live or starting")
        scheduled = [r for r in runs if r.status == RunStatus.SCHEDULED]
        if not scheduled:
            raise Conflict("this broadcast has no scheduled run left")
        run = scheduled[0]
        now = self._now()
        changes = RunChanges(claimed_by=self._instance, planned_start=now,
                             planned_end=now + (run.planned_end - run.planned_start))
        claimed = await in_thread(self._store.transition, run.id, [RunStatus.SCHEDULED], RunStatus.STARTING, now,
                                  "started by hand ahead of schedule", changes, kind=RunEventKind.STARTED_BY_HAND,
                                  actor=actor)
        if claimed is None:
            raise Conflict("the run was claimed meanwhile")
        self._timers.end_at(run.id, claimed.planned_end)
        await self._launcher.launch(claimed, LaunchReason.START)
        return await in_thread(self._store.run, run.id) or claimed

    async def stop(self, broadcast_id: str, *, actor: str) -> BroadcastRun:
        """Stop the run that is live or starting now."""
        await in_thread(self.get, broadcast_id)
        active = [r for r in await in_thread(self._store.runs_of, broadcast_id) if r.status in RUN_ACTIVE]
        if not active:
            raise Conflict("no run of this broadcast is live or starting")
        return await self._lifecycle.stop_run(active[0], StopReason.BY_HAND, actor=actor)

    async def cancel(self, broadcast_id: str, *, actor: str) -> Broadcast:
        """No more runs; a live run is stopped."""
        await in_thread(self.get, broadcast_id)
        now = self._now()
        await edit_broadcast(self._store, broadcast_id, now, "cancelled",
                             lambda b: replace(b, state=BroadcastState.CANCELLED)
                             if b.state != BroadcastState.CANCELLED else None, actor=actor)
        for run in await in_thread(self._store.runs_of, broadcast_id):
            if run.status == RunStatus.SCHEDULED:
                await in_thread(self._store.transition, run.id, [RunStatus.SCHEDULED], RunStatus.CANCELLED, now,
                                "cancelled", kind=RunEventKind.CANCELLED, actor=actor)
                self._timers.unschedule(run.id)
            elif run.status in RUN_ACTIVE:
                await self._lifecycle.stop_run(run, StopReason.CANCELLED, actor=actor)
        return await in_thread(self.get, broadcast_id)

    async def update(
        self, broadcast_id: str, *, start_at: datetime | None = None, end_at: datetime | None = None,
        max_duration_s: int | None = None, layout: str | None = None,
        add_destinations: list[Destination] | None = None, remove_destinations: list[str] | None = None,
        actor: str,
    ) -> Broadcast:
        """Reschedule; while live, change the layout and add or remove destinations without interrupting others."""
        broadcast = await in_thread(self.get, broadcast_id)
        if broadcast.state != BroadcastState.ACTIVE:
            raise Conflict(f"broadcast {broadcast_id} is {broadcast.state.value}")
        spec, now = broadcast.spec, self._now()
        destinations, removed = _changed_destinations(spec, add_destinations or [], remove_destinations or [])
        runs = await in_thread(self._store.runs_of, broadcast_id)
        live = next((r for r in runs if r.status in RUN_ACTIVE), None)
        new_spec = replace(spec, destinations=tuple(destinations), layout=layout or spec.layout)
        timing = start_at is not None or end_at is not None or max_duration_s is not None
        if timing:
            if live is not None and start_at is not None:
                raise Conflict("the broadcast is live; only its end can be changed now")
            new_spec = replace(
                new_spec, start_at=start_at or spec.start_at,
                end_at=end_at if end_at is not None else (None if max_duration_s is not None else spec.end_at),
                max_duration_s=max_duration_s if max_duration_s is not None
                else (None if end_at is not None else spec.max_duration_s))
            # While live, the start is history: check the new end against it, not against now.
            new_spec = validate_spec(new_spec, now if live is None else new_spec.start_at or now, self._policy.cap)
        if layout is not None:
            check_layout(layout)
        what = [name for name, changed in (("schedule", timing), ("layout", layout is not None),
                                           ("destinations", bool(add_destinations or removed))) if changed]
        saved = await in_thread(self._store.update_broadcast, replace(broadcast, spec=new_spec), now,
                                f"changed: {', '.join(what) or 'nothing'}", actor=actor)
        if saved is None:
            raise Conflict("the broadcast changed meanwhile; try again")
        if live is not None and live.egress_pk is not None:
            await self._apply_live_changes(live, layout, add_destinations or [], removed, actor)
            if end_at is not None or max_duration_s is not None:
                first = occurrence(new_spec, 0)
                if first is not None and live.seq == 0:
                    planned_end = first[1] if end_at is not None else live.planned_start + new_spec.duration()
                    await in_thread(self._store.note, live.id, now, f"end moved to {planned_end.isoformat()}",
                                    RunChanges(planned_end=planned_end), kind=RunEventKind.CHANGED, actor=actor)
                    self._timers.end_at(live.id, planned_end)
        for run in runs:
            if run.status == RunStatus.SCHEDULED and timing:
                slot = occurrence(new_spec, run.seq)
                if slot is not None:
                    updated = await in_thread(self._store.note, run.id, now, "rescheduled",
                                              RunChanges(planned_start=slot[0], planned_end=slot[1]),
                                              kind=RunEventKind.CHANGED, actor=actor)
                    if updated is not None:
                        self._timers.schedule(updated)
        return await in_thread(self.get, broadcast_id)

    async def _apply_live_changes(self, run: BroadcastRun, layout: str | None, add: list[Destination],
                                  remove: list[Destination], actor: str) -> None:
        assert run.egress_pk is not None
        if layout is not None:
            await self._egresses.update(run.egress_pk, layout=layout, actor=actor)
            await in_thread(self._store.note, run.id, self._now(), f"layout changed to {layout}",
                            egress_pk=run.egress_pk, kind=RunEventKind.CHANGED, actor=actor)
        if add or remove:
            await self._egresses.update(run.egress_pk, add_stream_urls=[d.url for d in add],
                                        remove_stream_urls=[d.url for d in remove], actor=actor)
            names = [f"+{d.display}" for d in add] + [f"-{d.display}" for d in remove]
            await in_thread(self._store.note, run.id, self._now(), f"destinations changed: {', '.join(names)}",
                            egress_pk=run.egress_pk, kind=RunEventKind.CHANGED, actor=actor)


def _changed_destinations(spec: BroadcastSpec, add: list[Destination], remove: list[str]
                          ) -> tuple[list[Destination], list[Destination]]:
    """The broadcast's destinations after the change, and the ones removed; InvalidInput names the field."""
    destinations = list(spec.destinations)
    for dest in add:
        if dest.url in {d.url for d in destinations}:
            raise InvalidInput("add_destinations", "that destination is already part of the broadcast")
        destinations.append(dest)
    removed: list[Destination] = []
    for ref in remove:
        match = [d for d in destinations if d.id == ref]
        if not match:
            raise InvalidInput("remove_destinations", f"no destination with id {ref!r}")
        destinations.remove(match[0])
        removed.append(match[0])
    if not destinations:
        raise InvalidInput("remove_destinations", "a broadcast keeps at least one destination")
    return destinations, removed
