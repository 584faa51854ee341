"""The reconciler: compares the ledger with what LiveKit reports and repairs the difference."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from orchestrator.domain.egress import (
    ChangeSource,
    EgressRecord,
    Observation,
    Outcome,
    past_start_deadline,
    start_deadline_reason,
)
from orchestrator.domain.errors import EgressUnknownToLiveKit, LiveKitUnavailable

from .egresses import LOST, EgressLedgerService
from .ports import Clock, EgressGateway, EgressLedger
from .threads import in_thread

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    checked: int = 0
    repaired: int = 0
    lost: int = 0
    deadline: int = 0
    adopted: int = 0
    errors: list[str] = field(default_factory=list)


class Reconciler:
    """Repairs missed webhooks, egresses LiveKit lost, and egresses stuck in `starting`.

    Reads the ledger itself; writes through the egress service (which publishes each change).
    `on_run` and `on_repair(kind)` are told of each pass and each repair (metrics).
    """

    def __init__(
        self,
        repo: EgressLedger,
        gateway: EgressGateway,
        egresses: EgressLedgerService,
        clock: Clock,
        *,
        start_deadline: timedelta,
        on_run: Callable[[], None] | None = None,
        on_repair: Callable[[str], None] | None = None,
    ) -> None:
        self._repo, self._gateway, self._egresses, self._now = repo, gateway, egresses, clock
        self._deadline = start_deadline
        self._on_run, self._on_repair = on_run, on_repair

    async def run_once(self) -> ReconcileReport:
        report = ReconcileReport()
        if self._on_run:
            self._on_run()
        try:
            # Only the running ones in bulk; an unfinished ledger row LiveKit no longer lists as active
            # is then looked up by id (few per pass: the ones that ended since the last pass).
            known = {o.egress_id: o for o in await self._gateway.list_egresses(active=True)}
        except LiveKitUnavailable as exc:
            report.errors.append(exc.message)
            log.warning("reconcile skipped: %s", exc.message)
            return report
        ledger = await in_thread(self._repo.unfinished)
        for record in ledger:
            report.checked += 1
            await self._reconcile_one(record, known, report)
        # Egresses LiveKit runs that the ledger has never heard of (their webhooks were lost).
        for obs in known.values():
            if not obs.status.terminal and await in_thread(self._repo.get, obs.egress_id) is None:
                applied = await self._egresses.fold(obs, ChangeSource.RECONCILE,
                                                    detail="adopted by the reconciler: no webhook was received")
                if applied.outcome == Outcome.CREATED:
                    report.adopted += 1
                    self._count("adopted")
        return report

    async def _reconcile_one(
        self, record: EgressRecord, known: dict[str, Observation], report: ReconcileReport
    ) -> None:
        now = self._now()
        if record.egress_id is None:
            # Our start call never came back (the service may have stopped mid-call). Long after any
            # start call could still be running, look for the egress it may have made, else fail it.
            if now - record.created_at >= self._deadline:
                if await self._egresses.recover_start(record):
                    report.repaired += 1
                    self._count("start_recovered")
                    return
                await self._egresses.fail(record.id, ChangeSource.RECONCILE,
                                          "the start call never completed and LiveKit shows no such egress", 503)
                report.repaired += 1
                self._count("start_never_completed")
            return
        obs = known.get(record.egress_id)
        if obs is None:
            try:
                found = await self._gateway.list_egresses(egress_id=record.egress_id)
                obs = found[0] if found else None
            except EgressUnknownToLiveKit:
                obs = None
            except LiveKitUnavailable as exc:
                report.errors.append(exc.message)
                return
        if obs is None:
            await self._egresses.fail(record.id, ChangeSource.RECONCILE, LOST, 404)
            report.lost += 1
            self._count("lost")
            return
        applied = await self._egresses.fold(obs, ChangeSource.RECONCILE,
                                            detail=f"reconcile: LiveKit reports {obs.status.value}")
        if applied.outcome in (Outcome.APPLIED, Outcome.REFRESHED) and applied.status_changed:
            report.repaired += 1
            self._count("missed_update")
        current = applied.record or record
        if past_start_deadline(current.status, current.created_at, now, self._deadline):
            reason = start_deadline_reason(self._deadline)
            await self._egresses.fail(current.id, ChangeSource.RECONCILE, reason, 408)
            await self._egresses.stop_quietly(record.egress_id)
            report.deadline += 1
            self._count("start_deadline")
            log.warning("egress %s (%s) %s", current.id, record.egress_id, reason)

    def _count(self, kind: str) -> None:
        if self._on_repair:
            self._on_repair(kind)
