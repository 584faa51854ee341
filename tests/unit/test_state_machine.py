"""The egress state machine: every transition, duplicates, reordering, terminal stickiness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations, product

import pytest

from orchestrator.domain.egress import (
    TERMINAL,
    EgressStatus,
    Outcome,
    decide,
    force,
    past_start_deadline,
    start_deadline_reason,
)

S = EgressStatus
ORDER = [S.STARTING, S.ACTIVE, S.ENDING]


@pytest.mark.parametrize(("current", "observed"), list(product(EgressStatus, EgressStatus)))
def test_every_pair_of_statuses(current: EgressStatus, observed: EgressStatus) -> None:
    decision = decide(current, 100, observed, 200)  # the report is newer
    if current in TERMINAL:
        assert decision.status == current, "terminal statuses never change"
        expected = Outcome.REFRESHED if observed == current else Outcome.IGNORED_TERMINAL
        assert decision.outcome == expected
    elif observed.rank > current.rank:
        assert (decision.outcome, decision.status) == (Outcome.APPLIED, observed)
    elif observed.rank < current.rank:
        assert (decision.outcome, decision.status) == (Outcome.STALE, current)
    else:
        assert (decision.outcome, decision.status) == (Outcome.REFRESHED, current)


@pytest.mark.parametrize("status", list(EgressStatus))
def test_same_report_twice_is_a_duplicate(status: EgressStatus) -> None:
    assert decide(status, 200, status, 200).outcome == Outcome.DUPLICATE
    assert decide(status, 200, status, 100).outcome == Outcome.DUPLICATE


def test_forward_transitions_of_the_real_sequence() -> None:
    status, updated = S.STARTING, 0
    for step, observed in enumerate([S.ACTIVE, S.ENDING, S.COMPLETE], start=1):
        d = decide(status, updated, observed, step)
        assert d.outcome == Outcome.APPLIED
        status, updated = d.status, step
    assert status == S.COMPLETE


@pytest.mark.parametrize("final", sorted(TERMINAL))
def test_any_delivery_order_ends_in_the_final_status(final: EgressStatus) -> None:
    reports = [(S.STARTING, 1), (S.ACTIVE, 2), (S.ENDING, 3), (final, 4), (S.ACTIVE, 2)]
    for order in permutations(reports):
        status, updated = S.STARTING, 0
        for observed, at in order:
            d = decide(status, updated, observed, at)
            if d.changes_row:
                updated = max(updated, at)
            status = d.status
        assert status == final


def test_limit_reached_can_follow_active_directly() -> None:
    assert decide(S.ACTIVE, 1, S.LIMIT_REACHED, 2).outcome == Outcome.APPLIED


@pytest.mark.parametrize("current", list(EgressStatus))
def test_forced_failure_only_from_unfinished(current: EgressStatus) -> None:
    d = force(current, S.FAILED)
    if current in TERMINAL:
        assert (d.outcome, d.status) == (Outcome.IGNORED_TERMINAL, current)
    else:
        assert (d.outcome, d.status) == (Outcome.APPLIED, S.FAILED)


def test_start_deadline() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    deadline = timedelta(seconds=120)
    assert not past_start_deadline(S.STARTING, t0, t0 + timedelta(seconds=119), deadline)
    assert past_start_deadline(S.STARTING, t0, t0 + timedelta(seconds=120), deadline)
    assert not past_start_deadline(S.ACTIVE, t0, t0 + timedelta(hours=1), deadline)
    assert "120 s" in start_deadline_reason(deadline)
