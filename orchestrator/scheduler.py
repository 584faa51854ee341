"""APScheduler wiring: a local ticker whose jobs call services and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from orchestrator.config import Settings
from orchestrator.services.autorecord import AutoRecorder
from orchestrator.services.broadcasts import BroadcastService
from orchestrator.services.reconcile import Reconciler
from orchestrator.services.recordings import RecordingService

log = logging.getLogger(__name__)


class _OverlapIsExpected(logging.Filter):
    """Every periodic job here runs one at a time and merges late runs on purpose (max_instances=1, coalesce):
    a pass that outlasts its interval (a slow database, a busy machine) makes APScheduler skip the next one and
    say so at WARNING. That is the design working, not something an operator should act on: say it at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and "maximum number of running instances reached" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("apscheduler.scheduler").addFilter(_OverlapIsExpected())


def _ends_quietly(key: str, job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """The job as APScheduler runs it: at shutdown the executor cancels a job still running, and APScheduler would
    log that cancellation as the job "raised an exception" (ERROR). A pass cut short by shutdown is expected, and
    every job here is a pass the next start repeats: say it at DEBUG and end."""

    async def run() -> None:
        try:
            await job()
        except asyncio.CancelledError:
            log.debug("%s: cut short by shutdown", key)

    return run

LIVEKIT_WARM = "livekit-warm-connections"
_WARM_EVERY_S = 20.0  # well inside the 50 s an idle connection to LiveKit is kept
_BROADCAST_HORIZON_S = 60.0


def add_service_jobs(
    scheduler: AsyncIOScheduler, settings: Settings, *, reconciler: Reconciler, broadcasts: BroadcastService,
    recordings: RecordingService, autorecord: AutoRecorder, keep_warm: Callable[[], Awaitable[None]],
) -> None:
    """Every periodic job of one service instance; they run once the scheduler is started."""
    build_scheduler(reconciler, settings.reconcile_interval_s, scheduler)
    add_periodic(scheduler, broadcasts.sweep, settings.broadcast_sweep_s, "broadcast-sweep")
    add_periodic(scheduler, broadcasts.refresh_timers, _BROADCAST_HORIZON_S, "broadcast-horizon")
    add_recording_jobs(scheduler, recordings, settings.recordings_verify_interval_s,
                       settings.recordings_retention_interval_s)
    add_autorecord_job(scheduler, autorecord, settings.autorecord_sweep_s)
    add_periodic(scheduler, keep_warm, _WARM_EVERY_S, LIVEKIT_WARM, now=True)


def build_scheduler(
    reconciler: Reconciler, interval_s: float, scheduler: AsyncIOScheduler | None = None
) -> AsyncIOScheduler:
    """Reconcile once at start-up, then every `interval_s`; one pass at a time, late passes merged."""
    scheduler = scheduler or AsyncIOScheduler(timezone=UTC)

    async def reconcile() -> None:
        try:
            report = await reconciler.run_once()
        except Exception:  # a failing pass must not stop the next one
            log.exception("reconcile pass failed")
            return
        if report.repaired or report.lost or report.deadline or report.adopted:
            log.info("reconcile: checked %d, repaired %d, lost %d, past deadline %d, adopted %d",
                     report.checked, report.repaired, report.lost, report.deadline, report.adopted)

    scheduler.add_job(_ends_quietly("reconcile", reconcile), "interval", seconds=interval_s, id="reconcile",
                      max_instances=1, coalesce=True, next_run_time=datetime.now(UTC), misfire_grace_time=None)
    return scheduler


class ApsTimer:
    """The broadcast service's timer: one APScheduler date job per key, in this process only.

    Jobs live in memory; the database is the source of truth and every replica rebuilds them at start-up.
    """

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self._scheduler = scheduler

    def at(self, when: datetime, key: str, job: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            try:
                await job()
            except Exception:
                log.exception("timer job %s failed", key)

        self._scheduler.add_job(_ends_quietly(key, run), "date", run_date=when, id=key, replace_existing=True,
                                misfire_grace_time=None, coalesce=True)

    def cancel(self, key: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(key)


def add_periodic(
    scheduler: AsyncIOScheduler, job: Callable[[], Awaitable[None]], seconds: float, key: str, *, now: bool = False
) -> None:
    """A periodic job whose failures are logged, never fatal; one at a time, late runs merged. With `now`, its
    first run is at start-up (in the background), not one period later."""

    async def run() -> None:
        try:
            await job()
        except Exception:
            log.exception("%s failed", key)

    first = {"next_run_time": datetime.now(UTC)} if now else {}
    scheduler.add_job(_ends_quietly(key, run), "interval", seconds=seconds, id=key, max_instances=1, coalesce=True,
                      misfire_grace_time=None, **first)


def add_recording_jobs(
    scheduler: AsyncIOScheduler, recordings: RecordingService, verify_interval_s: float,
    retention_interval_s: float,
) -> None:
    """The recordings sweep (catalog what the change feed missed, verify what is due) and retention."""

    async def sweep() -> None:
        added = await recordings.sweep()
        if added:
            log.info("recordings sweep: %d recording(s) catalogued that the change feed missed", added)

    async def retention() -> None:
        report = await recordings.retention()
        if report.recordings or report.failed:
            log.info("retention: %d recording(s) deleted, %d failed", len(report.recordings), report.failed)

    add_periodic(scheduler, sweep, verify_interval_s, "recordings-sweep")
    if recordings.retention_days:
        add_periodic(scheduler, retention, retention_interval_s, "recordings-retention")


AUTORECORD_SWEEP = "autorecord-sweep"


def add_autorecord_job(scheduler: AsyncIOScheduler, recorder: AutoRecorder, interval_s: float) -> None:
    """Automatic recording's sweep at start-up and every `interval_s`: lost room events, retries, rollover."""

    async def sweep() -> None:
        try:
            report = await recorder.sweep()
        except Exception:
            log.exception("automatic recording sweep failed")
            return
        if report.recovered or report.closed or report.retried or report.rolled_over:
            log.info("autorecord sweep: %d room(s) recovered late, %d session(s) closed, %d start(s) retried, "
                     "%d rolled over", report.recovered, report.closed, report.retried, report.rolled_over)

    scheduler.add_job(_ends_quietly(AUTORECORD_SWEEP, sweep), "interval", seconds=interval_s, id=AUTORECORD_SWEEP,
                      max_instances=1, coalesce=True, next_run_time=datetime.now(UTC), misfire_grace_time=None)
