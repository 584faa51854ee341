"""The EgressLedger contract: guarded folds, history rows, adoption, merging, answers and forced statuses."""

from __future__ import annotations

import pytest

from orchestrator.domain.egress import Applied, ChangeSource, EgressStatus, Origin, Outcome
from tests.contracts.conftest import Backend
from tests.contracts.rows import T0, at, obs, record, webhook

S = EgressStatus


def test_created_rows_start_with_a_history_row(backend: Backend) -> None:
    backend.ledger.create_many([record("egr_a1"), record("egr_a2", room="room-b")], detail="start requested")
    row = backend.ledger.get("egr_a1")
    assert row is not None and row.status == S.STARTING and row.origin == Origin.API and row.egress_id is None
    assert row.request == {"kind": "room_composite", "room_name": "room-a"} and row.created_at == T0
    [event] = backend.ledger.history("egr_a1")
    assert (event.outcome, event.status_before, event.status_after, event.source, event.detail) == \
        (Outcome.CREATED, None, S.STARTING, ChangeSource.API, "start requested")
    backend.ledger.create_many([])  # nothing to do
    assert backend.ledger.count_by_status() == {"starting": 2}
    backend.ledger.ping()


def test_the_answer_to_our_start_binds_the_egress_id(backend: Backend) -> None:
    backend.ledger.create_many([record("egr_b1")])
    applied = backend.ledger.observe(obs("EG_b1", S.STARTING, 5), ChangeSource.API, at(1), bind_to="egr_b1",
                                     detail="accepted")
    assert applied.outcome == Outcome.REFRESHED and applied.record is not None
    assert applied.record.egress_id == "EG_b1" and applied.record.livekit_updated_ns == 5
    by_eg = backend.ledger.get("EG_b1")
    assert by_eg is not None and by_eg.id == "egr_b1" and by_eg.room_id == "RM_room-a"
    assert [e.detail for e in backend.ledger.history("egr_b1")][-1] == "accepted"
    with pytest.raises(KeyError):
        backend.ledger.observe(obs("EG_zz", S.ACTIVE, 1), ChangeSource.API, at(1), bind_to="egr_missing")
    assert backend.ledger.get("EG_zz") is None


def test_reports_move_forward_only_and_every_report_has_a_history_row(backend: Backend) -> None:
    ledger = backend.ledger
    ledger.create_many([record("egr_c1")])
    ledger.observe(obs("EG_c1", S.STARTING, 1), ChangeSource.API, at(1), bind_to="egr_c1")
    steps = [(S.ACTIVE, 3, Outcome.APPLIED, S.ACTIVE), (S.STARTING, 2, Outcome.STALE, S.ACTIVE),
             (S.ACTIVE, 3, Outcome.DUPLICATE, S.ACTIVE), (S.ACTIVE, 4, Outcome.REFRESHED, S.ACTIVE),
             (S.COMPLETE, 6, Outcome.APPLIED, S.COMPLETE), (S.ENDING, 5, Outcome.IGNORED_TERMINAL, S.COMPLETE),
             (S.FAILED, 7, Outcome.IGNORED_TERMINAL, S.COMPLETE)]
    for i, (status, ns, outcome, after) in enumerate(steps):
        applied = ledger.observe(obs("EG_c1", status, ns, filename="a.mp4"), ChangeSource.WEBHOOK, at(2 + i))
        assert (applied.outcome, applied.record.status if applied.record else None) == (outcome, after), status
    row = ledger.get("egr_c1")
    assert row is not None and row.status == S.COMPLETE and row.livekit_updated_ns == 6
    assert row.ended_at == at(6)  # terminal without an end time from LiveKit: the time it was folded in
    assert row.results.files[0].filename == "a.mp4" and row.results.files[0].duration_s == 1.5
    history = ledger.history("egr_c1")
    assert [e.outcome for e in history] == [Outcome.CREATED, Outcome.REFRESHED, *[s[2] for s in steps]]
    assert [e.status_after for e in history][2:] == [s[3] for s in steps]
    assert history[2].detail == "LiveKit reports active" and history[2].source == ChangeSource.WEBHOOK


def test_an_unknown_egress_is_adopted(backend: Backend) -> None:
    applied = backend.ledger.observe(obs("EG_d1", S.ACTIVE, 9, room="room-d"), ChangeSource.RECONCILE, at(1))
    assert applied.outcome == Outcome.CREATED and applied.status_before is None and applied.status_changed
    row = backend.ledger.get("EG_d1")
    assert row is not None and row.origin == Origin.ADOPTED and row.status == S.ACTIVE and row.room_name == "room-d"
    assert row.id.startswith("egr_") and row.created_at == at(1)
    [event] = backend.ledger.history(row.id)
    assert event.outcome == Outcome.CREATED and event.source == ChangeSource.RECONCILE
    assert "adopted" in event.detail


def test_a_webhook_event_is_folded_in_once(backend: Backend) -> None:
    hook = webhook("EV_e1", egress_id="EG_e1")
    first = backend.ledger.observe(obs("EG_e1", S.STARTING, 1), ChangeSource.WEBHOOK, at(1), webhook=hook)
    again = backend.ledger.observe(obs("EG_e1", S.ACTIVE, 2), ChangeSource.WEBHOOK, at(2), webhook=hook)
    assert first.outcome == Outcome.CREATED and not first.duplicate_event
    assert again == Applied(None, Outcome.DUPLICATE, duplicate_event=True)
    row = backend.ledger.get("EG_e1")
    assert row is not None and row.status == S.STARTING
    assert [e.event_id for e in backend.ledger.history(row.id)] == ["EV_e1"]
    assert [w.id for w in backend.webhooks.recent()] == ["EV_e1"]
    assert not backend.webhooks.record(hook)


