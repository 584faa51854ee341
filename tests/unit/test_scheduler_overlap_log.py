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
