"""APScheduler wiring: a local ticker whose jobs call services and nothing else."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from orchestrator.services.reconcile import Reconciler

log = logging.getLogger(__name__)


def build_scheduler(reconciler: Reconciler, interval_s: float) -> AsyncIOScheduler:
    """Reconcile once at start-up, then every `interval_s`; one pass at a time, late passes merged."""
    scheduler = AsyncIOScheduler(timezone=UTC)

    async def reconcile() -> None:
        try:
            report = await reconciler.run_once()
        except Exception:  # a failing pass must not stop the next one
            log.exception("reconcile pass failed")
            return
        if report.repaired or report.lost or report.deadline or report.adopted:
            log.info("reconcile: checked %d, repaired %d, lost %d, past deadline %d, adopted %d",
                     report.checked, report.repaired, report.lost, report.deadline, report.adopted)

    scheduler.add_job(reconcile, "interval", seconds=interval_s, id="reconcile", max_instances=1,
                      coalesce=True, next_run_time=datetime.now(UTC), misfire_grace_time=None)
    return scheduler
