"""A live run's care: failed destinations re-added, and a rollover to a new egress before the stream limit."""

from __future__ import annotations

from orchestrator.domain.broadcasts import BroadcastRun, LaunchReason, RunEventKind
from orchestrator.domain.egress import EgressRecord
from orchestrator.domain.errors import LiveKitError
from orchestrator.domain.identity import SYSTEM
from orchestrator.domain.runs import BroadcastPolicy, needs_rollover, readd_attempts, rollover_due
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.ports import BroadcastStore, Clock
from orchestrator.services.threads import in_thread

from .launcher import RunLauncher


class LiveRunHealer:
    """Checks a live run's egress on each sweep. Each action is claimed with the run's version first, so one
    replica acts."""

    def __init__(self, store: BroadcastStore, egresses: EgressLedgerService, clock: Clock, launcher: RunLauncher,
                 *, policy: BroadcastPolicy) -> None:
        self._store, self._egresses, self._now, self._launcher = store, egresses, clock, launcher
        self._policy = policy

    async def check(self, run: BroadcastRun, record: EgressRecord) -> None:
        await self._heal_streams(run, record)
        now = self._now()
        if not needs_rollover(record.started_at, now, self._policy.rollover_after):
            return
        if not rollover_due(record.started_at, now, await in_thread(self._store.egresses, run.id), self._policy):
            return  # already rolling over
        claimed = await in_thread(self._store.note, run.id, now,
                                  "rolling over to a new egress before the stream time limit", egress_pk=record.id,
                                  expected_version=run.version, kind=RunEventKind.ROLLING_OVER)
        if claimed is not None:
            await self._launcher.launch(claimed, LaunchReason.ROLLOVER)

    async def _heal_streams(self, run: BroadcastRun, record: EgressRecord) -> None:
        """Re-add each destination whose stream failed (and has no active one), up to `heal_attempts` times."""
        broadcast = await in_thread(self._store.get, run.broadcast_id)
        if broadcast is None or run.egress_pk is None:
            return
        by_display = {d.display: d for d in broadcast.spec.destinations}
        streams = record.results.streams
        active = {s.url for s in streams if s.status == "active"}
        failed = {s.url for s in streams if s.status == "failed"}
        for shown in failed - active:
            dest = by_display.get(shown)
            if dest is None:
                continue
            tries = readd_attempts(await in_thread(self._store.events, run.id), dest.id)
            if tries >= self._policy.heal_attempts:
                continue
            claimed = await in_thread(self._store.note, run.id, self._now(),
                                      f"re-adding destination {dest.id} ({dest.display}): its stream failed "
                                      f"(attempt {tries + 1})", egress_pk=run.egress_pk, expected_version=run.version,
                                      kind=RunEventKind.READD_DESTINATION, destination=dest.id)
            if claimed is None or claimed.egress_pk is None:
                return  # another replica is on it
            run = claimed
            try:
                await self._egresses.update(claimed.egress_pk, add_stream_urls=[dest.url], actor=SYSTEM.name)
            except LiveKitError as exc:
                await in_thread(self._store.note, run.id, self._now(), f"re-adding {dest.id} failed: {exc.message}",
                                kind=RunEventKind.READD_FAILED, destination=dest.id)
