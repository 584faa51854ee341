"""What is happening now, for the console's Now page: runs under way, active egresses, the last day's failures
(with why, in plain words) and what starts in the next day, recurring broadcasts' next occurrences included.

Reads only (blocking: call it from a worker thread); it decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.domain.broadcasts import RUN_ACTIVE, Broadcast, BroadcastRun, BroadcastState, RunStatus, occurrence
from orchestrator.domain.egress import UNFINISHED, EgressRecord, EgressStatus
from orchestrator.domain.explain import Explanation, explain

from .ports import BroadcastStore, EgressLedger

_FAILED_EGRESS = frozenset({EgressStatus.FAILED, EgressStatus.ABORTED})
_FAILED_RUN = frozenset({RunStatus.FAILED, RunStatus.MISSED})
_LATE = timedelta(hours=1)  # a scheduled run this late is still shown (the sweep will start or miss it)
_FAILED_READ = 1000  # failed runs read at most (the page shows the newest `limit`)


@dataclass(frozen=True)
class RunItem:
    run: BroadcastRun
    broadcast: Broadcast | None


@dataclass(frozen=True)
class Failure:
    kind: str  # "run" | "egress"
    id: str  # the run's broadcast id (runs) or the egress's id
    room_name: str
    title: str
    status: str
    at: datetime
    why: Explanation


@dataclass(frozen=True)
class Upcoming:
    broadcast: Broadcast
    start: datetime
    end: datetime
    run: BroadcastRun | None  # None: an occurrence of a recurring broadcast whose run is not made yet

    @property
    def zone(self) -> str:
        rec = self.broadcast.spec.recurrence
        return rec.timezone if rec is not None else "UTC"


@dataclass(frozen=True)
class NowOverview:
    at: datetime
    runs: list[RunItem]
    egresses: list[EgressRecord]
    failures: list[Failure]
    upcoming: list[Upcoming]


class Overview:
    """The Now page's reads over the broadcast store and the egress ledger."""

    def __init__(self, broadcasts: BroadcastStore, ledger: EgressLedger, clock: Callable[[], datetime], *,
                 window: timedelta = timedelta(hours=24), limit: int = 100) -> None:
        self._store, self._ledger, self._now = broadcasts, ledger, clock
        self._window, self._limit = window, limit

    def now(self) -> NowOverview:
        now = self._now()
        since, until = now - self._window, now + self._window
        active = self._store.runs_in(RUN_ACTIVE)
        # Windows of planned starts (an index range each), never every run the catalogue holds: scheduled runs
        # from a little before now (one not claimed yet is still to start) to the end of the window; failed or
        # missed runs that started at most a day before it (a run cannot last longer than the broadcast cap).
        scheduled = self._store.runs_in({RunStatus.SCHEDULED}, starting_after=now - _LATE,
                                        starting_before=until, limit=self._limit)
        failed_runs = [r for r in self._store.runs_in(_FAILED_RUN, starting_after=since - self._window,
                                                      starting_before=now, limit=_FAILED_READ)
                       if (r.actual_end or r.updated_at) >= since]
        failed_runs = sorted(failed_runs, key=lambda r: r.actual_end or r.updated_at, reverse=True)[: self._limit]
        broadcasts = self._broadcasts({r.broadcast_id for r in (*active, *scheduled, *failed_runs)})
        failures = [Failure("run", r.broadcast_id, b.spec.room_name if b else "", b.spec.title if b else "",
                            r.status.value, r.actual_end or r.updated_at, explain(r.error, r.status.value))
                    for r in failed_runs for b in [broadcasts.get(r.broadcast_id)]]
        run_egresses = {r.egress_pk for r in failed_runs if r.egress_pk}
        for e in self._ledger.find(statuses=_FAILED_EGRESS, limit=self._limit):
            at = e.ended_at or e.updated_at
            if at >= since and e.id not in run_egresses:
                failures.append(Failure("egress", e.id, e.room_name, e.egress_id or "", e.status.value, at,
                                        explain(e.error, e.status.value)))
        failures.sort(key=lambda f: f.at, reverse=True)
        return NowOverview(
            at=now,
            runs=[RunItem(r, broadcasts.get(r.broadcast_id)) for r in active],
            egresses=self._ledger.find(statuses=UNFINISHED, limit=self._limit),
            failures=failures[: self._limit],
            upcoming=self._upcoming(active, scheduled, broadcasts, now, until),
        )

    def _broadcasts(self, ids: set[str]) -> dict[str, Broadcast]:
        found = {i: self._store.get(i) for i in sorted(ids)}
        return {i: b for i, b in found.items() if b is not None}

    def _upcoming(self, active: list[BroadcastRun], scheduled: list[BroadcastRun],
                  broadcasts: dict[str, Broadcast], now: datetime, until: datetime) -> list[Upcoming]:
        items = [Upcoming(b, r.planned_start, r.planned_end, r)
                 for r in scheduled if (b := broadcasts.get(r.broadcast_id)) is not None]
        latest: dict[str, BroadcastRun] = {}
        for r in (*active, *scheduled):
            if r.broadcast_id not in latest or r.seq > latest[r.broadcast_id].seq:
                latest[r.broadcast_id] = r
        for broadcast_id, last in latest.items():
            b = broadcasts.get(broadcast_id)
            if b is None or b.spec.recurrence is None or b.state != BroadcastState.ACTIVE:
                continue
            seq, after = last.seq, last.planned_start
            while len(items) < self._limit:
                slot = occurrence(b.spec, seq + 1, after=after + timedelta(seconds=1))
                if slot is None or slot[0] > until:
                    break
                if slot[0] >= now:
                    items.append(Upcoming(b, slot[0], slot[1], None))
                seq, after = seq + 1, slot[0]
        items.sort(key=lambda u: u.start)
        return items[: self._limit]
