"""Broadcast runs on the fakes and a fake clock: claimed once, live, ended; healed; rolled over; missed; waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from orchestrator.domain.broadcasts import BroadcastState, LaunchReason, RunEventKind, RunStatus
from orchestrator.domain.callbacks import CallbackEventType
from orchestrator.domain.egress import EgressStatus
from orchestrator.domain.runs import MISSED_ERROR, WAITING_FOR_PUBLISHER
from orchestrator.domain.sessions import TrackSnapshot

from .broadcast_world import BroadcastWorld, build_broadcast_world, statuses


@pytest.fixture
async def world() -> AsyncIterator[BroadcastWorld]:
    w = build_broadcast_world(heal_attempts=2, heal_base_s=1.0, misfire_grace=timedelta(minutes=5),
                              rollover_after=timedelta(minutes=30))
    w.livekit.add_room("studio")
    w.livekit.join("studio", "host", tracks=(TrackSnapshot("TR_cam", "VIDEO"),))
    yield w
    await w.aclose()


async def test_a_scheduled_run_is_claimed_once_goes_live_and_ends_at_its_planned_end(world: BroadcastWorld) -> None:
    other = world.replica("replica-2")  # a second process on the same database, with its own timer
    start = world.clock() + timedelta(minutes=1)
    b = await world.service.create(world.spec(start_at=start, max_duration_s=600), actor="tester")
    run = world.only_run(b.id)
    assert run.status == RunStatus.SCHEDULED and f"end:{run.id}" in world.timer.pending()
    await other.service.rebuild()
    # Both replicas' timers fire at the planned start; the store's claim lets exactly one start the run.
    await world.advance(60)
    await world.advance(0, other)
    await other.service.sweep()
    assert len(world.livekit.started) == 1
    run = world.only_run(b.id)
    assert (run.status, run.claimed_by, run.attempts) == (RunStatus.STARTING, "replica-1", 1)
    assert [e.reason for e in world.store.egresses(run.id)] == [LaunchReason.START]
    assert world.egress(run).request["broadcast_id"] == b.id  # its recordings can be found by their broadcast

    await world.report(world.egress(run).egress_id or "", EgressStatus.ACTIVE)
    run = world.only_run(b.id)
    assert run.status == RunStatus.LIVE and run.actual_start == start
    # At the planned end the egress is stopped; the run ends when LiveKit reports the egress finished.
    await world.advance(600)
    assert world.only_run(b.id).status == RunStatus.STOPPING
    await world.report(world.egress(run).egress_id or "", EgressStatus.COMPLETE)
    run = world.only_run(b.id)
    assert run.status == RunStatus.ENDED and run.actual_end == start + timedelta(seconds=600) and run.error == ""
    assert statuses(world, run.id) == [RunStatus.SCHEDULED, RunStatus.STARTING, RunStatus.LIVE, RunStatus.STOPPING,
                                       RunStatus.ENDED]
    kinds = [e.kind for e in world.store.events(run.id)]
    assert kinds[:4] == [RunEventKind.SCHEDULED, RunEventKind.CLAIMED, RunEventKind.LAUNCHING, RunEventKind.LAUNCHED]
    assert world.service.get(b.id).state == BroadcastState.FINISHED  # a one-off: no next occurrence
    assert [h.state_after for h in world.store.history(b.id)] == [BroadcastState.ACTIVE, BroadcastState.FINISHED]
    assert world.announced == [(CallbackEventType.BROADCAST_STARTED, run.id),
                               (CallbackEventType.BROADCAST_ENDED, run.id)]


async def test_an_egress_failing_early_is_healed_after_a_backoff_then_the_run_gives_up(world: BroadcastWorld) -> None:
    b = await world.service.create(world.spec(), actor="tester")  # start now
    await world.advance(0)
    for replacement in (1, 2):
        run = world.only_run(b.id)
        await world.report(world.egress(run).egress_id or "", EgressStatus.ACTIVE)
        await world.advance(5)
        await world.report(world.egress(run).egress_id or "", EgressStatus.FAILED, error="worker lost")
        healing = world.only_run(b.id)
        assert healing.status == RunStatus.LIVE and healing.egress_pk is None and healing.error == "worker lost"
        delay = 1.0 * 2 ** (replacement - 1)  # the domain's backoff: 1 s, then 2 s
        assert world.timer.pending()[f"heal:{run.id}"] == world.clock() + timedelta(seconds=delay)
        await world.advance(delay - 0.001)
        assert len(world.livekit.started) == replacement  # not before the backoff
        await world.advance(0.001)
        assert len(world.livekit.started) == replacement + 1
    run = world.only_run(b.id)
    assert [e.reason for e in world.store.egresses(run.id)] == [
        LaunchReason.START, LaunchReason.REPLACEMENT, LaunchReason.REPLACEMENT]
    await world.report(world.egress(run).egress_id or "", EgressStatus.ACTIVE)
    await world.report(world.egress(run).egress_id or "", EgressStatus.FAILED, error="worker lost")
    run = world.only_run(b.id)
    assert run.status == RunStatus.FAILED and run.error == "worker lost"  # heal_attempts=2 replacements made
    assert "no replacement left after 2" in world.store.events(run.id)[-1].detail
    assert sum(1 for e in world.store.events(run.id) if e.kind == RunEventKind.ENDED_EARLY) == 2
    assert (CallbackEventType.BROADCAST_FAILED, run.id) in world.announced
    assert len(world.livekit.started) == 3


async def test_rollover_hands_over_to_a_new_egress_before_the_stream_limit(world: BroadcastWorld) -> None:
    b = await world.service.create(world.spec(max_duration_s=7200), actor="tester")
    await world.advance(0)
    first = world.egress(world.only_run(b.id))
    await world.report(first.egress_id or "", EgressStatus.ACTIVE)
    await world.advance(29 * 60)
    await world.service.sweep()
    assert len(world.livekit.started) == 1  # not yet
    await world.advance(60)
    await world.service.sweep()
    run = world.only_run(b.id)
    assert [e.reason for e in world.store.egresses(run.id)] == [LaunchReason.START, LaunchReason.ROLLOVER]
    second = world.egress(run)
    assert second.id != first.id and run.status == RunStatus.LIVE
    await world.service.sweep()
    assert len(world.livekit.started) == 2  # one rollover per egress
    # The new egress goes active: the old one is stopped, and its end does not touch the run.
    await world.report(second.egress_id or "", EgressStatus.ACTIVE)
    assert world.livekit.egresses[first.egress_id or ""].info.status == EgressStatus.ENDING
    await world.report(first.egress_id or "", EgressStatus.COMPLETE)
    run = world.only_run(b.id)
    assert run.status == RunStatus.LIVE and run.egress_pk == second.id
    assert any(e.kind == RunEventKind.HANDED_OVER and e.egress_pk == first.id for e in world.store.events(run.id))


async def test_a_start_missed_beyond_the_grace_makes_the_run_missed(world: BroadcastWorld) -> None:
    late = await world.service.create(world.spec(start_at=world.clock() + timedelta(minutes=1)), actor="tester")
    on_time = await world.service.create(world.spec(start_at=world.clock() + timedelta(minutes=3)), actor="tester")
    world.clock.advance(60 + 5 * 60 + 1)  # the service was down (no timer ran) until 5 min 1 s after the first start
    restarted = world.replica("replica-1-restarted")
    await restarted.service.rebuild()
    await restarted.service.sweep()
    missed = world.only_run(late.id)
    assert missed.status == RunStatus.MISSED and missed.error == MISSED_ERROR
    assert world.store.events(missed.id)[-1].kind == RunEventKind.MISSED
    assert world.service.get(late.id).state == BroadcastState.FINISHED
    claimed = world.only_run(on_time.id)  # late by 3 min 1 s, within the grace: started
    assert claimed.status == RunStatus.STARTING and claimed.claimed_by == "replica-1-restarted"
    assert [r.room_name for r in world.livekit.started] == ["studio"]


async def test_waiting_for_a_publisher_then_starting_when_one_joins(world: BroadcastWorld) -> None:
    world.livekit.add_room("stage")
    b = await world.service.create(world.spec(room_name="stage", wait_for_publisher=True), actor="tester")
    await world.advance(0)
    await world.service.sweep()
    run = world.only_run(b.id)
    assert run.status == RunStatus.STARTING and run.awaiting_publisher and run.error == WAITING_FOR_PUBLISHER
    assert world.livekit.started == [] and world.store.egresses(run.id) == []
    assert sum(1 for e in world.store.events(run.id) if e.kind == RunEventKind.WAITING_FOR_PUBLISHER) == 1
    world.livekit.take_notices()
    world.livekit.join("stage", "alice", tracks=(TrackSnapshot("TR_mic", "AUDIO"),))
    for notice in world.livekit.take_notices():
        await world.service.on_room_event(notice)
    run = world.only_run(b.id)
    assert len(world.livekit.started) == 1 and not run.awaiting_publisher and run.error == ""


async def test_nobody_publishing_until_the_end_fails_the_run_with_that_reason(world: BroadcastWorld) -> None:
    world.livekit.add_room("empty")
    b = await world.service.create(world.spec(room_name="empty", wait_for_publisher=True, max_duration_s=120),
        actor="tester")
    await world.advance(0)
    assert world.only_run(b.id).awaiting_publisher
    await world.advance(120)
    run = world.only_run(b.id)
    assert run.status == RunStatus.FAILED and run.error == "no publisher joined before the end time"
    assert world.livekit.started == [] and (CallbackEventType.BROADCAST_FAILED, run.id) in world.announced
