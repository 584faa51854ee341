"""The broadcast service wired on the in-memory fakes, a fake clock and a manual timer, for the service tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from orchestrator.adapters.memory import FakeClock, FakeLiveKit, ManualTimer, MemoryDatabase, MemoryEgressLedger
from orchestrator.adapters.memory.broadcasts import MemoryBroadcastStore
from orchestrator.domain.broadcasts import BroadcastRun, BroadcastSpec, Destination, ProbeResult, RunStatus
from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.domain.egress import ChangeSource, EgressRecord, EgressStatus
from orchestrator.domain.runs import BroadcastPolicy
from orchestrator.services.broadcasts import BroadcastService
from orchestrator.services.changes import ChangeFeed
from orchestrator.services.egresses import EgressLedgerService

from .world import settle

DEST = Destination("rtmp", "rtmp://ingest.example.com/live/stream-key-0123")


@dataclass
class ScriptedProbe:
    """The RtmpProbe port: every ingest answers, except those in `refused`."""

    refused: set[str] = field(default_factory=set)

    async def probe(self, url: str) -> ProbeResult:
        if url in self.refused:
            return ProbeResult(False, "connection refused", 1.0)
        return ProbeResult(True, "completed the RTMP handshake", 1.0)


@dataclass
class Replica:
    """One service process: its own timer and instance name, on the shared database and LiveKit."""

    name: str
    timer: ManualTimer
    service: BroadcastService


@dataclass
class BroadcastWorld:
    clock: FakeClock
    livekit: FakeLiveKit
    ledger: MemoryEgressLedger
    store: MemoryBroadcastStore
    changes: ChangeFeed
    egresses: EgressLedgerService
    policy: BroadcastPolicy
    replicas: list[Replica] = field(default_factory=list)
    announced: list[tuple[CallbackEventType, str]] = field(default_factory=list)
    announced_data: list[dict[str, object]] = field(default_factory=list)  # each announcement's data, in order
    probe: ScriptedProbe = field(default_factory=ScriptedProbe)

    @property
    def service(self) -> BroadcastService:
        return self.replicas[0].service

    @property
    def timer(self) -> ManualTimer:
        return self.replicas[0].timer

    def replica(self, name: str) -> Replica:
        """Another process on the same database (a replica, or this one after a restart)."""
        timer = ManualTimer(self.clock)

        async def announce(kind: CallbackEventType, subject: str, data: dict[str, object],
                           urls: tuple[str, ...]) -> None:
            self.announced.append((kind, subject))
            self.announced_data.append(data)

        service = BroadcastService(self.store, self.ledger, self.egresses, self.livekit, self.clock, timer,
                                   self.probe, instance=name, public_url="http://orchestrator.test",
                                   storage=None, policy=self.policy, announce=announce)
        self.changes.on_egress_change(service.on_egress_change)
        self.replicas.append(Replica(name, timer, service))
        return self.replicas[-1]

    def spec(self, **changes: object) -> BroadcastSpec:
        values: dict[str, object] = {"room_name": "studio", "destinations": (DEST,), "layout": "grid",
                                     "max_duration_s": 3600}
        values.update(changes)
        return BroadcastSpec(**values)  # type: ignore[arg-type]

    def only_run(self, broadcast_id: str) -> BroadcastRun:
        [run] = self.store.runs_of(broadcast_id)
        return run

    def egress(self, run: BroadcastRun) -> EgressRecord:
        assert run.egress_pk is not None
        record = self.ledger.get(run.egress_pk)
        assert record is not None and record.egress_id is not None
        return record

    async def report(self, egress_id: str, status: EgressStatus, *, error: str = "") -> None:
        """LiveKit moves an egress along and its webhook is folded into the ledger (the change feed does the rest)."""
        if status == EgressStatus.ACTIVE:
            obs = self.livekit.activate(egress_id)
        else:
            obs = self.livekit.end(egress_id, status, error=error)
        await self.egresses.fold(obs, ChangeSource.WEBHOOK)
        await settle()

    async def advance(self, seconds: float, replica: Replica | None = None) -> list[str]:
        """Time passes; the replica's timer jobs run at their own moments. Returns the keys run."""
        ran = await (replica or self.replicas[0]).timer.advance(seconds)
        await settle()
        return ran

    async def aclose(self) -> None:
        await settle()
        await self.egresses.aclose()


def build_broadcast_world(**policy: object) -> BroadcastWorld:
    clock = FakeClock()
    livekit = FakeLiveKit(clock)
    ledger = MemoryEgressLedger(MemoryDatabase())
    changes = ChangeFeed()
    changes.bind(asyncio.get_running_loop())
    egresses = EgressLedgerService(ledger, livekit, clock, changes, start_attempts=1, retry_backoff_s=0.0)
    values: dict[str, object] = {"preflight_lead": timedelta(0)}
    values.update(policy)
    world = BroadcastWorld(clock, livekit, ledger, MemoryBroadcastStore(), changes, egresses,
                           BroadcastPolicy(**values))  # type: ignore[arg-type]
    world.replica("replica-1")
    return world


def statuses(world: BroadcastWorld, run_id: str) -> list[RunStatus]:
    """The run's statuses in order, each once (its history without the notes)."""
    out: list[RunStatus] = []
    for event in world.store.events(run_id):
        if not out or out[-1] != event.status_after:
            out.append(event.status_after)
    return out
