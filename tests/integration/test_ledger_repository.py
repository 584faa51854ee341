"""The SQL ledger and webhook intake on SQLite and PostgreSQL: batches, duplicates within a batch, adoption, order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.intake_store import SqlWebhookIntakeStore
from orchestrator.adapters.sql.ledger import SqlEgressLedger
from orchestrator.adapters.sql.sessions import SqlSessionStore
from orchestrator.domain.egress import Applied, EgressKind, EgressRecord, EgressStatus, Observation, Origin, Outcome
from orchestrator.domain.events import WebhookRow
from orchestrator.domain.intake import IntakeBatch, IntakeItem, RoomOpening
from orchestrator.domain.rules import ActionKind
from orchestrator.domain.sessions import ClaimState, RecordingClaim, RoomSession, SessionSource, claim_key


def _obs(status: EgressStatus, ns: int) -> Observation:
    return Observation(egress_id="EG_batch000001", status=status, room_name="r", updated_at_ns=ns)


def _row(event_id: str, now: datetime) -> WebhookRow:
    return WebhookRow(id=event_id, event="egress_updated", received_at=now, payload={}, egress_id="EG_batch000001")


def test_one_batch_with_duplicates_adoption_and_reordering(db_url: str) -> None:
    db = SqlDatabase(db_url)
    db.migrate()
    repo, intake = SqlEgressLedger(db), SqlWebhookIntakeStore(db)
    now = datetime.now(UTC)
    results = intake.commit(IntakeBatch(now, (
        IntakeItem(_row("EV_1", now), _obs(EgressStatus.STARTING, 1)),  # unknown egress: adopted
        IntakeItem(_row("EV_2", now), _obs(EgressStatus.ACTIVE, 2)),
        IntakeItem(_row("EV_2", now), _obs(EgressStatus.ACTIVE, 2)),  # the same event twice in one batch
        IntakeItem(_row("EV_4", now), _obs(EgressStatus.COMPLETE, 4)),
        IntakeItem(_row("EV_3", now), _obs(EgressStatus.ENDING, 3)),  # late
        IntakeItem(WebhookRow(id="EV_room", event="room_started", received_at=now, payload={}), None),
    ))).applied
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.APPLIED, Outcome.DUPLICATE,
                                            Outcome.APPLIED, Outcome.IGNORED_TERMINAL, Outcome.CREATED]
    assert [r.duplicate_event for r in results] == [False, False, True, False, False, False]
    record = repo.get("EG_batch000001")
    assert record is not None and record.status == EgressStatus.COMPLETE and record.livekit_updated_ns == 4
    history = repo.history(record.id)
    assert [(e.event_id, e.status_after) for e in history] == [
        ("EV_1", EgressStatus.STARTING), ("EV_2", EgressStatus.ACTIVE), ("EV_4", EgressStatus.COMPLETE),
        ("EV_3", EgressStatus.COMPLETE)]
    again = intake.commit(IntakeBatch(now, (IntakeItem(_row("EV_4", now), _obs(EgressStatus.COMPLETE, 4)),))).applied
    assert again[0].duplicate_event
    assert len(repo.history(record.id)) == 4
    db.dispose()


def test_answers_to_start_calls_bound_together_and_one_bad_item_alone(db_url: str) -> None:
    db = SqlDatabase(db_url)
    db.migrate()
    repo = SqlEgressLedger(db)
    now = datetime.now(UTC)
    rows = [EgressRecord(id=f"egr_answer{i}", egress_id=None, kind=EgressKind.ROOM_COMPOSITE, room_name=f"room{i}",
                         status=EgressStatus.STARTING, origin=Origin.API, created_at=now, updated_at=now)
            for i in range(3)]
    repo.create_many(rows, detail="start requested")
    answers = [(Observation(egress_id=f"EG_answer{i}", status=EgressStatus.STARTING, room_name=f"room{i}",
                            updated_at_ns=1), now, row.id, "accepted") for i, row in enumerate(rows)]
    results = repo.observe_answers(answers)
    assert [r.record.egress_id for r in results if isinstance(r, Applied) and r.record] == \
        ["EG_answer0", "EG_answer1", "EG_answer2"]
    # A row that does not exist spoils the batch's transaction: the others are still bound, one by one.
    more = [EgressRecord(id="egr_answer9", egress_id=None, kind=EgressKind.ROOM_COMPOSITE, room_name="room9",
                         status=EgressStatus.STARTING, origin=Origin.API, created_at=now, updated_at=now)]
    repo.create_many(more)
    mixed = repo.observe_answers([
        (Observation(egress_id="EG_answer9", status=EgressStatus.ACTIVE, room_name="room9", updated_at_ns=2),
         now, "egr_answer9", ""),
        (Observation(egress_id="EG_answerX", status=EgressStatus.ACTIVE, room_name="roomX", updated_at_ns=2),
         now, "egr_missing", ""),
    ])
    assert isinstance(mixed[0], Applied) and isinstance(mixed[1], KeyError)
    bound = repo.get("EG_answer9")
    assert bound is not None and bound.id == "egr_answer9" and bound.status == EgressStatus.ACTIVE
    assert repo.get("EG_answerX") is None  # nothing half-written for the bad one
    db.dispose()


def test_a_new_room_started_opens_its_session_claims_and_ledger_rows_in_the_webhooks_transaction(db_url: str) -> None:
    db = SqlDatabase(db_url)
    db.migrate()
    ledger, intake, sessions = SqlEgressLedger(db), SqlWebhookIntakeStore(db), SqlSessionStore(db)
    now = datetime.now(UTC)
    session = RoomSession(room_sid="RM_open", room_name="r", started_at=now, source=SessionSource.ROOM_STARTED)
    claim = RecordingClaim(key=claim_key("RM_open", "rule_1", ActionKind.COMPOSITE), room_sid="RM_open",
                           room_name="r", rule_id="rule_1", action=ActionKind.COMPOSITE, subject="", part=1,
                           state=ClaimState.CLAIMED, request={}, created_at=now, updated_at=now,
                           retry_at=now + timedelta(minutes=1), egress_pk="egr_opened")
    row = EgressRecord(id="egr_opened", egress_id=None, kind=EgressKind.ROOM_COMPOSITE, room_name="r",
                       status=EgressStatus.STARTING, origin=Origin.API, created_at=now, updated_at=now)
    notice = WebhookRow(id="EV_started", event="room_started", received_at=now, payload={}, room_name="r",
                        room_sid="RM_open")
    batch = IntakeBatch(now, (IntakeItem(notice, None),), (RoomOpening("EV_started", session, (claim,), (row,)),))
    result = intake.commit(batch)
    assert [a.outcome for a in result.applied] == [Outcome.CREATED]
    [opened] = result.opened
    assert opened.created and [c.key for c in opened.won] == [claim.key]
    stored = ledger.get("egr_opened")
    assert stored is not None and stored.status == EgressStatus.STARTING
    assert [e.detail for e in ledger.history("egr_opened")] == ["start requested"]
    assert sessions.get_session("RM_open") is not None
    assert [e.state_after for e in sessions.claim_history(claim.key)] == [ClaimState.CLAIMED]
    again = intake.commit(batch)  # the same webhook again: nothing opened, nothing written twice
    assert again.applied[0].duplicate_event and again.opened == ()
    assert len(ledger.history("egr_opened")) == 1 and len(sessions.claim_history(claim.key)) == 1
    db.dispose()
