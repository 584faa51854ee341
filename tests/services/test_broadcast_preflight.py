"""The automatic preflight on the fakes: a failure shows on the run and is announced; required, it fails the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from orchestrator.domain.broadcasts import RunEventKind, RunStatus
from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.domain.sessions import TrackSnapshot

from .broadcast_world import DEST, BroadcastWorld, build_broadcast_world

LEAD = timedelta(minutes=3)


@pytest.fixture
async def world() -> AsyncIterator[BroadcastWorld]:
    w = build_broadcast_world(preflight_lead=LEAD)
    w.livekit.add_room("studio")
    w.livekit.join("studio", "host", tracks=(TrackSnapshot("TR_cam", "VIDEO"),))
    yield w
    await w.aclose()


async def test_a_required_preflight_that_fails_fails_the_run_with_the_reasons(world: BroadcastWorld) -> None:
    world.probe.refused.add(DEST.url)
    b = await world.service.create(world.spec(start_at=world.clock() + timedelta(minutes=10), max_duration_s=600,
                                              require_preflight=True), actor="tester")
    run = world.only_run(b.id)
    await world.advance((timedelta(minutes=10) - LEAD).total_seconds())  # the preflight's moment
    run = world.only_run(b.id)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("preflight failed:") and "connection refused" in run.error
    assert DEST.url not in run.error  # the stream key stays out of the reasons
    kinds = [e.kind for e in world.store.events(run.id)]
    assert kinds == [RunEventKind.SCHEDULED, RunEventKind.PREFLIGHT_FAILED, RunEventKind.FAILED]
    assert world.announced == [(CallbackEventType.BROADCAST_PREFLIGHT_FAILED, run.id),
                               (CallbackEventType.BROADCAST_FAILED, run.id)]
    data = world.announced_data[0]
    assert data["status"] == "failed" and data["require_preflight"] is True
    assert any("connection refused" in str(r) for r in data["reasons"])  # type: ignore[attr-defined]
    await world.advance(LEAD.total_seconds() + 60)  # past the planned start: nothing starts
    assert world.livekit.started == [] and world.only_run(b.id).status == RunStatus.FAILED


async def test_a_failed_preflight_not_required_is_shown_and_announced_and_the_run_starts(world: BroadcastWorld) -> None:
    world.probe.refused.add(DEST.url)
    b = await world.service.create(world.spec(start_at=world.clock() + timedelta(minutes=10), max_duration_s=600),
        actor="tester")
    await world.advance((timedelta(minutes=10) - LEAD).total_seconds())
    run = world.only_run(b.id)
    assert run.status == RunStatus.SCHEDULED and run.preflight is not None
    [noted] = [e for e in world.store.events(run.id) if e.kind == RunEventKind.PREFLIGHT_FAILED]
    assert noted.detail.startswith("preflight: 2/3 checks passed; failed: destination")
    assert world.announced == [(CallbackEventType.BROADCAST_PREFLIGHT_FAILED, run.id)]
    assert world.announced_data[0]["require_preflight"] is False
    await world.advance(LEAD.total_seconds())
    assert len(world.livekit.started) == 1 and world.only_run(b.id).status == RunStatus.STARTING


async def test_a_preflight_that_passes_is_noted_and_announces_nothing(world: BroadcastWorld) -> None:
    b = await world.service.create(world.spec(start_at=world.clock() + timedelta(minutes=10), max_duration_s=600,
                                              require_preflight=True), actor="tester")
    await world.advance((timedelta(minutes=10) - LEAD).total_seconds())
    run = world.only_run(b.id)
    assert run.status == RunStatus.SCHEDULED
    assert [e.kind for e in world.store.events(run.id)] == [RunEventKind.SCHEDULED, RunEventKind.PREFLIGHT]
    assert world.announced == []
    await world.advance(LEAD.total_seconds())
    assert len(world.livekit.started) == 1


# ---- a run with no recent preflight is checked as it starts (created late, started now or by hand) --------


async def test_started_now_with_a_required_preflight_that_fails_fails_instead_of_starting(world: BroadcastWorld
                                                                                         ) -> None:
    world.probe.refused.add(DEST.url)
    # no start_at: now
    b = await world.service.create(world.spec(max_duration_s=600, require_preflight=True), actor="tester")
    await world.advance(0)
    run = world.only_run(b.id)
    assert run.status == RunStatus.FAILED and world.livekit.started == [] and run.egress_pk is None
    assert run.error.startswith("preflight failed:") and "connection refused" in run.error
    assert DEST.url not in run.error
    kinds = [e.kind for e in world.store.events(run.id)]
    assert kinds == [RunEventKind.SCHEDULED, RunEventKind.CLAIMED, RunEventKind.PREFLIGHT_FAILED,
                     RunEventKind.FAILED]
    assert world.announced == [(CallbackEventType.BROADCAST_PREFLIGHT_FAILED, run.id),
                               (CallbackEventType.BROADCAST_FAILED, run.id)]
    assert world.announced_data[0]["require_preflight"] is True
    assert any("connection refused" in str(r) for r in world.announced_data[0]["reasons"])  # type: ignore[attr-defined]
    assert world.ledger.find() == [] and world.store.egresses(run.id) == []  # no egress row either


async def test_started_now_with_a_required_preflight_that_passes_starts(world: BroadcastWorld) -> None:
    b = await world.service.create(world.spec(max_duration_s=600, require_preflight=True), actor="tester")
    await world.advance(0)
    run = world.only_run(b.id)
    assert run.status == RunStatus.STARTING and len(world.livekit.started) == 1
    kinds = [e.kind for e in world.store.events(run.id)]
    assert kinds[:3] == [RunEventKind.SCHEDULED, RunEventKind.CLAIMED, RunEventKind.PREFLIGHT]
    assert run.preflight is not None and world.announced == []


async def test_started_by_hand_long_after_its_preflight_is_checked_again(world: BroadcastWorld) -> None:
    b = await world.service.create(world.spec(start_at=world.clock() + timedelta(hours=1), max_duration_s=600,
                                              require_preflight=True), actor="tester")
    await world.service.preflight(b.id)  # passes now; an hour later it is stale
    world.probe.refused.add(DEST.url)
    await world.advance(LEAD.total_seconds() * 2)
    run = await world.service.start_now(b.id, actor="tester")
    assert run.status == RunStatus.FAILED and world.livekit.started == []
    kinds = [e.kind for e in world.store.events(run.id)]
    assert kinds[-3:] == [RunEventKind.STARTED_BY_HAND, RunEventKind.PREFLIGHT_FAILED, RunEventKind.FAILED]


async def test_a_recent_passed_preflight_is_not_made_again_at_the_start(world: BroadcastWorld) -> None:
    b = await world.service.create(world.spec(start_at=world.clock() + timedelta(minutes=10), max_duration_s=600,
                                              require_preflight=True), actor="tester")
    await world.advance(timedelta(minutes=10).total_seconds())
    run = world.only_run(b.id)
    assert run.status == RunStatus.STARTING and len(world.livekit.started) == 1
    kinds = [e.kind for e in world.store.events(run.id)]
    assert kinds.count(RunEventKind.PREFLIGHT) == 1 and kinds.index(RunEventKind.PREFLIGHT) < kinds.index(
        RunEventKind.CLAIMED)


async def test_without_require_preflight_a_start_now_is_not_checked(world: BroadcastWorld) -> None:
    world.probe.refused.add(DEST.url)
    b = await world.service.create(world.spec(max_duration_s=600), actor="tester")
    await world.advance(0)
    run = world.only_run(b.id)
    assert run.status == RunStatus.STARTING and run.preflight is None and world.announced == []
