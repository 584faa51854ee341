"""The recordings and callback services wired on the in-memory fakes and a fake clock, for the service tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.adapters.memory.clock import FakeClock
from orchestrator.adapters.memory.database import MemoryDatabase
from orchestrator.adapters.memory.ledger import MemoryEgressLedger
from orchestrator.adapters.memory.objects import MemoryObjectStore
from orchestrator.adapters.memory.outbox import FakeCallbackSender, MemoryCallbackOutbox
from orchestrator.adapters.memory.recordings import MemoryRecordingStore
from orchestrator.domain.egress import (
    ChangeSource,
    EgressRecord,
    EgressStatus,
    FileResult,
    Observation,
    Results,
    SegmentResult,
)
from orchestrator.services.callbacks import CallbackService
from orchestrator.services.changes import EgressChange
from orchestrator.services.recordings import RecordingService

BUCKET = "recordings"
HOOK = "https://app.example/hook"
SECRET = "callback-secret"
LINK_KEY = b"k" * 32


@dataclass
class Recordings:
    clock: FakeClock
    ledger: MemoryEgressLedger
    store: MemoryRecordingStore
    outbox: MemoryCallbackOutbox
    sender: FakeCallbackSender
    callbacks: CallbackService
    s3: MemoryObjectStore
    volume: MemoryObjectStore
    service: RecordingService

    def ended(self, egress_id: str, *, status: EgressStatus = EgressStatus.COMPLETE,
              files: dict[str, int] | None = None, location: str = "", ended: datetime | None = None,
              segments: tuple[SegmentResult, ...] = ()) -> EgressRecord:
        """An egress LiveKit reports ended, with one file result per (key, size): in the ledger, not announced."""
        ended = ended or self.clock()
        results = Results(
            files=tuple(FileResult(filename=key, location=location or f"https://s3.example/{BUCKET}/{key}",
                                   size_bytes=size, duration_s=1.0, ended_at=ended)
                        for key, size in (files or {}).items()),
            segments=segments)
        report = Observation(egress_id=egress_id, status=status, room_name="standup", room_id="RM_standup",
                             started_at=ended - timedelta(minutes=1), ended_at=ended, updated_at_ns=1,
                             results=results, error="no worker" if status == EgressStatus.FAILED else "")
        applied = self.ledger.observe(report, ChangeSource.WEBHOOK, self.clock())
        assert applied.record is not None
        return applied.record

    async def announce(self, record: EgressRecord) -> None:
        """What the change feed does when the egress ends."""
        await self.service.on_egress_change(EgressChange(record, EgressStatus.ACTIVE))


def build(*, retention_days: float | None = 7, volume_root: Path = Path("/volume")) -> Recordings:
    clock = FakeClock()
    db = MemoryDatabase()
    ledger = MemoryEgressLedger(db)
    outbox = MemoryCallbackOutbox()
    store = MemoryRecordingStore(outbox, db)
    sender = FakeCallbackSender()
    callbacks = CallbackService(outbox, sender, clock, urls=[HOOK], secret=SECRET, backoff_s=1.0,
                                window=timedelta(hours=24), lease=timedelta(seconds=60))
    s3, volume = MemoryObjectStore(), MemoryObjectStore(volume_root)
    service = RecordingService(store, ledger, callbacks, clock, s3=lambda: s3, local=volume, default_bucket=BUCKET,
                               public_url="https://orchestrator.example/", link_key=LINK_KEY,
                               link_expiry_s=3600, retention_days=retention_days)
    return Recordings(clock, ledger, store, outbox, sender, callbacks, s3, volume, service)


@pytest.fixture
def rec() -> Iterator[Recordings]:
    yield build()
