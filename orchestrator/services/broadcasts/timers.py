"""Broadcast timers: the near future of the run schedule held in the Timer, and each run's next occurrence."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from orchestrator.domain.broadcasts import Broadcast, BroadcastRun, BroadcastState, RunStatus, occurrence
from orchestrator.domain.identity import SYSTEM
from orchestrator.domain.ids import new_id
from orchestrator.domain.runs import BroadcastPolicy
from orchestrator.services.ports import BroadcastStore, Clock, Timer
from orchestrator.services.threads import in_thread

Job = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class TimerJobs:
    """What the timers run: the claim of due runs, a run's planned end, a run's automatic preflight."""

    start_due: Job
    end_run: Callable[[str], Awaitable[None]]
    preflight: Callable[[BroadcastRun], Awaitable[None]]


def new_run(broadcast: Broadcast, seq: int, slot: tuple[datetime, datetime], now: datetime) -> BroadcastRun:
    return BroadcastRun(id=new_id("run"), broadcast_id=broadcast.id, seq=seq, planned_start=slot[0],
                        planned_end=slot[1], status=RunStatus.SCHEDULED, created_at=now, updated_at=now)


async def edit_broadcast(store: BroadcastStore, broadcast_id: str, now: datetime, detail: str,
                         change: Callable[[Broadcast], Broadcast | None], *, tries: int = 3,
                         actor: str = SYSTEM.name) -> Broadcast | None:
    """Apply `change` to the stored broadcast as a guarded update, re-reading it when another writer won;
    `change` returns None when nothing is left to do. None if the broadcast is gone or kept changing."""
    for _ in range(tries):
        current = await in_thread(store.get, broadcast_id)
        changed = change(current) if current is not None else None
        if changed is None:
            return current
        saved = await in_thread(store.update_broadcast, changed, now, detail, actor=actor)
        if saved is not None:
            return saved
    return None


class RunTimers:
    """Only the coming `timer_horizon` lives in the Timer; the database is the source of truth, and `rebuild`
    (at start-up, then every minute) fills the horizon again, so start-up stays fast with many thousands of
    broadcasts scheduled."""

    def __init__(self, store: BroadcastStore, clock: Clock, timer: Timer, policy: BroadcastPolicy,
                 jobs: TimerJobs) -> None:
        self._store, self._now, self._timer, self._policy, self._jobs = store, clock, timer, policy, jobs

    async def rebuild(self) -> int:
        horizon = self._now() + self._policy.timer_horizon
        runs = await in_thread(self._store.runs_in, [RunStatus.SCHEDULED], starting_before=horizon)
        runs += await in_thread(self._store.runs_in, [RunStatus.STARTING, RunStatus.LIVE])
        for run in runs:
            self.schedule(run)
        return len(runs)

    def schedule(self, run: BroadcastRun) -> None:
        now = self._now()
        if run.planned_start > now + self._policy.timer_horizon:
            return  # a later rebuild picks it up
        if run.status == RunStatus.SCHEDULED:
            pre = run.planned_start - self._policy.preflight_lead
            if pre > now and self._policy.preflight_lead:
                self._timer.at(pre, f"pre:{run.id}", lambda: self._jobs.preflight(run))
            # One job per moment: runs due together are claimed and launched together.
            self._timer.at(run.planned_start, f"due:{run.planned_start.isoformat()}", self._jobs.start_due)
        self.end_at(run.id, run.planned_end)

    def end_at(self, run_id: str, when: datetime) -> None:
        self._timer.at(when, f"end:{run_id}", lambda: self._jobs.end_run(run_id))

    def retry_at(self, run_id: str, delay_s: float, job: Job) -> None:
        """A replacement or a retried start, after the backoff the domain chose."""
        self._timer.at(self._now() + timedelta(seconds=delay_s), f"heal:{run_id}", job)

    def unschedule(self, run_id: str) -> None:
        for prefix in ("pre", "end", "heal"):
            self._timer.cancel(f"{prefix}:{run_id}")

    async def next_occurrence(self, finished: BroadcastRun) -> None:
        """After a run finished: schedule the series' next run, or mark the broadcast finished."""
        broadcast = await in_thread(self._store.get, finished.broadcast_id)
        if broadcast is None or broadcast.state != BroadcastState.ACTIVE:
            return
        slot = occurrence(broadcast.spec, finished.seq + 1, after=finished.planned_start + timedelta(seconds=1))
        if slot is None:
            await edit_broadcast(self._store, broadcast.id, self._now(), "finished: no more runs",
                                 lambda b: replace(b, state=BroadcastState.FINISHED)
                                 if b.state == BroadcastState.ACTIVE else None)
            return
        run = new_run(broadcast, finished.seq + 1, slot, self._now())
        if await in_thread(self._store.add_run, run, "scheduled (next occurrence)"):
            self.schedule(run)