def test_a_row_adopted_from_a_webhook_merges_into_our_own_start(backend: Backend) -> None:
    """The webhook beat the start call's answer: one row remains, ours, with both histories."""
    ledger = backend.ledger
    ledger.create_many([record("egr_f1")])
    adopted = ledger.observe(obs("EG_f1", S.ACTIVE, 4), ChangeSource.WEBHOOK, at(1), webhook=webhook("EV_f1"))
    assert adopted.record is not None and adopted.record.origin == Origin.ADOPTED
    answer = ledger.observe(obs("EG_f1", S.STARTING, 2), ChangeSource.API, at(2), bind_to="egr_f1")
    assert answer.record is not None and answer.record.id == "egr_f1" and answer.record.status == S.ACTIVE
    assert answer.outcome == Outcome.STALE  # the answer is older than what the webhook told
    assert ledger.get(adopted.record.id) is None
    row = ledger.get("EG_f1")
    assert row is not None and row.id == "egr_f1" and row.origin == Origin.API and row.livekit_updated_ns == 4
    history = ledger.history("egr_f1")
    assert [(e.outcome, e.status_after) for e in history] == [
        (Outcome.CREATED, S.STARTING), (Outcome.CREATED, S.ACTIVE), (Outcome.REFRESHED, S.STARTING),
        (Outcome.STALE, S.ACTIVE)]
    assert history[1].event_id == "EV_f1" and history[2].detail.startswith("merged EG_f1")
    assert ledger.count_by_status() == {"active": 1}


def test_answers_to_start_calls_are_bound_together_and_a_bad_one_alone(backend: Backend) -> None:
    ledger = backend.ledger
    ledger.create_many([record(f"egr_answer{i}", room=f"room{i}") for i in range(3)], detail="start requested")
    results = ledger.observe_answers([(obs(f"EG_answer{i}", S.STARTING, 1, room=f"room{i}"), T0, f"egr_answer{i}",
                                       "accepted") for i in range(3)])
    assert [r.record.egress_id for r in results if isinstance(r, Applied) and r.record] == \
        ["EG_answer0", "EG_answer1", "EG_answer2"]
    ledger.create_many([record("egr_answer9", room="room9")])
    mixed = ledger.observe_answers([(obs("EG_answer9", S.ACTIVE, 2, room="room9"), T0, "egr_answer9", ""),
                                    (obs("EG_answerX", S.ACTIVE, 2, room="roomX"), T0, "egr_missing", "")])
    assert isinstance(mixed[0], Applied) and isinstance(mixed[1], KeyError)
    bound = ledger.get("EG_answer9")
    assert bound is not None and bound.id == "egr_answer9" and bound.status == S.ACTIVE
    assert ledger.get("EG_answerX") is None  # nothing half-written for the bad one
    assert ledger.observe_answers([]) == []


def test_a_forced_status_never_changes_an_ended_egress(backend: Backend) -> None:
    ledger = backend.ledger
    ledger.create_many([record("egr_g1"), record("egr_g2")])
    failed = ledger.force_status("egr_g1", S.FAILED, ChangeSource.API, at(3), error="no worker", error_code=503)
    assert failed.outcome == Outcome.APPLIED and failed.status_before == S.STARTING and failed.status_changed
    row = ledger.get("egr_g1")
    assert row is not None and (row.status, row.error, row.error_code, row.ended_at) == (S.FAILED, "no worker", 503,
                                                                                          at(3))
    again = ledger.force_status("egr_g1", S.ABORTED, ChangeSource.RECONCILE, at(4), detail="lost")
    assert again.outcome == Outcome.IGNORED_TERMINAL and again.record is not None and again.record.status == S.FAILED
    history = ledger.history("egr_g1")
    assert [(e.outcome, e.status_after, e.detail) for e in history[1:]] == [
        (Outcome.APPLIED, S.FAILED, "no worker"), (Outcome.IGNORED_TERMINAL, S.FAILED, "lost")]
    ending = ledger.force_status("egr_g2", S.ENDING, ChangeSource.API, at(5))
    assert ending.record is not None and ending.record.ended_at is None and ending.record.updated_at == at(5)
    with pytest.raises(KeyError):
        ledger.force_status("egr_missing", S.FAILED, ChangeSource.API, at(5))


def test_find_pages_newest_first_and_filters(backend: Backend) -> None:
    ledger = backend.ledger
    ledger.create_many([record(f"egr_h{i}", room="room-h" if i % 2 else "room-k", created=at(i // 2))
                        for i in range(6)])
    ledger.force_status("egr_h5", S.ABORTED, ChangeSource.API, at(9))
    assert [r.id for r in ledger.find()] == ["egr_h5", "egr_h4", "egr_h3", "egr_h2", "egr_h1", "egr_h0"]
    page = ledger.find(limit=3)
    last = page[-1]
    assert [r.id for r in ledger.find(before=(last.created_at, last.id), limit=3)] == ["egr_h2", "egr_h1", "egr_h0"]
    assert [r.id for r in ledger.find(room_name="room-h")] == ["egr_h5", "egr_h3", "egr_h1"]
    assert [r.id for r in ledger.find(statuses=[S.ABORTED])] == ["egr_h5"]
    assert sorted(r.id for r in ledger.unfinished()) == ["egr_h0", "egr_h1", "egr_h2", "egr_h3", "egr_h4"]
    assert ledger.count_by_status() == {"starting": 5, "aborted": 1}
