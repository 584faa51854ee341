"""A periodic pass that outlasts its interval is the design (one at a time, late runs merged), not a warning."""

from __future__ import annotations

import logging

import pytest

import orchestrator.scheduler  # noqa: F401 - installs the filter on APScheduler's logger


def test_a_skipped_overlapping_run_is_debug_and_other_warnings_stay(caplog: pytest.LogCaptureFixture) -> None:
    aps = logging.getLogger("apscheduler.scheduler")
    with caplog.at_level(logging.INFO):
        aps.warning('Execution of job "%s" skipped: maximum number of running instances reached (%d)', "reconcile", 1)
        aps.warning("Run time of job %s was missed by %s", "reconcile", "0:00:03")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Run time of job reconcile was missed by 0:00:03")]
    with caplog.at_level(logging.DEBUG, logger="apscheduler.scheduler"):
        caplog.clear()
        aps.warning('Execution of job "%s" skipped: maximum number of running instances reached (%d)', "sweep", 1)
    assert [r.levelname for r in caplog.records] == ["DEBUG"]


async def test_a_job_cut_short_by_shutdown_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """APScheduler's executor cancels a job still running when the scheduler shuts down; that is no failure."""
    import asyncio

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from orchestrator.scheduler import add_periodic

    started = asyncio.Event()

    async def long_pass() -> None:
        started.set()
        await asyncio.sleep(60)

    scheduler = AsyncIOScheduler()
    add_periodic(scheduler, long_pass, 3600, "long-pass", now=True)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    with caplog.at_level(logging.INFO):
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0.05)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
