"""Scheduled broadcasts: each run starts exactly once, heals itself while live, and ends when LiveKit says so.

`BroadcastService` is the one object the routes, the scheduler and the change feed use; it builds its parts:
`commands` (what the API asks), `lifecycle` (runs through their statuses; the sweep), `launcher` (egress
starts), `healing` (a live run's streams and rollover), `preflight`, `timers` (the near future of the
schedule) and `announce` (callbacks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.domain.broadcasts import (
    Broadcast,
    BroadcastEvent,
    BroadcastRun,
    BroadcastSpec,
    BroadcastState,
    Destination,
    RunEgress,
    RunEvent,
)
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.requests import S3Target, require_storage
from orchestrator.domain.runs import BroadcastPolicy
from orchestrator.services.changes import EgressChange
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.ports import (
    BroadcastAnnouncer,
    BroadcastStore,
    Clock,
    EgressGateway,
    EgressLedger,
    LayoutCheck,
    RtmpProbe,
    Timer,
)
from orchestrator.services.threads import in_thread

from .announce import RunAnnouncements
from .commands import BroadcastCommands
from .healing import LiveRunHealer
from .launcher import RunLauncher
from .lifecycle import RunLifecycle
from .preflight import BroadcastPreflight
from .timers import RunTimers, TimerJobs

__all__ = ["BroadcastPolicy", "BroadcastService", "BroadcastView"]


@dataclass(frozen=True)
class BroadcastView:
    broadcast: Broadcast
    runs: list[tuple[BroadcastRun, list[RunEvent], list[RunEgress]]]
    history: list[BroadcastEvent] = field(default_factory=list)  # the broadcast's own: creation, edits, state


class BroadcastService:
    """Schedules, starts, heals and stops broadcast runs; the database decides who does what."""

    def __init__(
        self, store: BroadcastStore, ledger: EgressLedger, egresses: EgressLedgerService, gateway: EgressGateway,
        clock: Clock, timer: Timer, probe: RtmpProbe, *, instance: str, public_url: str, storage: S3Target | None,
        policy: BroadcastPolicy | None = None, layout_check: LayoutCheck | None = None,
        announce: BroadcastAnnouncer | None = None, can_record: bool = True,
    ) -> None:
        self.policy = policy = policy or BroadcastPolicy()
        self._can_record = can_record  # False: no S3 and no volume shared with egress; `record` is refused
        self._store = store
        self.announcements = RunAnnouncements(store, announce)
        # The timers run lifecycle jobs, and the lifecycle sets timers: the jobs look the lifecycle up when run.
        self.timers = RunTimers(store, clock, timer, policy, TimerJobs(
            start_due=lambda: self.lifecycle.start_due(), end_run=lambda run_id: self.lifecycle.end_run(run_id),
            preflight=lambda run: self._preflight.before_start(run)))
        self._preflight = BroadcastPreflight(store, gateway, probe, clock, public_url=public_url,
                                             announcements=self.announcements,
                                             finished=self.timers.next_occurrence, lead=policy.preflight_lead,
                                             layout_check=layout_check)
        launcher = RunLauncher(store, egresses, gateway, clock, self.timers, self.announcements, self._preflight,
                               instance=instance, policy=policy, public_url=public_url, storage=storage)
        healer = LiveRunHealer(store, egresses, clock, launcher, policy=policy)
        self.lifecycle = RunLifecycle(store, ledger, egresses, clock, self.timers, launcher, healer,
                                      self.announcements, instance=instance, policy=policy)
        self._commands = BroadcastCommands(store, egresses, clock, self.timers, launcher, self.lifecycle,
                                           instance=instance, policy=policy)

    # ---- queries (blocking: call them from a worker thread) ----------------------------------

    def get(self, broadcast_id: str) -> Broadcast:
        return self._commands.get(broadcast_id)

    def find(self, *, room_name: str | None = None, state: BroadcastState | None = None,
             before: tuple[datetime, str] | None = None, limit: int = 50) -> list[Broadcast]:
        return self._store.find(room_name=room_name, state=state, before=before, limit=limit)

    def next_runs(self, broadcasts: list[Broadcast]) -> dict[str, BroadcastRun]:
        """The next run of each broadcast that has one (under way or to come), by id: one read for a page."""
        return self._store.next_runs([b.id for b in broadcasts])

    def view(self, broadcast_id: str) -> BroadcastView:
        broadcast = self.get(broadcast_id)
        runs = [(r, self._store.events(r.id), self._store.egresses(r.id)) for r in self._store.runs_of(broadcast_id)]
        return BroadcastView(broadcast, runs, self._store.history(broadcast_id))

    # ---- commands ----------------------------------------------------------------------------

    # `actor`: who asked (a person's or key's name), as the history rows record it.

    async def create(self, spec: BroadcastSpec, *, actor: str) -> Broadcast:
        if spec.record_filepath is not None:
            require_storage(self._can_record, "record")
        return await self._commands.create(spec, actor=actor)

    async def start_now(self, broadcast_id: str, *, actor: str) -> BroadcastRun:
        return await self._commands.start_now(broadcast_id, actor=actor)

    async def stop(self, broadcast_id: str, *, actor: str) -> BroadcastRun:
        return await self._commands.stop(broadcast_id, actor=actor)

    async def cancel(self, broadcast_id: str, *, actor: str) -> Broadcast:
        return await self._commands.cancel(broadcast_id, actor=actor)

    async def update(
        self, broadcast_id: str, *, start_at: datetime | None = None, end_at: datetime | None = None,
        max_duration_s: int | None = None, layout: str | None = None,
        add_destinations: list[Destination] | None = None, remove_destinations: list[str] | None = None,
        actor: str,
    ) -> Broadcast:
        return await self._commands.update(
            broadcast_id, start_at=start_at, end_at=end_at, max_duration_s=max_duration_s, layout=layout,
            add_destinations=add_destinations, remove_destinations=remove_destinations, actor=actor)

    async def preflight(self, broadcast_id: str) -> list[dict[str, object]]:
        """LiveKit reachable and allowed to record; each destination completes the RTMP handshake; layout answers."""
        return await self._preflight.check(await in_thread(self.get, broadcast_id))

    # ---- the scheduler and the change feed ----------------------------------------------------

    async def sweep(self) -> None:
        await self.lifecycle.sweep()

    async def start_due(self) -> None:
        await self.lifecycle.start_due()

    async def rebuild(self) -> int:
        return await self.timers.rebuild()

    async def refresh_timers(self) -> None:
        await self.timers.rebuild()

    async def on_egress_change(self, change: EgressChange) -> None:
        await self.lifecycle.on_egress_change(change)

    async def on_room_event(self, notice: WebhookNotice) -> None:
        await self.lifecycle.on_room_event(notice)
