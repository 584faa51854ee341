"""Values the contract tests store: egress rows and reports, webhooks, sessions, claims and rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.domain.egress import EgressKind, EgressRecord, EgressStatus, FileResult, Observation, Origin, Results
from orchestrator.domain.events import WebhookRow
from orchestrator.domain.rules import ActionKind, CompositeAction, RoomMatch, Rule, RuleMatch
from orchestrator.domain.sessions import ClaimState, RecordingClaim, RoomSession, SessionSource, claim_key

T0 = datetime(2030, 5, 17, 9, 30, 0, 125_000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record(pk: str, *, room: str = "room-a", created: datetime = T0, egress_id: str | None = None) -> EgressRecord:
    """A row of ours about to be started (no EG_ id until LiveKit answers)."""
    return EgressRecord(id=pk, egress_id=egress_id, kind=EgressKind.ROOM_COMPOSITE, room_name=room,
                        status=EgressStatus.STARTING, origin=Origin.API, created_at=created, updated_at=created,
                        request={"kind": "room_composite", "room_name": room}, fingerprint="fp-" + pk)


def obs(egress_id: str, status: EgressStatus, ns: int, *, room: str = "room-a", error: str = "",
        filename: str = "") -> Observation:
    files = (FileResult(filename=filename, location=f"s3://b/{filename}", size_bytes=10, duration_s=1.5),) \
        if filename else ()
    return Observation(egress_id=egress_id, status=status, room_name=room, room_id="RM_" + room,
                       kind=EgressKind.ROOM_COMPOSITE, error=error, updated_at_ns=ns, started_at=T0,
                       results=Results(files=files))


def webhook(event_id: str, *, event: str = "egress_updated", room: str = "room-a", egress_id: str = "",
            received: datetime = T0, room_sid: str = "") -> WebhookRow:
    return WebhookRow(id=event_id, event=event, received_at=received, payload={"event": event, "n": [1, None]},
                      room_name=room, room_sid=room_sid, egress_id=egress_id, created_at=received)


def session(sid: str, *, room: str = "", started: datetime = T0) -> RoomSession:
    return RoomSession(room_sid=sid, room_name=room or f"room-{sid}", started_at=started,
                       source=SessionSource.ROOM_STARTED, metadata='{"recording": true}',
                       matches=(RuleMatch("rul_1", "all", "matches every room"),))


def claim(sid: str, *, rule_id: str = "rul_1", part: int = 1, action: ActionKind = ActionKind.COMPOSITE,
          subject: str = "", state: ClaimState = ClaimState.CLAIMED, now: datetime = T0, egress_pk: str | None = None,
          room: str = "") -> RecordingClaim:
    return RecordingClaim(key=claim_key(sid, rule_id, action, subject, part), room_sid=sid,
                          room_name=room or f"room-{sid}", rule_id=rule_id, action=action, subject=subject, part=part,
                          state=state, request={"layout": "grid", "part": part}, created_at=now, updated_at=now,
                          retry_at=now + timedelta(minutes=1), egress_pk=egress_pk)


def rule(rule_id: str, name: str, *, priority: int = 0, enabled: bool = True, glob: str = "") -> Rule:
    return Rule(id=rule_id, name=name, enabled=enabled, priority=priority, match=RoomMatch(name_glob=glob),
                composite=CompositeAction(layout="speaker"), created_at=T0, updated_at=T0)
