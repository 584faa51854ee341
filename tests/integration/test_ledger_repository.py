"""The ledger repository on SQLite and PostgreSQL: batches, duplicates within a batch, adoption, order."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.adapters.sql.egress_repository import SqlEgressRepository, WebhookRow
from orchestrator.adapters.sql.engine import build_engine, migrate
from orchestrator.domain.egress import EgressStatus, Observation, Outcome


def _obs(status: EgressStatus, ns: int) -> Observation:
    return Observation(egress_id="EG_batch000001", status=status, room_name="r", updated_at_ns=ns)


def _row(event_id: str, now: datetime) -> WebhookRow:
    return WebhookRow(id=event_id, event="egress_updated", received_at=now, payload={}, egress_id="EG_batch000001")


def test_one_batch_with_duplicates_adoption_and_reordering(db_url: str) -> None:
    engine = build_engine(db_url)
    migrate(engine)
    repo = SqlEgressRepository(engine)
    now = datetime.now(UTC)
    results, _ = repo.observe_batch([
        (_obs(EgressStatus.STARTING, 1), _row("EV_1", now), ""),  # unknown egress: adopted
        (_obs(EgressStatus.ACTIVE, 2), _row("EV_2", now), ""),
        (_obs(EgressStatus.ACTIVE, 2), _row("EV_2", now), ""),  # the same event twice in one batch
        (_obs(EgressStatus.COMPLETE, 4), _row("EV_4", now), ""),
        (_obs(EgressStatus.ENDING, 3), _row("EV_3", now), ""),  # late
        (None, WebhookRow(id="EV_room", event="room_started", received_at=now, payload={}), ""),
    ], now)
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.APPLIED, Outcome.DUPLICATE,
                                            Outcome.APPLIED, Outcome.IGNORED_TERMINAL, Outcome.CREATED]
    assert [r.duplicate_event for r in results] == [False, False, True, False, False, False]
    record = repo.get("EG_batch000001")
    assert record is not None and record.status == EgressStatus.COMPLETE and record.livekit_updated_ns == 4
    history = repo.history(record.id)
    assert [(e.event_id, e.status_after) for e in history] == [
        ("EV_1", EgressStatus.STARTING), ("EV_2", EgressStatus.ACTIVE), ("EV_4", EgressStatus.COMPLETE),
        ("EV_3", EgressStatus.COMPLETE)]
    again, _ = repo.observe_batch([(_obs(EgressStatus.COMPLETE, 4), _row("EV_4", now), "")], now)
    assert again[0].duplicate_event
    assert len(repo.history(record.id)) == 4
    engine.dispose()
