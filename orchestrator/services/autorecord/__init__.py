"""Automatic recording: rules applied to room sessions as they start, once per session, per track, per part."""

from __future__ import annotations

from orchestrator.domain.egress import EgressKind, EgressStatus, Origin
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.requests import EgressRequest, require_storage
from orchestrator.domain.rules import ActionKind, RoomFacts, Rule
from orchestrator.domain.sessions import CreatedRoom, RecordingClaim, RoomSession, SessionSource

from ..changes import EgressChange
from ..egresses import EgressLedgerService
from ..ports import Clock, EgressLedger, RoomGateway, RuleStore, SessionStore
from ..threads import in_thread
from .claims import AutoRecordSettings, Claims, Launch
from .intake import OpeningPlan, RoomIntake, room_facts
from .rooms import RoomCreator
from .rules import RuleBook, Trial
from .sweep import Sweeper, SweepReport
from .views import SessionView, SessionViews

__all__ = ["AutoRecordSettings", "AutoRecorder", "Launch", "OpeningPlan", "RoomIntake", "SessionView",
           "SweepReport", "Trial"]

ROOM_FINISHED = "room_finished"


class AutoRecorder:
    """Turns rules into recordings: claims first (a unique key in the database), then the start call.

    The parts: `rules` (the rule book), `intake` (room_started planned into the webhooks' transaction by
    `services.intake.WebhookIntake`; sessions opened late; published tracks), `claims` (start, bind, fail,
    retry), `sweeper` (ListRooms recovery, retries, rollover), `rooms` (CreateRoom) and `views`. Triggers:
    the change feed (`on_notice`, `on_egress_change`) and the periodic `sweep()`.
    """

    def __init__(self, rules: RuleStore, sessions: SessionStore, ledger: EgressLedger,
                 egresses: EgressLedgerService, rooms: RoomGateway, clock: Clock,
                 settings: AutoRecordSettings) -> None:
        self._sessions, self._now = sessions, clock
        self._can_record = settings.can_record
        self.rules = RuleBook(rules, clock, record_all=settings.record_all)
        self.claims = Claims(sessions, ledger, egresses, clock, settings)
        self.intake = RoomIntake(self.rules, self.claims, sessions, egresses, rooms, clock)
        self.sweeper = Sweeper(sessions, ledger, egresses, rooms, self.claims, self.intake, clock, settings)
        self.rooms = RoomCreator(self.rules, self.claims, sessions, rooms, clock)
        self.views = SessionViews(sessions, ledger)

    async def aclose(self) -> None:
        await self.claims.aclose()

    # ---- what the API routes call ------------------------------------------------------------

    def create_rule(self, rule: Rule) -> Rule:
        if rule.enabled:
            require_storage(self._can_record, "actions")
        return self.rules.create(rule)

    def rule(self, ref: str) -> Rule:
        return self.rules.get(ref)

    def update_rule(self, rule: Rule) -> Rule:
        if rule.enabled:
            require_storage(self._can_record, "actions")
        return self.rules.update(rule)

    def delete_rule(self, ref: str) -> None:
        self.rules.delete(ref)

    def list_rules(self) -> list[Rule]:
        return self.rules.all()

    def try_rules(self, room_name: str, metadata: str = "") -> list[Trial]:
        """Which rules would record a room of this name and metadata, and what (nothing is stored)."""
        return self.rules.trial(RoomFacts(room_name, "RM_example", metadata))

    async def create_room(self, name: str, *, metadata: str = "", rule_ref: str | None = None,
                          empty_timeout: int = 0, departure_timeout: int = 0) -> tuple[CreatedRoom, Rule | None]:
        return await self.rooms.create_room(name, metadata=metadata, rule_ref=rule_ref, empty_timeout=empty_timeout,
                                            departure_timeout=departure_timeout)

    def sessions(self, *, room_name: str | None = None, open_only: bool = False,
                 limit: int = 50) -> list[SessionView]:
        return self.views.sessions(room_name=room_name, open_only=open_only, limit=limit)

    def session(self, room_sid: str) -> SessionView:
        return self.views.session(room_sid)

    def request_of(self, claim: RecordingClaim) -> EgressRequest:
        return self.claims.request_of(claim)

    # ---- triggers ----------------------------------------------------------------------------

    async def sweep(self) -> SweepReport:
        """Recover lost room_started/room_finished from ListRooms, retry failed starts, roll over parts."""
        return await self.sweeper.sweep()

    async def open_session(self, room: RoomFacts, source: SessionSource, *,
                           with_published: bool = True) -> RoomSession | None:
        return await self.intake.open_session(room, source, with_published=with_published)

    async def close_session(self, room_sid: str, why: str) -> int:
        return await self.claims.close_session(room_sid, why)

    async def on_notice(self, notice: WebhookNotice) -> None:
        """room_started (only when it did not come through the webhooks' transaction), track_published and
        room_finished, each delivered once per event id."""
        room = room_facts(notice)
        if not room.sid:
            return
        if notice.event == "room_started":
            await self.intake.open_session(room, SessionSource.ROOM_STARTED)
        elif notice.event == "track_published":
            await self.intake.track_published(notice)
        elif notice.event == "room_finished":
            await self.claims.close_session(room.sid, ROOM_FINISHED)

    async def on_egress_change(self, change: EgressChange) -> None:
        """Bind the composite LiveKit started from CreateRoom; replace a part that hit LiveKit's limit."""
        record = change.record
        if (change.status_before is None and record.origin == Origin.ADOPTED
                and record.kind == EgressKind.ROOM_COMPOSITE and record.room_id):
            await in_thread(self._sessions.bind_delegated, record.room_id, record.id, self._now())
        if record.status == EgressStatus.LIMIT_REACHED and change.status_before != record.status:
            claim = await in_thread(self._sessions.claim_of_egress, record.id)
            if claim is not None and claim.action == ActionKind.COMPOSITE:
                await self.sweeper.roll_over(claim, record, reason="LiveKit's limit was reached")
