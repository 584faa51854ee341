"""The egress and auto-record services wired on the in-memory fakes and a fake clock, for the service tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from orchestrator.adapters.memory import (
    FakeClock,
    FakeLiveKit,
    MemoryDatabase,
    MemoryEgressLedger,
    MemoryRuleStore,
    MemorySessionStore,
    MemoryWebhookIntakeStore,
)
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.requests import S3Target
from orchestrator.services.autorecord import AutoRecorder, AutoRecordSettings
from orchestrator.services.changes import ChangeFeed, EgressChange
from orchestrator.services.egresses import EgressLedgerService
from orchestrator.services.intake import Ingested, WebhookIntake
from orchestrator.services.reconcile import Reconciler

# Writers that wait on their queues for as long as the service runs: never awaited by `settle`.
_WRITERS = frozenset({"webhook-writer", "start-answers", "claim-binding"})


@dataclass
class World:
    clock: FakeClock
    livekit: FakeLiveKit
    ledger: MemoryEgressLedger
    sessions: MemorySessionStore
    rules: MemoryRuleStore
    changes: ChangeFeed
    egresses: EgressLedgerService
    reconciler: Reconciler
    recorder: AutoRecorder
    intake: WebhookIntake
    heard: list[EgressChange]

    async def deliver(self) -> list[Ingested]:
        """Every webhook FakeLiveKit has queued, submitted at once (one batch, as a burst arrives), then settle."""
        answers = await asyncio.gather(*(self.intake.submit(n) for n in self.livekit.take_notices()))
        await settle()
        return list(answers)

    async def submit(self, *notices: WebhookNotice) -> list[Ingested]:
        answers = await asyncio.gather(*(self.intake.submit(n) for n in notices))
        await settle()
        return list(answers)

    async def aclose(self) -> None:
        await self.intake.aclose()
        await self.recorder.aclose()
        await self.egresses.aclose()


async def settle() -> None:
    """Wait until every task the services spawned (start calls, change handlers, answers) has finished."""
    current = asyncio.current_task()
    while True:
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()
                   and t.get_name() not in _WRITERS]
        if not pending:
            return
        await asyncio.wait(pending)


def build_world(*, record_all: bool = False, start_attempts: int = 3, max_attempts: int = 5,
                can_record: bool = True) -> World:
    """The services on the fakes; `can_record=False`: a real LiveKit and no storage (files are refused)."""
    db = MemoryDatabase()
    clock = FakeClock()
    livekit = FakeLiveKit(clock)
    ledger, sessions, rules = MemoryEgressLedger(db), MemorySessionStore(db), MemoryRuleStore(db)
    changes = ChangeFeed()
    changes.bind(asyncio.get_running_loop())
    heard: list[EgressChange] = []

    async def hear(change: EgressChange) -> None:
        heard.append(change)

    changes.on_egress_change(hear)
    egresses = EgressLedgerService(ledger, livekit, clock, changes, start_attempts=start_attempts,
                                   retry_backoff_s=0.0, can_record=can_record)
    reconciler = Reconciler(ledger, livekit, egresses, clock, start_deadline=timedelta(seconds=60))
    recorder = AutoRecorder(rules, sessions, ledger, egresses, livekit, clock, AutoRecordSettings(
        storage=S3Target(bucket="recordings", region="us-east-1"), public_url="http://orchestrator.test",
        record_all=record_all, cap=timedelta(minutes=10), rollover_margin=timedelta(seconds=30),
        retry_base=timedelta(seconds=5), max_attempts=max_attempts, lease=timedelta(seconds=180),
        can_record=can_record))
    changes.on_notice(recorder.on_notice)
    changes.on_egress_change(recorder.on_egress_change)
    intake = WebhookIntake(MemoryWebhookIntakeStore(db), changes, clock, recorder.intake)
    return World(clock, livekit, ledger, sessions, rules, changes, egresses, reconciler, recorder, intake, heard)
