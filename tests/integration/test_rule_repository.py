"""The SQL session store on SQLite and PostgreSQL: binding the egresses of claims whose room may have ended."""

from __future__ import annotations

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
