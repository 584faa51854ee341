"""Rules meeting rooms: the openings planned for room_started webhooks, sessions opened late, published tracks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.domain.errors import LiveKitError, OrchestratorError
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.ids import new_egress_pk
from orchestrator.domain.intake import RoomOpened, RoomOpening
from orchestrator.domain.rules import ParticipantKind, RoomFacts, kind_of, matching_rules
from orchestrator.domain.sessions import (
    ClaimState,
    RecordingClaim,
    RoomSession,
    SessionSource,
    TrackSnapshot,
    refused,
)

from ..egresses import EgressLedgerService
from ..ports import Clock, RoomGateway, SessionStore
from ..threads import in_thread
from .claims import Claims, Launch
from .rules import RuleBook

log = logging.getLogger(__name__)

# How long a CreateRoom request of ours waits for its room_started before it no longer applies.
EXPECT_ROOM_FOR = timedelta(seconds=120)


@dataclass(frozen=True)
class OpeningPlan:
    """What a batch of webhooks' room_started events ask of the intake transaction, planned beforehand."""

    openings: tuple[RoomOpening, ...]
    launches: dict[str, Launch]  # by claim key: the start call of each composite claim, if it is won
    handled: frozenset[str]  # the notices planned for (the change feed does not hear them again)


class RoomIntake:
    """Opens room sessions and claims what their rules record: planned with the webhooks' own transaction
    (room_started), or on its own (a room found late, a room_started that came the slow way)."""

    def __init__(self, rules: RuleBook, claims: Claims, sessions: SessionStore, egresses: EgressLedgerService,
                 rooms: RoomGateway, clock: Clock) -> None:
        self._rules, self._claims, self._sessions = rules, claims, sessions
        self._egresses, self._rooms, self._now = egresses, rooms, clock

    # ---- room_started on the webhook fast path -----------------------------------------------

    def plan(self, notices: Sequence[WebhookNotice], now: datetime) -> OpeningPlan | None:
        """A `RoomOpening` per room_started: its session, composite claims (each carrying its ledger row's id)
        and the ledger rows; None when the batch has no room_started. Blocking (it may read the rules): called
        off the event loop, in the same worker-thread hop as the intake's transaction."""
        started = [n for n in notices if n.event == "room_started"]
        if not started:
            return None
        rules = self._rules.cached_now()
        openings: list[RoomOpening] = []
        launches: dict[str, Launch] = {}
        for notice in started:
            room = room_facts(notice)
            if not room.sid:
                continue
            matched = matching_rules(rules, room)
            claims: list[RecordingClaim] = []
            for rule, _ in matched:
                if rule.composite is None:
                    continue
                claim = self._claims.composite(rule, room, part=1, egress_pk=new_egress_pk(), now=now)
                try:
                    request = self._claims.request_of(claim)
                    record = self._egresses.new_record(request, pk=claim.egress_pk, now=now)
                except OrchestratorError as exc:  # never retried: the rule is wrong, or there is no storage
                    claims.append(refused(claim, exc.message))
                    continue
                launches[claim.key] = Launch(claim, record, request)
                claims.append(claim)
            session = RoomSession(room_sid=room.sid, room_name=room.name, metadata=room.metadata, started_at=now,
                                  source=SessionSource.ROOM_STARTED, matches=tuple(m for _, m in matched))
            openings.append(RoomOpening(
                notice_id=notice.id, session=session, claims=tuple(claims),
                records=tuple(launches[c.key].record for c in claims if c.key in launches),
                expected_since=now - EXPECT_ROOM_FOR if claims else None))
        return OpeningPlan(tuple(openings), launches, frozenset(n.id for n in started))

    def launches(self, plan: OpeningPlan, opened: Sequence[RoomOpened]) -> list[Launch]:
        """The start calls to make: the composite claims the transaction won (their ledger rows are written)."""
        return [plan.launches[c.key] for o in opened for c in o.won
                if c.state == ClaimState.CLAIMED and c.key in plan.launches]

    async def launch(self, launch: Launch) -> None:
        """One start call of a claim the transaction won; then its binding (or its failure)."""
        await self._claims.launch(launch)

    async def after_open(self, opened: Sequence[RoomOpened]) -> None:
        """Once the start calls are out: log the sessions opened, bind composites LiveKit already started."""
        for o in opened:
            if o.created:
                log.info("room %s (%s) session opened from room_started; %d rule(s) match", o.session.room_name,
                         o.session.room_sid, len(o.session.matches))
        for o in opened:
            if any(c.state == ClaimState.DELEGATED for c in o.won):
                await self._claims.bind_delegated_from_ledger(o.session)

    # ---- sessions opened on their own --------------------------------------------------------

    async def open_session(
        self, room: RoomFacts, source: SessionSource, *, with_published: bool = True,
    ) -> RoomSession | None:
        """Record the session and claim its composites; start the ones this call won."""
        now = self._now()
        matched = matching_rules(await self._rules.cached(), room)
        claims = [self._claims.composite(rule, room, part=1) for rule, _ in matched if rule.composite]
        session = RoomSession(room_sid=room.sid, room_name=room.name, metadata=room.metadata, started_at=now,
                              source=source, matches=tuple(m for _, m in matched))
        # A composite POST /v1/rooms asked LiveKit to start itself becomes DELEGATED in the same transaction.
        [(stored, created, won)] = await in_thread(
            self._sessions.open_sessions, [(session, claims, now - EXPECT_ROOM_FOR if claims else None)])
        if created:
            log.info("room %s (%s) session opened from %s; %d rule(s) match", room.name, room.sid,
                     source.value, len(matched))
        await self._claims.start_all([c for c in won if c.state == ClaimState.CLAIMED])
        if any(c.state == ClaimState.DELEGATED for c in won):
            await self._claims.bind_delegated_from_ledger(stored)
        wants_tracks = any(r.tracks or r.participants for r, _ in matched)
        if created and wants_tracks and with_published and source != SessionSource.ROOM_STARTED:
            await self._record_already_published(stored)
        return stored

    # ---- tracks and participants -------------------------------------------------------------

    async def track_published(self, notice: WebhookNotice) -> None:
        """Claim the participant and track recordings the session's rules make for a published track."""
        room = room_facts(notice)
        session = await in_thread(self._sessions.get_session, room.sid)
        if session is None:  # its room_started was lost (or is still on its way): recover now
            session = await self.open_session(room, SessionSource.WEBHOOK, with_published=False)
        participant = notice.payload.get("participant", {})
        track = notice.payload.get("track", {})
        if session is not None and track.get("sid"):
            snapshot = TrackSnapshot(sid=str(track["sid"]), type=str(track.get("type", "AUDIO")),
                                     source=str(track.get("source", "")), mime_type=str(track.get("mime_type", "")))
            await self._record_published(session, str(participant.get("identity", "")),
                                         kind_of(participant.get("kind")), [snapshot])

    async def _record_already_published(self, session: RoomSession) -> None:
        try:
            participants = await self._rooms.list_participants(session.room_name)
        except LiveKitError as exc:
            log.warning("could not list the participants of %s: %s", session.room_name, exc.message)
            return
        for p in participants:
            if p.tracks:
                await self._record_published(session, p.identity, kind_of(p.kind), list(p.tracks))

    async def _record_published(self, session: RoomSession, identity: str, kind: ParticipantKind,
                                tracks: list[TrackSnapshot]) -> None:
        ids = {m.rule_id for m in session.matches}
        if not ids:
            return
        rules = await in_thread(self._rules.by_id, ids)
        room = RoomFacts(session.room_name, session.room_sid, session.metadata)
        claims = self._claims.published(rules, room, identity, kind, tracks)
        if not claims:
            return
        won = await in_thread(self._sessions.claim, session.room_sid, claims)
        await self._claims.start_all(won)


def room_facts(notice: WebhookNotice) -> RoomFacts:
    room = notice.payload.get("room") or {}
    return RoomFacts(name=str(room.get("name") or notice.room_name), sid=str(room.get("sid") or notice.room_sid),
                     metadata=str(room.get("metadata", "")))
