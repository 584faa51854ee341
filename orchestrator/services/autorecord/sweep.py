"""The auto-record sweep: rooms whose webhooks were lost, failed starts retried, long composites rolled over."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from orchestrator.domain.egress import EgressRecord, EgressStatus, RoomSnapshot
from orchestrator.domain.errors import LiveKitError
from orchestrator.domain.parts import rollover_due
from orchestrator.domain.rules import ActionKind, RoomFacts, Rule, render_path
from orchestrator.domain.sessions import ClaimState, RecordingClaim, RoomSession, SessionSource, claim_key

from ..egresses import EgressLedgerService
from ..ports import Clock, EgressLedger, RoomGateway, SessionStore
from ..threads import in_thread
from .claims import AutoRecordSettings, Claims
from .intake import RoomIntake

log = logging.getLogger(__name__)

ROOM_GONE = "the room is gone from LiveKit"


@dataclass
class SweepReport:
    rooms: int = 0
    recovered: int = 0  # sessions opened late from ListRooms
    closed: int = 0  # sessions whose room_finished was lost
    retried: int = 0
    rolled_over: int = 0
    errors: list[str] = field(default_factory=list)


class Sweeper:
    """Lists LiveKit's rooms to recover a lost room_started or room_finished, retries failed starts, and rolls
    long composites over to a new part before the file cap (or when LiveKit's limit stopped one)."""

    def __init__(self, sessions: SessionStore, ledger: EgressLedger, egresses: EgressLedgerService,
                 rooms: RoomGateway, claims: Claims, intake: RoomIntake, clock: Clock,
                 settings: AutoRecordSettings) -> None:
        self._sessions, self._ledger, self._egresses, self._rooms = sessions, ledger, egresses, rooms
        self._claims, self._intake, self._now, self._s = claims, intake, clock, settings

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        before = {s.room_sid: s for s in await in_thread(self._sessions.sessions, open_only=True, limit=100_000)}
        try:
            rooms = await self._rooms.list_rooms()
        except LiveKitError as exc:
            report.errors.append(exc.message)
        else:
            await self._compare(before, rooms, report)
        now = self._now()
        for claim in await in_thread(self._sessions.due_claims, now):
            taken = await in_thread(self._sessions.take_for_retry, claim.key, now, now + self._s.lease)
            if taken is not None:
                report.retried += 1
                await self._claims.retry(taken)
        for claim in await in_thread(self._sessions.running_composites):
            assert claim.egress_pk is not None
            record = await in_thread(self._ledger.get, claim.egress_pk)
            if record is None:
                continue
            started = record.started_at or record.created_at
            due = record.status == EgressStatus.LIMIT_REACHED or (
                not record.status.terminal and rollover_due(started, now, self._s.cap, self._s.rollover_margin))
            if due and await self.roll_over(claim, record, reason="the file cap is near"):
                report.rolled_over += 1
        return report

    async def _compare(self, before: dict[str, RoomSession], rooms: list[RoomSnapshot], report: SweepReport) -> None:
        """LiveKit's rooms against the sessions open before the listing: open the missing, close the gone."""
        report.rooms = len(rooms)
        listed = {r.sid for r in rooms}
        for r in rooms:
            if r.sid in before or not r.sid:
                continue
            if await in_thread(self._sessions.get_session, r.sid) is None:
                opened = await self._intake.open_session(RoomFacts(r.name, r.sid, r.metadata), SessionSource.RECONCILE)
                if opened is not None and opened.source == SessionSource.RECONCILE:
                    report.recovered += 1
                    log.warning("room %s (%s) was running without a session: its room_started was lost; "
                                "recording it late", r.name, r.sid)
        for sid in before.keys() - listed:
            await self._claims.close_session(sid, ROOM_GONE)
            report.closed += 1
        for session in before.values():
            if session.room_sid in listed and any(
                    c.state == ClaimState.DELEGATED for c in await in_thread(self._sessions.claims_of,
                                                                             [session.room_sid])):
                await self._claims.bind_delegated_from_ledger(session)

    async def roll_over(self, claim: RecordingClaim, current: EgressRecord, reason: str) -> bool:
        """Claim and start the next part, then stop the current one. Returns True if this call did it."""
        templates = claim.request.get("templates") or {}
        room = RoomFacts(claim.room_name, claim.room_sid, str(templates.get("metadata", "")))
        now = self._now()
        part = claim.part + 1
        rule = Rule(id=claim.rule_id, name=str(templates.get("rule_name", claim.rule_id)))
        request = dict(claim.request)
        if templates.get("filepath"):
            request["filepath"] = render_path(str(templates["filepath"]), room=room, at=now, rule=rule, part=part)
        if templates.get("hls_prefix"):
            request["hls_prefix"] = render_path(str(templates["hls_prefix"]), room=room, at=now, rule=rule,
                                                part=part)
        nxt = replace(claim, key=claim_key(claim.room_sid, claim.rule_id, ActionKind.COMPOSITE, "", part),
                      part=part, state=ClaimState.CLAIMED, request=request, created_at=now, updated_at=now,
                      retry_at=now + self._s.lease, attempts=0, egress_pk=None, error="")
        won = await in_thread(self._sessions.claim, claim.room_sid, [nxt])
        if not won:
            return False
        log.info("rolling %s over to part %d: %s", claim.room_name, part, reason)
        await self._claims.start(nxt)
        if not current.status.terminal:
            await self._egresses.stop_quietly(current.id)
        return True
