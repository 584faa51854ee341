"""The SQL session store on SQLite and PostgreSQL: binding the egresses of claims whose room may have ended."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.sessions import SqlSessionStore
from orchestrator.domain.rules import ActionKind
from orchestrator.domain.sessions import ClaimState, RecordingClaim, RoomSession, SessionSource, claim_key


def _claim(room_sid: str, now: datetime) -> RecordingClaim:
    return RecordingClaim(key=claim_key(room_sid, "rule_1", ActionKind.COMPOSITE), room_sid=room_sid,
                          room_name=f"room-{room_sid}", rule_id="rule_1", action=ActionKind.COMPOSITE, subject="",
                          part=1, state=ClaimState.CLAIMED, request={}, created_at=now, updated_at=now,
                          retry_at=now + timedelta(minutes=1))


def test_a_claim_cancelled_while_its_start_call_was_out_is_not_bound_as_started(db_url: str) -> None:
    db = SqlDatabase(db_url)
    db.migrate()
    repo = SqlSessionStore(db)
    now = datetime.now(UTC)
    won = {}
    for sid in ("RM_ended", "RM_open"):
        [(_, created, [claim])] = repo.open_sessions([(
            RoomSession(room_sid=sid, room_name=f"room-{sid}", started_at=now, source=SessionSource.ROOM_STARTED),
            [_claim(sid, now)], None)])
        assert created
        won[sid] = claim
    closed, with_egress = repo.close_session("RM_ended", now)  # room_finished: no egress to stop yet
    assert closed and with_egress == []
    assert repo.bind_claims([(won["RM_ended"].key, "egr_late", now), (won["RM_open"].key, "egr_fine", now)]) == \
        [False, True]  # the first must be stopped by the caller
    ended, fine = repo.get_claim(won["RM_ended"].key), repo.get_claim(won["RM_open"].key)
    assert ended is not None and ended.state == ClaimState.CANCELLED and ended.egress_pk == "egr_late"
    assert "ended while its start call was out" in ended.error
    assert fine is not None and fine.state == ClaimState.STARTED and fine.egress_pk == "egr_fine"
    assert repo.bind_claims([(won["RM_open"].key, "egr_fine", now)]) == [True]  # binding again is harmless
    db.dispose()


def test_every_claim_change_has_its_history_row_and_a_pending_create_room_delegates(db_url: str) -> None:
    db = SqlDatabase(db_url)
    db.migrate()
    repo = SqlSessionStore(db)
    now = datetime.now(UTC)
    session = RoomSession(room_sid="RM_hist", room_name="room-RM_hist", started_at=now,
                          source=SessionSource.ROOM_STARTED)
    [(_, _, [claim])] = repo.open_sessions([(session, [replace(_claim("RM_hist", now), egress_pk="egr_1")], None)])
    later = now + timedelta(minutes=2)
    repo.fail_claim(claim.key, "LiveKit said no", later, now)
    assert repo.take_for_retry(claim.key, later, later + timedelta(minutes=1)) is not None
    assert repo.bind_claims([(claim.key, "egr_2", later)]) == [True]
    assert [(e.state_before, e.state_after, e.egress_pk) for e in repo.claim_history(claim.key)] == [
        (None, ClaimState.CLAIMED, "egr_1"), (ClaimState.CLAIMED, ClaimState.FAILED, "egr_1"),
        (ClaimState.FAILED, ClaimState.CLAIMED, "egr_1"), (ClaimState.CLAIMED, ClaimState.STARTED, "egr_2")]
    assert repo.claim_history(claim.key)[1].detail == "LiveKit said no"

    repo.expect_room("room-RM_auto", "rule_1", now)  # POST /v1/rooms: LiveKit records the composite itself
    auto = RoomSession(room_sid="RM_auto", room_name="room-RM_auto", started_at=now, source=SessionSource.ROOM_STARTED)
    [(_, created, [delegated])] = repo.open_sessions([(auto, [_claim("RM_auto", now)], now - timedelta(minutes=1))])
    assert created and delegated.state == ClaimState.DELEGATED and delegated.egress_pk is None
    bound = repo.bind_delegated("RM_auto", "egr_auto", now)
    assert bound is not None and bound.state == ClaimState.STARTED and bound.egress_pk == "egr_auto"
    assert [(e.state_before, e.state_after) for e in repo.claim_history(delegated.key)] == [
        (None, ClaimState.DELEGATED), (ClaimState.DELEGATED, ClaimState.STARTED)]

    [(_, _, [pending])] = repo.open_sessions([(replace(session, room_sid="RM_gone"), [_claim("RM_gone", now)], None)])
    assert repo.close_session("RM_gone", now) == (True, [])
    assert [(e.state_before, e.state_after, e.detail) for e in repo.claim_history(pending.key)] == [
        (None, ClaimState.CLAIMED, "claimed"), (ClaimState.CLAIMED, ClaimState.CANCELLED, "the room ended")]
    assert repo.claim_history("no/such/claim") == []
    db.dispose()
