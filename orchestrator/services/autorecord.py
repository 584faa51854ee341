"""Automatic recording: rules applied to room sessions as they start, once per session, per track, per part."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool

from orchestrator.adapters.sql.egress_repository import SqlEgressRepository
from orchestrator.adapters.sql.rule_repository import SqlRuleRepository
from orchestrator.domain.egress import EgressKind, EgressRecord, EgressStatus, Origin
from orchestrator.domain.errors import InvalidInput, LiveKitError, NotFound, OrchestratorError
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.ids import new_egress_pk, new_id
from orchestrator.domain.layouts import BUILTIN_LAYOUTS, layout_url
from orchestrator.domain.requests import EgressRequest, FileOutput, FileType, HlsOutput, Preset, S3Target
from orchestrator.domain.rules import (
    ActionKind,
    Gap,
    ParticipantKind,
    PartSpan,
    RoomFacts,
    Rule,
    all_rooms_rule,
    gaps_between,
    kind_of,
    matching_rules,
    participant_selected,
    render_path,
    rollover_due,
    track_extension,
    validate_rule,
)
from orchestrator.domain.sessions import (
    ClaimState,
    CreatedRoom,
    RecordingClaim,
    RoomSession,
    SessionSource,
    TrackSnapshot,
    claim_key,
    retry_delay,
)

from .changes import EgressChange
from .egresses import START_REQUESTED, EgressLedgerService
from .group_commit import GroupCommit
from .ports import Clock, RoomGateway
from .webhooks import Handled

log = logging.getLogger(__name__)

# How long a CreateRoom request of ours waits for its room_started before it no longer applies.
_EXPECT_ROOM_FOR = timedelta(seconds=120)
_RULES_TTL_S = 1.0


@dataclass(frozen=True)
class AutoRecordSettings:
    storage: S3Target | None
    public_url: str
    record_all: bool = False
    cap: timedelta = timedelta(hours=3)
    rollover_margin: timedelta = timedelta(seconds=60)
    retry_base: timedelta = timedelta(seconds=5)
    max_attempts: int = 5
    lease: timedelta = timedelta(seconds=180)  # a claim whose starter vanished is retried after this


@dataclass(frozen=True)
class SessionView:
    session: RoomSession
    claims: list[RecordingClaim]
    egresses: dict[str, EgressRecord]
    gaps: dict[str, list[Gap]]  # by rule id


@dataclass(frozen=True)
class _Launch:
    """A composite claim won in a transaction, and the ledger row written for it: its start call is next."""

    claim: RecordingClaim
    record: EgressRecord
    request: EgressRequest
    arrived: float | None  # perf_counter when its trigger reached the service


@dataclass(frozen=True)
class _Opened:
    sessions: list[RoomSession]  # one per room given, as stored
    launches: list[_Launch]
    created: list[tuple[RoomSession, int]]  # sessions new in this transaction, with how many rules matched
    delegated: list[RoomSession]  # sessions whose composite LiveKit starts itself (CreateRoom auto egress)


@dataclass
class SweepReport:
    rooms: int = 0
    recovered: int = 0  # sessions opened late from ListRooms
    closed: int = 0  # sessions whose room_finished was lost
    retried: int = 0
    rolled_over: int = 0
    errors: list[str] = field(default_factory=list)


class AutoRecorder:
    """Turns rules into recordings: claims first (a unique key in the database), then the start call.

    Triggers: room_started and track_published webhooks (through the change feed), and `sweep()`,
    which lists LiveKit's rooms to recover a lost room_started or room_finished, retries failed starts
    and rolls long composites over to a new part before the file cap.
    """

    def __init__(
        self,
        rules: SqlRuleRepository,
        ledger: SqlEgressRepository,
        egresses: EgressLedgerService,
        rooms: RoomGateway,
        clock: Clock,
        settings: AutoRecordSettings,
    ) -> None:
        self._rules, self._ledger, self._egresses, self._rooms = rules, ledger, egresses, rooms
        self._now, self._s = clock, settings
        # Benchmarks and metrics: called with (room_sid, seconds from the trigger's arrival to the start call).
        self.on_start_call: Callable[[str, float], None] | None = None
        self._rules_cache: tuple[float, list[Rule]] | None = None
        # room_started notices arriving together are opened in one transaction and started together.
        self._pending: list[tuple[RoomFacts, float | None, asyncio.Future[RoomSession | None]]] = []  # no hook
        self._flushing = False
        self._flusher: asyncio.Future[None] | None = None
        self._launching: set[asyncio.Future[None]] = set()
        # Claims whose egress started, bound together (a burst of rooms is a burst of answers).
        self._bind = GroupCommit(rules.bind_claims, "claim-binding")

    # ---- rules -------------------------------------------------------------------------------

    def create_rule(self, rule: Rule) -> Rule:
        now = self._now()
        rule = validate_rule(replace(rule, id=rule.id or new_id("rul"), created_at=now,
                                     updated_at=now))
        created = self._rules.create_rule(rule)
        self._rules_changed()
        return created

    def rule(self, ref: str) -> Rule:
        found = self._rules.get_rule(ref)
        if found is None:
            raise NotFound(f"no rule with id or name {ref!r}")
        return found

    def update_rule(self, rule: Rule) -> Rule:
        updated = self._rules.update_rule(validate_rule(replace(rule, updated_at=self._now())))
        self._rules_changed()
        return updated

    def delete_rule(self, ref: str) -> None:
        if not self._rules.delete_rule(self.rule(ref).id):
            raise NotFound(f"no rule with id or name {ref!r}")
        self._rules_changed()

    def list_rules(self) -> list[Rule]:
        return self._rules.list_rules()

    def _active_rules(self, tx: Any = None) -> list[Rule]:
        rules = self._rules.list_rules(enabled_only=True, tx=tx)
        return [*rules, all_rooms_rule()] if self._s.record_all else rules

    async def _cached_rules(self) -> list[Rule]:
        cached = self._rules_cache
        if cached is not None and time.monotonic() - cached[0] <= _RULES_TTL_S:
            return cached[1]
        return await run_in_threadpool(self._rules_now)

    def _rules_now(self, tx: Any = None) -> list[Rule]:
        """The active rules, read at most once per second (with `tx`, in that transaction): a rule changed
        on another replica applies within a second; one changed here applies at once."""
        cached, now = self._rules_cache, time.monotonic()
        if cached is None or now - cached[0] > _RULES_TTL_S:
            cached = self._rules_cache = (now, self._active_rules(tx))
        return cached[1]

    def _rules_changed(self) -> None:
        self._rules_cache = None

    def _rules_by_id(self, ids: set[str]) -> list[Rule]:
        return [r for r in self._active_rules() if r.id in ids]

    # ---- triggers ----------------------------------------------------------------------------

    async def on_notice(self, notice: WebhookNotice) -> None:
        """room_started, track_published and room_finished, each delivered once per event id."""
        room = _room_facts(notice)
        if not room.sid:
            return
        if notice.event == "room_started":
            await self._open_batched(room, notice.received)
        elif notice.event == "track_published":
            session = await run_in_threadpool(self._rules.get_session, room.sid)
            if session is None:  # its room_started was lost (or is still on its way): recover now
                session = await self.open_session(room, SessionSource.WEBHOOK, with_published=False)
            participant = notice.payload.get("participant", {})
            track = notice.payload.get("track", {})
            if session is not None and track.get("sid"):
                snapshot = TrackSnapshot(sid=str(track["sid"]), type=str(track.get("type", "AUDIO")),
                                         source=str(track.get("source", "")),
                                         mime_type=str(track.get("mime_type", "")))
                await self._record_published(session, str(participant.get("identity", "")),
                                             kind_of(participant.get("kind")), [snapshot])
        elif notice.event == "room_finished":
            await self.close_session(room.sid, "room_finished")

    async def on_egress_change(self, change: EgressChange) -> None:
        """Bind the composite LiveKit started from CreateRoom; replace a part that hit LiveKit's limit."""
        record = change.record
        if (change.status_before is None and record.origin == Origin.ADOPTED
                and record.kind == EgressKind.ROOM_COMPOSITE and record.room_id):
            await run_in_threadpool(self._rules.bind_delegated, record.room_id, record.id, self._now())
        if record.status == EgressStatus.LIMIT_REACHED and change.status_before != record.status:
            claim = await run_in_threadpool(self._rules.claim_of_egress, record.id)
            if claim is not None and claim.action == ActionKind.COMPOSITE:
                await self._roll_over(claim, record, reason="LiveKit's limit was reached")

    async def open_session(
        self, room: RoomFacts, source: SessionSource, *, with_published: bool = True,
    ) -> RoomSession | None:
        """Record the session and claim its composites; start the ones this call won."""
        now = self._now()
        matched = matching_rules(await self._cached_rules(), room)
        claims = [self._composite_claim(rule, room, part=1) for rule, _ in matched if rule.composite]
        session = RoomSession(room_sid=room.sid, room_name=room.name, metadata=room.metadata, started_at=now,
                              source=source, matches=tuple(m for _, m in matched))
        # A composite POST /v1/rooms asked LiveKit to start itself becomes DELEGATED in the same transaction.
        stored, created, won = await run_in_threadpool(self._rules.open_session, session, claims,
                                                       now - _EXPECT_ROOM_FOR if claims else None)
        if created:
            log.info("room %s (%s) session opened from %s; %d rule(s) match", room.name, room.sid,
                     source.value, len(matched))
        await asyncio.gather(*(self._start(c) for c in won if c.state == ClaimState.CLAIMED))
        if any(c.state == ClaimState.DELEGATED for c in won):
            await self._bind_delegated_from_ledger(stored)
        wants_tracks = any(r.tracks or r.participants for r, _ in matched)
        if created and wants_tracks and with_published and source != SessionSource.ROOM_STARTED:
            await self._record_already_published(stored)
        return stored

    # ---- room_started: sessions, claims and ledger rows in one transaction --------------------

    def in_transaction(self, tx: Any, notices: list[WebhookNotice]) -> Handled | None:
        """IntakeHook: in the transaction that stores these webhooks, open the sessions their room_started
        announce, claim the composites and write the ledger rows of the claims won."""
        started = [n for n in notices if n.event == "room_started"]
        rooms = [(room, n.received) for n in started if (room := _room_facts(n)).sid]
        if not started:
            return None
        return Handled(frozenset(n.id for n in started), then=self._open_rooms(tx, rooms))

    def after_commit(self, handled: Handled) -> Awaitable[None] | None:
        """IntakeHook: the start calls leave now; the webhooks are answered once they are written."""
        return self._go(handled.then)

    async def _open_batched(self, room: RoomFacts, arrived: float | None) -> RoomSession | None:
        """A room_started that did not come through the webhook intake's transaction (it had no hook)."""
        future: asyncio.Future[RoomSession | None] = asyncio.get_running_loop().create_future()
        self._pending.append((room, arrived, future))
        if not self._flushing:
            self._flushing = True
            self._flusher = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        """Open every queued session in one transaction, then start all the composites won at once."""
        try:
            await asyncio.sleep(0)  # let the notices delivered together join the batch
            while self._pending:
                batch, self._pending = self._pending[:256], self._pending[256:]
                try:
                    opened = await run_in_threadpool(self._open_rooms_alone, [(r, a) for r, a, _ in batch])
                except Exception as exc:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self._go(opened)
                for (_, _, future), session in zip(batch, opened.sessions, strict=True):
                    if not future.done():
                        future.set_result(session)
        finally:
            self._flushing = False

    def _open_rooms_alone(self, rooms: list[tuple[RoomFacts, float | None]]) -> _Opened:
        with self._rules.transaction() as tx:
            return self._open_rooms(tx, rooms)

    def _open_rooms(self, tx: Any, rooms: list[tuple[RoomFacts, float | None]]) -> _Opened:
        """Sessions, composite claims (each carrying its ledger row's id) and the rows of the claims won."""
        now = self._now()
        rules = self._rules_now(tx)
        items = []
        plans: dict[str, _Launch] = {}
        for room, arrived in rooms:
            matched = matching_rules(rules, room)
            claims = []
            for rule, _ in matched:
                if rule.composite is None:
                    continue
                claim = self._composite_claim(rule, room, part=1, egress_pk=new_egress_pk(), now=now)
                try:
                    request = self.request_of(claim)
                    record = self._egresses.new_record(request, pk=claim.egress_pk, now=now)
                except OrchestratorError as exc:  # never retried: the rule itself is wrong
                    claims.append(replace(claim, state=ClaimState.FAILED, error=exc.message[:2000], retry_at=None,
                                          egress_pk=None))
                    continue
                plans[claim.key] = _Launch(claim, record, request, arrived)
                claims.append(claim)
            session = RoomSession(room_sid=room.sid, room_name=room.name, metadata=room.metadata, started_at=now,
                                  source=SessionSource.ROOM_STARTED, matches=tuple(m for _, m in matched))
            items.append((session, claims, now - _EXPECT_ROOM_FOR if claims else None))
        results = self._rules.open_sessions(items, tx=tx)
        launches = [plans[c.key] for _, _, won in results for c in won
                    if c.state == ClaimState.CLAIMED and c.key in plans]
        self._ledger.create_many([launch.record for launch in launches], detail=START_REQUESTED, tx=tx)
        return _Opened(
            sessions=[stored for stored, _, _ in results], launches=launches,
            created=[(stored, len(session.matches)) for (stored, created, _), (session, _, _)
                     in zip(results, items, strict=True) if created],
            delegated=[stored for stored, _, won in results if any(c.state == ClaimState.DELEGATED for c in won)])

    def _go(self, opened: _Opened) -> asyncio.Future[None] | None:
        """Every start call at once; then the bookkeeping that may wait. The future is done when every
        start request has been written (or has failed)."""
        all_sent: asyncio.Future[None] | None = None
        if opened.launches:
            all_sent = asyncio.get_running_loop().create_future()
            waiting = [len(opened.launches)]

            def one_sent() -> None:
                waiting[0] -= 1
                if waiting[0] == 0 and all_sent is not None and not all_sent.done():
                    all_sent.set_result(None)

            for launch in opened.launches:
                self._spawn(self._launch(launch, one_sent))
        self._spawn(self._after_open(opened, all_sent))
        return all_sent

    async def _after_open(self, opened: _Opened, all_sent: asyncio.Future[None] | None) -> None:
        if all_sent is not None:  # the start calls first: a hundred log lines are a few milliseconds
            await asyncio.wait([all_sent], timeout=1.0)
        for session, matches in opened.created:
            log.info("room %s (%s) session opened from room_started; %d rule(s) match", session.room_name,
                     session.room_sid, matches)
        for session in opened.delegated:
            await self._bind_delegated_from_ledger(session)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._launching.add(task)
        task.add_done_callback(self._launching.discard)

    async def _launch(self, launch: _Launch, written: Callable[[], None]) -> None:
        claim, arrived = launch.claim, launch.arrived
        told = False

        def sent() -> None:
            nonlocal told
            told = True
            written()
            if arrived is not None and self.on_start_call is not None:
                self.on_start_call(claim.room_sid, time.perf_counter() - arrived)

        try:
            record = await self._egresses.launch(launch.record, launch.request, on_sent=sent)
        except OrchestratorError as exc:
            await self._claim_failed(claim, exc)
            return
        except Exception:
            log.exception("automatic recording of %s failed", claim.room_name)
            return
        finally:
            if not told:
                written()
        if not await self._bind((claim.key, record.id, self._now())):
            await self._ended_while_starting(claim, record)

    async def _ended_while_starting(self, claim: RecordingClaim, record: EgressRecord) -> None:
        """The room ended while this start call was out: close_session could not see the egress, so stop it."""
        log.info("room session %s ended while %s of %s was starting: stopping %s", claim.room_sid,
                 claim.action.value, claim.room_name, record.egress_id)
        await self._egresses.stop_quietly(record.id)

    async def _claim_failed(self, claim: RecordingClaim, exc: OrchestratorError) -> None:
        attempts = claim.attempts + 1
        retry = (self._now() + retry_delay(attempts, self._s.retry_base)
                 if attempts < self._s.max_attempts and not isinstance(exc, InvalidInput) else None)
        log.warning("automatic %s recording of %s (rule %s) did not start: %s%s", claim.action.value,
                    claim.room_name, claim.rule_id, exc.message, "; will retry" if retry else "")
        await run_in_threadpool(self._rules.fail_claim, claim.key, exc.message, retry, self._now())

    async def aclose(self) -> None:
        await self._bind.aclose()

    async def close_session(self, room_sid: str, why: str) -> int:
        """End the session; stop every recording of it that still runs. Returns how many were stopped."""
        closed, claims = await run_in_threadpool(self._rules.close_session, room_sid, self._now())
        stopped = 0
        for claim in claims:
            assert claim.egress_pk is not None
            record = await run_in_threadpool(self._ledger.get, claim.egress_pk)
            if record is None or record.status.terminal or record.egress_id is None:
                continue
            log.info("room session %s ended (%s): stopping %s", room_sid, why, record.egress_id)
            await self._egresses.stop_quietly(record.id)
            stopped += 1
        if closed:
            log.info("room session %s closed (%s); %d recording(s) stopped", room_sid, why, stopped)
        return stopped

    # ---- tracks and participants -------------------------------------------------------------

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
        rules = await run_in_threadpool(self._rules_by_id, ids)
        room = RoomFacts(session.room_name, session.room_sid, session.metadata)
        now = self._now()
        claims: list[RecordingClaim] = []
        for rule in rules:
            if not identity or not participant_selected(rule.participant_filter, identity, kind):
                continue
            if rule.participants is not None:
                path = render_path(rule.participants.filepath, room=room, at=now, rule=rule, identity=identity)
                claims.append(self._claim(rule, room, ActionKind.PARTICIPANT, identity, 1, {
                    "kind": EgressKind.PARTICIPANT.value, "identity": identity, "filepath": path,
                    "file_type": FileType.MP4.value,
                    "preset": rule.participants.preset.value if rule.participants.preset else None}))
            if rule.tracks is not None:
                for track in tracks:
                    if track.type.upper() == "DATA":
                        continue
                    ext = track_extension(track.type, track.mime_type)
                    path = render_path(rule.tracks.filepath, room=room, at=now, rule=rule, identity=identity,
                                       track_id=track.sid, track_type=track.type, track_source=track.source,
                                       ext=ext)
                    claims.append(self._claim(rule, room, ActionKind.TRACK, track.sid, 1, {
                        "kind": EgressKind.TRACK.value, "track_id": track.sid, "identity": identity,
                        "filepath": path, "file_type": ext}))
        if not claims:
            return
        won = await run_in_threadpool(self._rules.claim, session.room_sid, claims)
        await asyncio.gather(*(self._start(c) for c in won))

    # ---- claims and starts -------------------------------------------------------------------

    def _claim(self, rule: Rule, room: RoomFacts, action: ActionKind, subject: str, part: int,
               request: dict[str, Any], egress_pk: str | None = None, now: datetime | None = None) -> RecordingClaim:
        now = now or self._now()
        return RecordingClaim(
            key=claim_key(room.sid, rule.id, action, subject, part), room_sid=room.sid, room_name=room.name,
            rule_id=rule.id, action=action, subject=subject, part=part, state=ClaimState.CLAIMED,
            request={"room_name": room.name, **request}, created_at=now, updated_at=now,
            retry_at=now + self._s.lease, egress_pk=egress_pk)

    def _composite_claim(self, rule: Rule, room: RoomFacts, part: int, egress_pk: str | None = None,
                         now: datetime | None = None) -> RecordingClaim:
        c = rule.composite
        assert c is not None
        now = now or self._now()
        return self._claim(rule, room, ActionKind.COMPOSITE, "", part, {
            "kind": EgressKind.ROOM_COMPOSITE.value, "layout": c.layout, "audio_only": c.audio_only,
            "preset": c.preset.value if c.preset else None,
            "filepath": render_path(c.filepath, room=room, at=now, rule=rule, part=part) if c.filepath else None,
            "file_type": FileType.MP4.value,
            "hls_prefix": render_path(c.hls_prefix, room=room, at=now, rule=rule, part=part)
            if c.hls_prefix else None,
            # what the next part needs, even if the rule changes or goes meanwhile
            "templates": {"filepath": c.filepath, "hls_prefix": c.hls_prefix, "rule_name": rule.name,
                          "metadata": room.metadata},
        }, egress_pk, now)

    def request_of(self, claim: RecordingClaim) -> EgressRequest:
        """The EgressRequest a claim stands for, with the service's storage."""
        r = claim.request
        kind = EgressKind(r["kind"])
        layout, base_url = str(r.get("layout") or ""), ""
        if layout and layout not in BUILTIN_LAYOUTS:
            layout, base_url = "", layout_url(self._s.public_url, layout)
        file = (FileOutput(filepath=str(r["filepath"]), file_type=FileType(r["file_type"]))
                if r.get("filepath") else None)
        hls = HlsOutput(filename_prefix=str(r["hls_prefix"])) if r.get("hls_prefix") else None
        return EgressRequest(
            kind=kind, room_name=str(r["room_name"]), layout=layout, custom_base_url=base_url,
            audio_only=bool(r.get("audio_only")), preset=Preset(r["preset"]) if r.get("preset") else None,
            track_id=str(r.get("track_id", "")) if kind == EgressKind.TRACK else "",
            identity=str(r.get("identity", "")) if kind == EgressKind.PARTICIPANT else "",
            file=file, hls=hls, storage=self._s.storage)

    async def _start(self, claim: RecordingClaim) -> EgressRecord | None:
        """Start what a won claim stands for and bind the egress to it; a failure is left for the sweep."""
        try:
            request = self.request_of(claim)
            record = await self._egresses.start(request)
        except OrchestratorError as exc:
            await self._claim_failed(claim, exc)
            return None
        if not await run_in_threadpool(self._rules.bind_claim, claim.key, record.id, self._now()):
            await self._ended_while_starting(claim, record)
        return record

    async def _retry(self, claim: RecordingClaim) -> None:
        """A claim whose start failed or whose starter vanished: adopt what it may have made, else start."""
        request = self.request_of(claim)
        fingerprint = request.fingerprint()
        made = await run_in_threadpool(self._ledger.find, room_name=claim.room_name, limit=200)
        for record in made:
            if (record.fingerprint == fingerprint and record.created_at >= claim.created_at
                    and record.status not in (EgressStatus.FAILED, EgressStatus.ABORTED)):
                owner = await run_in_threadpool(self._rules.claim_of_egress, record.id)
                if owner is not None and owner.key != claim.key:
                    continue  # another claim's recording
                if record.egress_id is None and not await self._egresses.recover_start(record):
                    continue  # its start call never answered, and LiveKit has nothing: start again
                if not await run_in_threadpool(self._rules.bind_claim, claim.key, record.id, self._now()):
                    await self._ended_while_starting(claim, record)
                return
        await self._start(claim)

    async def _bind_delegated_from_ledger(self, session: RoomSession) -> None:
        """The auto egress's own webhook may have come before room_started: look for it in the ledger."""
        for record in await run_in_threadpool(self._ledger.find, room_name=session.room_name, limit=50):
            if (record.room_id == session.room_sid and record.kind == EgressKind.ROOM_COMPOSITE
                    and record.origin == Origin.ADOPTED):
                owner = await run_in_threadpool(self._rules.claim_of_egress, record.id)
                if owner is None:
                    await run_in_threadpool(self._rules.bind_delegated, session.room_sid, record.id, self._now())
                    return

    # ---- long recordings ---------------------------------------------------------------------

    async def _roll_over(self, claim: RecordingClaim, current: EgressRecord, reason: str) -> bool:
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
        won = await run_in_threadpool(self._rules.claim, claim.room_sid, [nxt])
        if not won:
            return False
        log.info("rolling %s over to part %d: %s", claim.room_name, part, reason)
        await self._start(nxt)
        if not current.status.terminal:
            await self._egresses.stop_quietly(current.id)
        return True

    # ---- the sweep ---------------------------------------------------------------------------

    async def sweep(self) -> SweepReport:
        """Recover lost room_started/room_finished from ListRooms, retry failed starts, roll over parts."""
        report = SweepReport()
        before = {s.room_sid: s for s in await run_in_threadpool(self._rules.sessions, open_only=True,
                                                                   limit=100_000)}
        try:
            rooms = await self._rooms.list_rooms()
        except LiveKitError as exc:
            report.errors.append(exc.message)
            rooms = None
        if rooms is not None:
            report.rooms = len(rooms)
            listed = {r.sid for r in rooms}
            for r in rooms:
                if r.sid in before or not r.sid:
                    continue
                if await run_in_threadpool(self._rules.get_session, r.sid) is None:
                    opened = await self.open_session(RoomFacts(r.name, r.sid, r.metadata), SessionSource.RECONCILE)
                    if opened is not None and opened.source == SessionSource.RECONCILE:
                        report.recovered += 1
                        log.warning("room %s (%s) was running without a session: its room_started was "
                                    "lost; recording it late", r.name, r.sid)
            for sid in before.keys() - listed:
                await self.close_session(sid, "the room is gone from LiveKit")
                report.closed += 1
            for session in before.values():
                if session.room_sid in listed and any(c.state == ClaimState.DELEGATED for c in
                                                      await run_in_threadpool(self._rules.claims_of,
                                                                              [session.room_sid])):
                    await self._bind_delegated_from_ledger(session)
        now = self._now()
        for claim in await run_in_threadpool(self._rules.due_claims, now):
            taken = await run_in_threadpool(self._rules.take_for_retry, claim.key, now, now + self._s.lease)
            if taken is not None:
                report.retried += 1
                await self._retry(taken)
        for claim in await run_in_threadpool(self._rules.running_composites):
            assert claim.egress_pk is not None
            record = await run_in_threadpool(self._ledger.get, claim.egress_pk)
            if record is None:
                continue
            started = record.started_at or record.created_at
            due = record.status == EgressStatus.LIMIT_REACHED or (
                not record.status.terminal and rollover_due(started, now, self._s.cap, self._s.rollover_margin))
            if due and await self._roll_over(claim, record, reason="the file cap is near"):
                report.rolled_over += 1
        return report

    # ---- CreateRoom --------------------------------------------------------------------------

    async def create_room(self, name: str, *, metadata: str = "", rule_ref: str | None = None,
                          empty_timeout: int = 0, departure_timeout: int = 0) -> tuple[CreatedRoom, Rule | None]:
        """CreateRoom with LiveKit's auto egress filled from a rule (given, or the best match by name/metadata)."""
        if not name.strip() or len(name) > 256:
            raise InvalidInput("name", "must be 1 to 256 characters")
        if rule_ref:
            rule: Rule | None = await run_in_threadpool(self.rule, rule_ref)
            assert rule is not None
            if rule.composite is None:
                raise InvalidInput("rule", f"rule {rule.name!r} has no composite action to start with the room")
        else:
            rules = await self._cached_rules()
            rule = next((r for r, _ in matching_rules(rules, RoomFacts(name, "", metadata)) if r.composite), None)
        composite = None
        if rule is not None and rule.composite is not None:
            c, now = rule.composite, self._now()
            # LiveKit fills {room_id} and {time} itself: the room's sid does not exist yet.
            room = RoomFacts(name, "{room_id}", metadata)
            claim = self._composite_claim(rule, room, part=1)
            fields = {"room_sid": "{room_id}", "time": "{time}"}
            request = dict(claim.request)
            if c.filepath:
                request["filepath"] = _with_livekit_fields(c.filepath, room, now, rule, fields)
            if c.hls_prefix:
                request["hls_prefix"] = _with_livekit_fields(c.hls_prefix, room, now, rule, fields)
            composite = self.request_of(replace(claim, request=request))
            await run_in_threadpool(self._rules.expect_room, name, rule.id, now)
        asked_ms = int(self._now().timestamp() * 1000)
        created = await self._rooms.create_room(name, metadata=metadata, empty_timeout=empty_timeout,
                                                departure_timeout=departure_timeout, composite=composite)
        if composite is not None and created.creation_time_ms and created.creation_time_ms < asked_ms - 2000:
            await run_in_threadpool(self._rules.forget_expected_room, name)  # it existed: no auto egress
        return created, rule

    # ---- views -------------------------------------------------------------------------------

    def sessions(self, *, room_name: str | None = None, open_only: bool = False,
                 limit: int = 50) -> list[SessionView]:
        sessions = self._rules.sessions(room_name=room_name, open_only=open_only, limit=limit)
        claims = self._rules.claims_of([s.room_sid for s in sessions])
        return [self._view(s, [c for c in claims if c.room_sid == s.room_sid]) for s in sessions]

    def session(self, room_sid: str) -> SessionView:
        session = self._rules.get_session(room_sid)
        if session is None:
            raise NotFound(f"no room session {room_sid!r}")
        return self._view(session, self._rules.claims_of([room_sid]))

    def _view(self, session: RoomSession, claims: list[RecordingClaim]) -> SessionView:
        egresses = {c.egress_pk: r for c in claims if c.egress_pk and (r := self._ledger.get(c.egress_pk))}
        gaps: dict[str, list[Gap]] = {}
        for rule_id in {c.rule_id for c in claims if c.action == ActionKind.COMPOSITE}:
            spans = []
            for c in claims:
                if c.rule_id == rule_id and c.action == ActionKind.COMPOSITE and c.egress_pk in egresses:
                    rec = egresses[c.egress_pk]
                    spans.append(PartSpan(c.part, rec.started_at, rec.ended_at))
            gaps[rule_id] = gaps_between(spans)
        return SessionView(session, claims, egresses, gaps)


def _with_livekit_fields(template: str, room: RoomFacts, now: Any, rule: Rule, fields: dict[str, str]) -> str:
    rendered = render_path(template.replace("{room_sid}", "\x00sid\x00").replace("{time}", "\x00time\x00"),
                           room=room, at=now, rule=rule)
    return rendered.replace("\x00sid\x00", fields["room_sid"]).replace("\x00time\x00", fields["time"])


def _room_facts(notice: WebhookNotice) -> RoomFacts:
    room = notice.payload.get("room") or {}
    return RoomFacts(name=str(room.get("name") or notice.room_name), sid=str(room.get("sid") or notice.room_sid),
                     metadata=str(room.get("metadata", "")))

