"""Recording claims: what each stands for, its start exactly once, its binding to the egress, its failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.egress import EgressKind, EgressRecord, EgressStatus, Origin
from orchestrator.domain.errors import InvalidInput, OrchestratorError
from orchestrator.domain.identity import SYSTEM
from orchestrator.domain.layouts import BUILTIN_LAYOUTS, layout_url
from orchestrator.domain.requests import (
    EgressRequest,
    FileOutput,
    FileType,
    HlsOutput,
    Preset,
    S3Target,
    require_storage_for,
)
from orchestrator.domain.rules import (
    ActionKind,
    ParticipantKind,
    RoomFacts,
    Rule,
    participant_selected,
    render_path,
    track_extension,
)
from orchestrator.domain.sessions import ClaimState, RecordingClaim, RoomSession, TrackSnapshot, claim_key, next_retry

from ..egresses import EgressLedgerService
from ..group_commit import GroupCommit
from ..ports import Clock, EgressLedger, SessionStore
from ..threads import in_thread

log = logging.getLogger(__name__)


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
    can_record: bool = True  # False: no S3 and no volume shared with egress, so enabled rules are refused


@dataclass(frozen=True)
class Launch:
    """A composite claim won together with its ledger row (written in the same transaction): the start call
    is next."""

    claim: RecordingClaim
    record: EgressRecord
    request: EgressRequest


class Claims:
    """Builds claims from rules, starts what a won claim stands for, and binds, fails or retries it."""

    def __init__(self, sessions: SessionStore, ledger: EgressLedger, egresses: EgressLedgerService, clock: Clock,
                 settings: AutoRecordSettings) -> None:
        self._sessions, self._ledger, self._egresses = sessions, ledger, egresses
        self._now, self._s = clock, settings
        # Claims whose egress started, bound together (a burst of rooms is a burst of answers).
        self._bind = GroupCommit(sessions.bind_claims, "claim-binding")

    async def aclose(self) -> None:
        await self._bind.aclose()

    # ---- building ----------------------------------------------------------------------------

    def claim(self, rule: Rule, room: RoomFacts, action: ActionKind, subject: str, part: int,
              request: dict[str, Any], egress_pk: str | None = None, now: datetime | None = None) -> RecordingClaim:
        now = now or self._now()
        return RecordingClaim(
            key=claim_key(room.sid, rule.id, action, subject, part), room_sid=room.sid, room_name=room.name,
            rule_id=rule.id, action=action, subject=subject, part=part, state=ClaimState.CLAIMED,
            request={"room_name": room.name, **request}, created_at=now, updated_at=now,
            retry_at=now + self._s.lease, egress_pk=egress_pk)

    def composite(self, rule: Rule, room: RoomFacts, part: int, egress_pk: str | None = None,
                  now: datetime | None = None) -> RecordingClaim:
        c = rule.composite
        assert c is not None
        now = now or self._now()
        return self.claim(rule, room, ActionKind.COMPOSITE, "", part, {
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

    def published(self, rules: Sequence[Rule], room: RoomFacts, identity: str, kind: ParticipantKind,
                  tracks: Sequence[TrackSnapshot]) -> list[RecordingClaim]:
        """The participant and track claims the rules make for what one participant publishes."""
        now = self._now()
        claims: list[RecordingClaim] = []
        for rule in rules:
            if not identity or not participant_selected(rule.participant_filter, identity, kind):
                continue
            if rule.participants is not None:
                path = render_path(rule.participants.filepath, room=room, at=now, rule=rule, identity=identity)
                claims.append(self.claim(rule, room, ActionKind.PARTICIPANT, identity, 1, {
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
                    claims.append(self.claim(rule, room, ActionKind.TRACK, track.sid, 1, {
                        "kind": EgressKind.TRACK.value, "track_id": track.sid, "identity": identity,
                        "filepath": path, "file_type": ext}))
        return claims

    def request_of(self, claim: RecordingClaim) -> EgressRequest:
        """The EgressRequest a claim stands for, with the service's storage. InvalidInput (field `rule`, naming
        the settings) when it writes files and the service has no storage: it must not reach LiveKit."""
        r = claim.request
        kind = EgressKind(r["kind"])
        layout, base_url = str(r.get("layout") or ""), ""
        if layout and layout not in BUILTIN_LAYOUTS:
            layout, base_url = "", layout_url(self._s.public_url, layout)
        file = (FileOutput(filepath=str(r["filepath"]), file_type=FileType(r["file_type"]))
                if r.get("filepath") else None)
        hls = HlsOutput(filename_prefix=str(r["hls_prefix"])) if r.get("hls_prefix") else None
        return require_storage_for(EgressRequest(
            kind=kind, room_name=str(r["room_name"]), layout=layout, custom_base_url=base_url,
            audio_only=bool(r.get("audio_only")), preset=Preset(r["preset"]) if r.get("preset") else None,
            track_id=str(r.get("track_id", "")) if kind == EgressKind.TRACK else "",
            identity=str(r.get("identity", "")) if kind == EgressKind.PARTICIPANT else "",
            file=file, hls=hls, storage=self._s.storage, rule_id=claim.rule_id), self._s.can_record, "rule")

    # ---- starting ----------------------------------------------------------------------------

    async def start_all(self, claims: Sequence[RecordingClaim]) -> None:
        await asyncio.gather(*(self.start(c) for c in claims))

    async def start(self, claim: RecordingClaim) -> EgressRecord | None:
        """Start what a won claim stands for and bind the egress to it; a failure is left for the sweep."""
        try:
            request = self.request_of(claim)
            record = await self._egresses.start(request, actor=SYSTEM.name)
        except OrchestratorError as exc:
            await self.failed(claim, exc)
            return None
        await self._bind_now(claim, record)
        return record

    async def launch(self, launch: Launch) -> None:
        """The start call of a claim won with its ledger row (the webhook fast path); then bind it."""
        claim = launch.claim
        try:
            record = await self._egresses.launch(launch.record, launch.request)
        except OrchestratorError as exc:
            await self.failed(claim, exc)
            return
        except Exception:
            log.exception("automatic recording of %s failed", claim.room_name)
            return
        if not await self._bind((claim.key, record.id, self._now())):
            await self._ended_while_starting(claim, record)

    async def retry(self, claim: RecordingClaim) -> None:
        """A claim whose start failed or whose starter vanished: adopt what it may have made, else start."""
        try:
            fingerprint = self.request_of(claim).fingerprint()
        except OrchestratorError as exc:  # e.g. storage removed since it was claimed: failed for good
            await self.failed(claim, exc)
            return
        made = await in_thread(self._ledger.find, room_name=claim.room_name, limit=200)
        for record in made:
            if (record.fingerprint == fingerprint and record.created_at >= claim.created_at
                    and record.status not in (EgressStatus.FAILED, EgressStatus.ABORTED)):
                owner = await in_thread(self._sessions.claim_of_egress, record.id)
                if owner is not None and owner.key != claim.key:
                    continue  # another claim's recording
                if record.egress_id is None and not await self._egresses.recover_start(record):
                    continue  # its start call never answered, and LiveKit has nothing: start again
                await self._bind_now(claim, record)
                return
        await self.start(claim)

    async def failed(self, claim: RecordingClaim, exc: OrchestratorError) -> None:
        attempts = claim.attempts + 1
        retry = next_retry(attempts, self._s.max_attempts, self._s.retry_base, self._now(),
                           for_good=isinstance(exc, InvalidInput))
        log.warning("automatic %s recording of %s (rule %s) did not start: %s%s", claim.action.value,
                    claim.room_name, claim.rule_id, exc.message, "; will retry" if retry else "")
        await in_thread(self._sessions.fail_claim, claim.key, exc.message, retry, self._now())

    async def _bind_now(self, claim: RecordingClaim, record: EgressRecord) -> None:
        [bound] = await in_thread(self._sessions.bind_claims, [(claim.key, record.id, self._now())])
        if not bound:
            await self._ended_while_starting(claim, record)

    async def _ended_while_starting(self, claim: RecordingClaim, record: EgressRecord) -> None:
        """The room ended while this start call was out: close_session could not see the egress, so stop it."""
        log.info("room session %s ended while %s of %s was starting: stopping %s", claim.room_sid,
                 claim.action.value, claim.room_name, record.egress_id)
        await self._egresses.stop_quietly(record.id)

    # ---- the composite LiveKit starts itself, and the end of a session -----------------------

    async def bind_delegated_from_ledger(self, session: RoomSession) -> None:
        """The auto egress's own webhook may have come before room_started: look for it in the ledger."""
        for record in await in_thread(self._ledger.find, room_name=session.room_name, limit=50):
            if (record.room_id == session.room_sid and record.kind == EgressKind.ROOM_COMPOSITE
                    and record.origin == Origin.ADOPTED):
                owner = await in_thread(self._sessions.claim_of_egress, record.id)
                if owner is None:
                    await in_thread(self._sessions.bind_delegated, session.room_sid, record.id, self._now())
                    return

    async def close_session(self, room_sid: str, why: str) -> int:
        """End the session; stop every recording of it that still runs. Returns how many were stopped."""
        closed, claims = await in_thread(self._sessions.close_session, room_sid, self._now())
        stopped = 0
        for claim in claims:
            assert claim.egress_pk is not None
            record = await in_thread(self._ledger.get, claim.egress_pk)
            if record is None or record.status.terminal or record.egress_id is None:
                continue
            log.info("room session %s ended (%s): stopping %s", room_sid, why, record.egress_id)
            await self._egresses.stop_quietly(record.id)
            stopped += 1
        if closed:
            log.info("room session %s closed (%s); %d recording(s) stopped", room_sid, why, stopped)
        return stopped
