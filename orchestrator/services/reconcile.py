"""The reconciler: compares the ledger with what LiveKit reports and repairs the difference."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from orchestrator.adapters.sql.egress_repository import SqlEgressRepository
from orchestrator.domain.egress import (
    ChangeSource,
    EgressRecord,
    EgressStatus,
    Observation,
    Outcome,
    past_start_deadline,
    start_deadline_reason,
)
from orchestrator.domain.errors import EgressUnknownToLiveKit, LiveKitUnavailable
from orchestrator.metrics import Metrics

from .egresses import EgressLedgerService
from .ports import Clock, EgressGateway

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
    """Repairs missed webhooks, egresses LiveKit lost, and egresses stuck in `starting`."""

    def __init__(
        self,
        repo: SqlEgressRepository,
        gateway: EgressGateway,
        egresses: EgressLedgerService,
        clock: Clock,
        *,
        start_deadline: timedelta,
        metrics: Metrics | None = None,
    ) -> None:
        self._repo, self._gateway, self._egresses, self._now = repo, gateway, egresses, clock
        self._deadline = start_deadline
        self._metrics = metrics

    async def run_once(self) -> ReconcileReport:
        report = ReconcileReport()
        if self._metrics:
            self._metrics.reconcile_runs.inc()
        try:
            # Only the running ones in bulk; an unfinished ledger row LiveKit no longer lists as active
            # is then looked up by id (few per pass: the ones that ended since the last pass).
            known = {o.egress_id: o for o in await self._gateway.list_egresses(active=True)}
        except LiveKitUnavailable as exc:
            report.errors.append(exc.message)
            log.warning("reconcile skipped: %s", exc.message)
            return report
        ledger = await run_in_threadpool(self._repo.unfinished)
        for record in ledger:
            report.checked += 1
            await self._reconcile_one(record, known, report)
        # Egresses LiveKit runs that the ledger has never heard of (their webhooks were lost).
        for obs in known.values():
            if not obs.status.terminal and await run_in_threadpool(self._repo.get, obs.egress_id) is None:
                applied = await run_in_threadpool(self._repo.observe, obs, ChangeSource.RECONCILE, self._now(),
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
                await run_in_threadpool(
                    self._repo.force_status, record.id, EgressStatus.FAILED, ChangeSource.RECONCILE, now,
                    error="the start call never completed and LiveKit shows no such egress", error_code=503)
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
            await run_in_threadpool(
                self._repo.force_status, record.id, EgressStatus.FAILED, ChangeSource.RECONCILE, now,
                error="LiveKit no longer knows this egress (its worker or server may have restarted)",
                error_code=404)
            report.lost += 1
            self._count("lost")
            return
        applied = await run_in_threadpool(self._repo.observe, obs, ChangeSource.RECONCILE, now,
                                          detail=f"reconcile: LiveKit reports {obs.status.value}")
        if applied.outcome in (Outcome.APPLIED, Outcome.REFRESHED) and applied.status_changed:
            report.repaired += 1
            self._count("missed_update")
        current = applied.record or record
        if past_start_deadline(current.status, current.created_at, now, self._deadline):
            reason = start_deadline_reason(self._deadline)
            await run_in_threadpool(self._repo.force_status, current.id, EgressStatus.FAILED, ChangeSource.RECONCILE,
                                    now, error=reason, error_code=408)
            await self._egresses.stop_quietly(record.egress_id)
            report.deadline += 1
            self._count("start_deadline")
            log.warning("egress %s (%s) %s", current.id, record.egress_id, reason)

    def _count(self, kind: str) -> None:
        if self._metrics:
            self._metrics.reconcile_repairs.labels(kind).inc()
