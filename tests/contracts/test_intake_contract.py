"""The WebhookIntakeStore contract: one transaction per batch: events once, the ledger folded, rooms opened."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.domain.egress import EgressStatus, Origin, Outcome
from orchestrator.domain.events import WebhookRow
from orchestrator.domain.intake import IntakeBatch, IntakeItem, RoomOpening
from orchestrator.domain.sessions import ClaimState
from tests.contracts.conftest import Backend
from tests.contracts.rows import T0, at, claim, obs, record, session, webhook

S = EgressStatus


def _egress_item(event_id: str, status: EgressStatus, ns: int, egress_id: str = "EG_batch000001") -> IntakeItem:
    return IntakeItem(webhook(event_id, egress_id=egress_id), obs(egress_id, status, ns, room="r"))


def _room_started(event_id: str, sid: str) -> IntakeItem:
    return IntakeItem(webhook(event_id, event="room_started", room=f"room-{sid}", room_sid=sid), None)


def _opening(event_id: str, sid: str, *rules: str, since: datetime | None = None) -> RoomOpening:
    claims = tuple(claim(sid, rule_id=r, egress_pk=f"egr_{sid}_{r}") for r in rules)
    return RoomOpening(event_id, session(sid), claims, tuple(record(c.egress_pk or "", room=f"room-{sid}")
                                                             for c in claims), since)


def test_one_batch_with_duplicates_adoption_and_reordering(backend: Backend) -> None:
    result = backend.intake.commit(IntakeBatch(T0, (
        _egress_item("EV_1", S.STARTING, 1),  # unknown egress: adopted
        _egress_item("EV_2", S.ACTIVE, 2),
        _egress_item("EV_2", S.ACTIVE, 2),  # the same event twice in one batch
        _egress_item("EV_4", S.COMPLETE, 4),
        _egress_item("EV_3", S.ENDING, 3),  # late
        IntakeItem(WebhookRow(id="EV_room", event="room_started", received_at=T0, payload={}), None),
    )))
    assert [r.outcome for r in result.applied] == [Outcome.CREATED, Outcome.APPLIED, Outcome.DUPLICATE,
                                                   Outcome.APPLIED, Outcome.IGNORED_TERMINAL, Outcome.CREATED]
    assert [r.duplicate_event for r in result.applied] == [False, False, True, False, False, False]
    assert result.opened == ()
    row = backend.ledger.get("EG_batch000001")
    assert row is not None and row.status == S.COMPLETE and row.livekit_updated_ns == 4 and row.origin == Origin.ADOPTED
    assert [(e.event_id, e.status_after) for e in backend.ledger.history(row.id)] == [
        ("EV_1", S.STARTING), ("EV_2", S.ACTIVE), ("EV_4", S.COMPLETE), ("EV_3", S.COMPLETE)]
    again = backend.intake.commit(IntakeBatch(T0, (_egress_item("EV_4", S.COMPLETE, 4),)))
    assert again.applied[0].duplicate_event
    assert len(backend.ledger.history(row.id)) == 4
    assert {w.id for w in backend.webhooks.recent()} == {"EV_1", "EV_2", "EV_3", "EV_4", "EV_room"}


def test_a_batch_folds_into_our_own_rows(backend: Backend) -> None:
    backend.ledger.create_many([record("egr_own")])
    backend.ledger.observe_answers([(obs("EG_own", S.STARTING, 1), T0, "egr_own", "accepted")])
    result = backend.intake.commit(IntakeBatch(at(1), (_egress_item("EV_o1", S.ACTIVE, 2, "EG_own"),
                                                       _egress_item("EV_o2", S.ENDING, 3, "EG_own"))))
    assert [(r.outcome, r.status_before, r.status_changed) for r in result.applied] == [
        (Outcome.APPLIED, S.STARTING, True), (Outcome.APPLIED, S.ACTIVE, True)]
    row = backend.ledger.get("egr_own")
    assert row is not None and row.status == S.ENDING and row.updated_at == at(1) and row.origin == Origin.API


def test_rooms_open_for_new_webhooks_only_with_the_rows_of_the_claims_won(backend: Backend) -> None:
    batch = IntakeBatch(T0, (_room_started("EV_ra", "RM_a"), _room_started("EV_rb", "RM_b")),
                        (_opening("EV_ra", "RM_a", "rul_1", "rul_2"), _opening("EV_rb", "RM_b", "rul_1")))
    result = backend.intake.commit(batch)
    assert [(o.notice_id, o.session.room_sid, o.created, len(o.won)) for o in result.opened] == [
        ("EV_ra", "RM_a", True, 2), ("EV_rb", "RM_b", True, 1)]
    rows = {r.id: r for r in backend.ledger.find()}
    assert set(rows) == {"egr_RM_a_rul_1", "egr_RM_a_rul_2", "egr_RM_b_rul_1"}
    assert all(r.status == S.STARTING and r.origin == Origin.API for r in rows.values())
    [created] = backend.ledger.history("egr_RM_a_rul_1")
    assert created.outcome == Outcome.CREATED and created.detail == "start requested"
    assert backend.sessions.get_session("RM_a") == session("RM_a")
    claimed = backend.sessions.get_claim(claim("RM_a").key)
    assert claimed is not None and claimed.state == ClaimState.CLAIMED and claimed.egress_pk == "egr_RM_a_rul_1"
    # The same webhook again (a retry by LiveKit) opens nothing; a new one for the room wins nothing more.
    retry = backend.intake.commit(replace(batch, now=at(1)))
    assert retry.opened == () and all(a.duplicate_event for a in retry.applied)
    late = backend.intake.commit(IntakeBatch(at(2), (_room_started("EV_ra2", "RM_a"),),
                                             (_opening("EV_ra2", "RM_a", "rul_1"),)))
    [opened] = late.opened
    assert not opened.created and opened.won == () and opened.session.started_at == T0
    assert len(backend.ledger.find()) == 3


def test_only_claimed_claims_get_a_ledger_row(backend: Backend) -> None:
    backend.sessions.expect_room("room-RM_c", "rul_1", at(-5))
    opening = _opening("EV_rc", "RM_c", "rul_1", "rul_2", since=at(-30))
    failed = replace(claim("RM_c", rule_id="rul_3"), state=ClaimState.FAILED, error="bad rule", retry_at=None)
    opening = replace(opening, claims=(*opening.claims, failed))
    result = backend.intake.commit(IntakeBatch(T0, (_room_started("EV_rc", "RM_c"),), (opening,)))
    [opened] = result.opened
    assert [(c.rule_id, c.state) for c in opened.won] == [
        ("rul_1", ClaimState.DELEGATED), ("rul_2", ClaimState.CLAIMED), ("rul_3", ClaimState.FAILED)]
    assert [r.id for r in backend.ledger.find()] == ["egr_RM_c_rul_2"]  # LiveKit starts the delegated one
    delegated = backend.sessions.get_claim(claim("RM_c").key)
    assert delegated is not None and delegated.egress_pk is None and delegated.retry_at is None


def test_an_opening_whose_webhook_is_not_in_the_batch_opens_nothing(backend: Backend) -> None:
    result = backend.intake.commit(IntakeBatch(T0, (_room_started("EV_x", "RM_x"),), (_opening("EV_y", "RM_y", "r"),)))
    assert result.opened == () and backend.sessions.get_session("RM_y") is None


def test_a_batch_that_fails_writes_nothing(backend: Backend) -> None:
    naive = replace(session("RM_z"), started_at=datetime(2030, 1, 1))  # naive: the database refuses it
    bad = RoomOpening("EV_z", naive, (claim("RM_z", egress_pk="egr_z"),), (record("egr_z"),))
    batch = IntakeBatch(T0, (_egress_item("EV_e", S.ACTIVE, 1, "EG_z"), _room_started("EV_z", "RM_z")), (bad,))
    with pytest.raises((ValueError, SQLAlchemyError)):
        backend.intake.commit(batch)
    assert backend.webhooks.recent() == [] and backend.ledger.find() == [] and backend.ledger.get("EG_z") is None
    assert backend.sessions.sessions() == [] and backend.sessions.get_claim(claim("RM_z").key) is None
