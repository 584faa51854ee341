"""Whether a run that requires its preflight is checked again as its first egress launches (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.domain.broadcasts import LaunchReason, RunEvent, RunEventKind, RunStatus
from orchestrator.domain.runs import PREFLIGHT_SLACK, launch_wants_preflight, preflight_is_fresh

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
LEAD = timedelta(minutes=3)
CREATED = NOW - timedelta(hours=1)


def event(kind: RunEventKind, ago: timedelta) -> RunEvent:
    return RunEvent(NOW - ago, RunStatus.SCHEDULED, RunStatus.SCHEDULED, kind.value, kind=kind)


def test_only_the_first_egress_of_a_run_that_requires_it_is_gated() -> None:
    assert launch_wants_preflight(True, LaunchReason.START)
    assert not launch_wants_preflight(False, LaunchReason.START)
    assert not launch_wants_preflight(True, LaunchReason.REPLACEMENT)
    assert not launch_wants_preflight(True, LaunchReason.ROLLOVER)


def test_no_preflight_yet_is_not_fresh() -> None:
    assert not preflight_is_fresh([event(RunEventKind.SCHEDULED, timedelta(seconds=1))], CREATED, NOW, LEAD)


def test_the_automatic_preflight_a_lead_ahead_is_fresh_at_the_start() -> None:
    events = [event(RunEventKind.SCHEDULED, timedelta(hours=1)), event(RunEventKind.PREFLIGHT, LEAD),
              event(RunEventKind.CLAIMED, timedelta(0))]
    assert preflight_is_fresh(events, CREATED, NOW, LEAD)
    late = [event(RunEventKind.PREFLIGHT, LEAD + PREFLIGHT_SLACK + timedelta(seconds=1))]
    assert not preflight_is_fresh(late, CREATED, NOW, LEAD)


def test_the_last_preflight_counts_and_must_have_passed() -> None:
    failed_last = [event(RunEventKind.PREFLIGHT, timedelta(seconds=60)),
                   event(RunEventKind.PREFLIGHT_FAILED, timedelta(seconds=30))]
    assert not preflight_is_fresh(failed_last, CREATED, NOW, LEAD)
    passed_last = [event(RunEventKind.PREFLIGHT_FAILED, timedelta(seconds=60)),
                   event(RunEventKind.PREFLIGHT, timedelta(seconds=30))]
    assert preflight_is_fresh(passed_last, CREATED, NOW, LEAD)


def test_a_preflight_made_before_the_broadcast_changed_does_not_count() -> None:
    events = [event(RunEventKind.PREFLIGHT, timedelta(seconds=60))]
    assert not preflight_is_fresh(events, NOW - timedelta(seconds=10), NOW, LEAD)


def test_with_no_lead_only_a_preflight_within_the_slack_counts() -> None:
    assert preflight_is_fresh([event(RunEventKind.PREFLIGHT, timedelta(seconds=5))], CREATED, NOW, timedelta(0))
    assert not preflight_is_fresh([event(RunEventKind.PREFLIGHT, timedelta(minutes=2))], CREATED, NOW,
                                  timedelta(0))
