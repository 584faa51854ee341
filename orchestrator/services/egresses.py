"""Starting, stopping and updating egresses, with every step recorded in the ledger."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.domain.backoff import backoff_s
from orchestrator.domain.egress import (
    START_REQUESTED,
    Applied,
    ChangeSource,
    EgressEvent,
    EgressRecord,
    EgressStatus,
    Observation,
    Origin,
)
from orchestrator.domain.errors import (
    Conflict,
    EgressAlreadyEnded,
    EgressUnknownToLiveKit,
    InvalidInput,
    LiveKitRejected,
    LiveKitUnavailable,
    NotFound,
)
from orchestrator.domain.identity import SYSTEM
from orchestrator.domain.ids import new_egress_pk
from orchestrator.domain.requests import EgressRequest, check_stream_url, require_storage_for, validate

from .changes import ChangeFeed
from .group_commit import GroupCommit
from .ports import Clock, EgressGateway, EgressLedger
from .threads import in_thread

log = logging.getLogger(__name__)

LOST = "LiveKit no longer knows this egress (its worker or server may have restarted)"
# A start call's egress carries a `started_at` from LiveKit's clock; allow for skew between the clocks.
_CLOCK_SKEW = timedelta(seconds=30)


@dataclass(frozen=True)
class EgressView:
    record: EgressRecord
    events: list[EgressEvent]


class EgressLedgerService:
    """Starts and steers egresses through LiveKit and keeps the ledger exact.

    Every ledger write it makes is published to the change feed (`ChangeFeed.applied`) once committed.
    """

    def __init__(
        self,
        repo: EgressLedger,
        gateway: EgressGateway,
        clock: Clock,
        changes: ChangeFeed,
        *,
        start_attempts: int = 3,
        retry_backoff_s: float = 1.0,
        can_record: bool = True,
    ) -> None:
        self._repo, self._gateway, self._now, self._changes = repo, gateway, clock, changes
        self._can_record = can_record  # False: no S3 and no volume shared with egress; file outputs are refused
        self._attempts, self._backoff = start_attempts, retry_backoff_s
        # LiveKit's answers to start calls made together (a burst of rooms) are stored together.
        self._answers = GroupCommit(repo.observe_answers, "start-answers")

    async def aclose(self) -> None:
        await self._answers.aclose()

    # ---- queries -----------------------------------------------------------------------------

    def get(self, ref: str) -> EgressRecord:
        record = self._repo.get(ref)
        if record is None:
            raise NotFound(f"no egress with id {ref!r}")
        return record

    def view(self, ref: str) -> EgressView:
        record = self.get(ref)
        return EgressView(record, self._repo.history(record.id))

    # ---- start -------------------------------------------------------------------------------

    async def start(self, request: EgressRequest, *, actor: str) -> EgressRecord:
        """Start one egress, exactly once (`actor`: who asked, as the history records it).

        The row is written before LiveKit is called, so nothing is lost if we crash mid-call.
        On a timeout or an unavailable LiveKit the call may still have started an egress, so
        before any retry we list the room's egresses and adopt the one our request made.
        """
        require_storage_for(request, self._can_record, "outputs")
        [record] = await in_thread(self.prepare, [request], actor=actor)
        return await self.launch(record, request)

    def prepare(self, requests: list[EgressRequest], *, actor: str = SYSTEM.name) -> list[EgressRecord]:
        """Validate and write the ledger rows (one transaction) before any call leaves for LiveKit."""
        records = [self.new_record(request) for request in requests]
        self._repo.create_many(records, detail=START_REQUESTED, actor=actor)
        return records

    def new_record(self, request: EgressRequest, pk: str | None = None, now: datetime | None = None) -> EgressRecord:
        """The ledger row of a start about to be made (validated; not written: see `prepare`)."""
        validate(request)
        now = now or self._now()
        return EgressRecord(
            id=pk or new_egress_pk(), egress_id=None, kind=request.kind, room_name=request.room_name,
            status=EgressStatus.STARTING, origin=Origin.API, created_at=now, updated_at=now,
            request=request.redacted(), fingerprint=request.fingerprint(),
        )

    async def launch(self, record: EgressRecord, request: EgressRequest) -> EgressRecord:
        """The start call for a prepared row; on failure the row is failed with LiveKit's reason."""
        try:
            observation, recovered = await self._start_once(record, request)
        except LiveKitRejected as exc:
            await self.fail(record.id, ChangeSource.API, f"LiveKit refused the start: {exc.message}",
                            exc.http_status)
            raise
        except LiveKitUnavailable as exc:
            await self.fail(record.id, ChangeSource.API, f"could not start: {exc.message}", 503)
            raise
        detail = (f"the start call did not complete, but LiveKit had started {observation.egress_id}: adopted"
                  if recovered else f"LiveKit accepted the start as {observation.egress_id}")
        applied = self._changes.applied(await self._answers((observation, self._now(), record.id, detail)))
        assert applied.record is not None
        return applied.record

    async def _start_once(self, record: EgressRecord, request: EgressRequest) -> tuple[Observation, bool]:
        """Up to `start_attempts` calls while LiveKit is unavailable, backing off between them (the one
        policy, `backoff_s`); before each retry, the egress an earlier call may have made is looked for."""
        attempt = 1
        while True:
            if attempt > 1:
                found = await self._find_started(record)  # an earlier attempt may have started it after all
                if found is not None:
                    return found, True
            try:
                return await self._gateway.start(request), False
            except LiveKitUnavailable:
                log.warning("start of %s did not complete; checking whether it started anyway", record.id)
                found = await self._find_started(record)
                if found is not None:
                    return found, True
                if attempt >= self._attempts:
                    raise
            await asyncio.sleep(backoff_s(attempt, self._backoff, 10 * max(self._backoff, 0.1)))
            attempt += 1

    async def recover_start(self, record: EgressRecord) -> bool:
        """For a row whose start call never answered: bind it to the egress that call made, if any."""
        found = await self._find_started(record)
        if found is None:
            return False
        await self.fold(found, ChangeSource.RECONCILE, bind_to=record.id,
                        detail=f"the start call never answered; LiveKit had started {found.egress_id}: adopted")
        return True

    async def _find_started(self, record: EgressRecord) -> Observation | None:
        """The egress our own earlier start call made, if LiveKit has it."""
        if not record.room_name:
            return None
        try:
            candidates = await self._gateway.list_egresses(room_name=record.room_name, active=True)
        except LiveKitUnavailable:
            return None
        for obs in sorted(candidates, key=lambda o: o.updated_at_ns):
            if obs.fingerprint != record.fingerprint:
                continue
            if obs.started_at and obs.started_at < record.created_at - _CLOCK_SKEW:
                continue
            owner = await in_thread(self._repo.get, obs.egress_id)
            if owner is not None and owner.origin == Origin.API and owner.id != record.id:
                continue  # another of our own requests made that one
            log.info("adopting %s for %s: the start call failed but LiveKit started it",
                     obs.egress_id, record.id)
            return obs
        return None

    # ---- stop and update ---------------------------------------------------------------------

    async def stop(self, ref: str, *, actor: str) -> EgressRecord:
        """Ask LiveKit to stop the egress (`actor`: who asked)."""
        record = await in_thread(self.get, ref)
        if record.status.terminal:
            return record
        if record.egress_id is None:
            raise Conflict(f"egress {record.id} is still being started; try again in a moment")
        try:
            obs = await self._gateway.stop(record.egress_id)
        except EgressAlreadyEnded:
            return await self.refresh(record, ChangeSource.API, actor=actor)
        except EgressUnknownToLiveKit:
            return await self._lost(record, ChangeSource.API, actor=actor)
        applied = await self.fold(obs, ChangeSource.API, detail="stop requested", actor=actor)
        assert applied.record is not None
        return applied.record

    async def update(
        self, ref: str, *, layout: str | None = None, add_stream_urls: list[str] | None = None,
        remove_stream_urls: list[str] | None = None, actor: str,
    ) -> EgressRecord:
        """Change the layout or the RTMP destinations of a running egress (`actor`: who asked)."""
        record = await in_thread(self.get, ref)
        if record.status.terminal:
            raise Conflict(f"egress {record.id} has ended ({record.status.value}); it cannot be changed")
        if record.egress_id is None:
            raise Conflict(f"egress {record.id} is still being started; try again in a moment")
        add = [check_stream_url(u, f"add_stream_urls.{i}") for i, u in enumerate(add_stream_urls or [])]
        remove = [check_stream_url(u, f"remove_stream_urls.{i}")
                  for i, u in enumerate(remove_stream_urls or [])]
        if layout is None and not add and not remove:
            raise InvalidInput("layout", "nothing to change: give layout, add_stream_urls or remove_stream_urls")
        obs = None
        try:
            if layout is not None:
                obs = await self._gateway.update_layout(record.egress_id, layout)
            if add or remove:
                obs = await self._gateway.update_stream(record.egress_id, add, remove)
        except EgressUnknownToLiveKit:
            return await self._lost(record, ChangeSource.API, actor=actor)
        except EgressAlreadyEnded:
            await self.refresh(record, ChangeSource.API, actor=actor)
            raise
        assert obs is not None
        applied = await self.fold(obs, ChangeSource.API, detail="update requested", actor=actor)
        assert applied.record is not None
        return applied.record

    async def refresh(self, record: EgressRecord, source: ChangeSource, *, actor: str = SYSTEM.name) -> EgressRecord:
        """Ask LiveKit for the egress's current state and fold it in."""
        assert record.egress_id is not None
        try:
            found = await self._gateway.list_egresses(egress_id=record.egress_id)
        except EgressUnknownToLiveKit:
            return await self._lost(record, source, actor=actor)
        if not found:
            return await self._lost(record, source, actor=actor)
        applied = await self.fold(found[0], source, actor=actor)
        return applied.record or record

    async def _lost(self, record: EgressRecord, source: ChangeSource, *, actor: str) -> EgressRecord:
        applied = await self.fail(record.id, source, LOST, 404, actor=actor)
        return applied.record or record

    # ---- ledger writes (each published once committed) -------------------------------------

    async def fold(self, obs: Observation, source: ChangeSource, *, bind_to: str | None = None,
                   detail: str = "", actor: str = SYSTEM.name) -> Applied:
        """Fold one report from LiveKit into the ledger (adopting an egress never seen before)."""
        return self._changes.applied(await in_thread(
            self._repo.observe, obs, source, self._now(), bind_to=bind_to, detail=detail, actor=actor))

    async def fail(self, pk: str, source: ChangeSource, error: str, error_code: int, *,
                   actor: str = SYSTEM.name) -> Applied:
        """Fail an egress for a reason the service decides (a refused start, a deadline, an egress LiveKit lost)."""
        return self._changes.applied(await in_thread(
            self._repo.force_status, pk, EgressStatus.FAILED, source, self._now(), error=error,
            error_code=error_code, actor=actor))

    # ---- background helpers ------------------------------------------------------------------

    async def stop_quietly(self, ref: str) -> None:
        """Stop by our id or LiveKit's; failures are only logged (the reconciler follows up)."""
        record = await in_thread(self._repo.get, ref)
        egress_id = record.egress_id if record is not None else ref
        if not egress_id:
            return
        try:
            obs = await self._gateway.stop(egress_id)
        except (LiveKitRejected, LiveKitUnavailable) as exc:
            log.info("stop of %s: %s", egress_id, exc.message)
            return
        if record is not None:
            await self.fold(obs, ChangeSource.API, detail="stop requested")

