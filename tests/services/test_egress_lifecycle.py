"""Egress lifecycle on the fakes: start exactly once, webhooks folded in order, stop, and the reconciler's repairs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orchestrator.adapters.memory import StartFailure
from orchestrator.domain.egress import EgressKind, EgressStatus, Observation, Outcome
from orchestrator.domain.errors import LiveKitRejected, LiveKitUnavailable
from orchestrator.domain.requests import EgressRequest, FileOutput, S3Target

from .world import World, build_world, settle


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = build_world()
    yield w
    await w.aclose()


def composite(room: str = "studio") -> EgressRequest:
    return EgressRequest(kind=EgressKind.ROOM_COMPOSITE, room_name=room, layout="grid",
                         file=FileOutput(filepath=f"{room}/out.mp4"), storage=S3Target(bucket="b", region="r"))


async def test_the_row_is_written_before_the_start_call_leaves(world: World) -> None:
    world.livekit.add_room("studio")
    seen: list[tuple[EgressStatus, str | None]] = []

    async def during_the_call(_: Observation) -> None:
        [row] = world.ledger.find(room_name="studio")
        seen.append((row.status, row.egress_id))

    world.livekit.before_answer = during_the_call
    record = await world.egresses.start(composite(), actor="tester")
    assert seen == [(EgressStatus.STARTING, None)]  # the row existed, not yet bound to LiveKit's id
    assert record.egress_id in world.livekit.egresses and record.status == EgressStatus.STARTING
    assert world.ledger.history(record.id)[0].detail == "start requested"
    await settle()
    assert [(c.record.id, c.status_before) for c in world.heard] == []  # binding keeps `starting`: no change


async def test_webhooks_move_an_egress_forward_and_never_back(world: World) -> None:
    world.livekit.add_room("studio")
    record = await world.egresses.start(composite(), actor="tester")
    assert record.egress_id is not None
    world.livekit.activate(record.egress_id)
    notices = world.livekit.take_notices()
    started = next(n for n in notices if n.event == "egress_started")
    updated = next(n for n in notices if n.event == "egress_updated")
    await world.submit(updated)
    assert world.egresses.get(record.id).status == EgressStatus.ACTIVE
    # egress_started arrives late, under its own id: stored, folded in, but it cannot move the egress back
    [late] = await world.submit(started)
    assert not late.duplicate and late.outcome == Outcome.STALE
    assert world.egresses.get(record.id).status == EgressStatus.ACTIVE
    assert [(c.status_before, c.record.status) for c in world.heard] == [(EgressStatus.STARTING, EgressStatus.ACTIVE)]


async def test_a_webhook_delivered_twice_is_applied_once(world: World) -> None:
    world.livekit.add_room("studio")
    record = await world.egresses.start(composite(), actor="tester")
    assert record.egress_id is not None
    world.livekit.activate(record.egress_id)
    notices = [n for n in world.livekit.take_notices() if n.event == "egress_updated"]
    first = await world.submit(*notices)
    events = len(world.ledger.history(record.id))
    again = await world.submit(*notices)
    assert [a.duplicate for a in first] == [False] and [a.duplicate for a in again] == [True]
    assert len(world.ledger.history(record.id)) == events
    assert len(world.heard) == 1


async def test_a_start_call_that_times_out_is_adopted_not_repeated(world: World) -> None:
    world.livekit.add_room("studio")
    world.livekit.fail_next_start(StartFailure.UNAVAILABLE_BUT_STARTED)
    record = await world.egresses.start(composite(), actor="tester")
    [started] = list(world.livekit.egresses)
    assert record.egress_id == started and len(world.livekit.started) == 1
    assert "adopted" in world.ledger.history(record.id)[-1].detail


async def test_a_start_with_no_worker_is_retried_then_failed(world: World) -> None:
    world.livekit.add_room("studio")
    world.livekit.fail_next_start(StartFailure.NO_WORKER, times=3)
    with pytest.raises(LiveKitUnavailable):
        await world.egresses.start(composite(), actor="tester")
    [row] = world.ledger.find(room_name="studio")
    assert world.livekit.calls.count("StartRoomCompositeEgress") == 3
    assert row.status == EgressStatus.FAILED and row.error_code == 503
    world.livekit.fail_next_start(StartFailure.NO_WORKER, times=2)
    # the third call starts it
    assert (await world.egresses.start(composite(), actor="tester")).status == EgressStatus.STARTING


async def test_a_refused_start_fails_the_row_at_once(world: World) -> None:
    world.livekit.add_room("studio")
    world.livekit.fail_next_start(StartFailure.REJECTED)
    with pytest.raises(LiveKitRejected):
        await world.egresses.start(composite(), actor="tester")
    [row] = world.ledger.find(room_name="studio")
    assert row.status == EgressStatus.FAILED and row.error_code == 400
    assert world.livekit.calls.count("StartRoomCompositeEgress") == 1


async def test_stop_then_the_ending_webhook_completes_it(world: World) -> None:
    world.livekit.add_room("studio")
    record = await world.egresses.start(composite(), actor="tester")
    assert record.egress_id is not None
    world.livekit.activate(record.egress_id)
    await world.deliver()
    assert (await world.egresses.stop(record.id, actor="tester")).status == EgressStatus.ENDING
    world.livekit.end(record.egress_id)
    await world.deliver()
    done = world.egresses.get(record.id)
    assert done.status == EgressStatus.COMPLETE and done.ended_at is not None
    # stopping again: no call
    assert (await world.egresses.stop(record.id, actor="tester")).status == EgressStatus.COMPLETE
    assert world.livekit.calls.count("StopEgress") == 1
    assert [c.record.status for c in world.heard] == [EgressStatus.ACTIVE, EgressStatus.ENDING,
                                                      EgressStatus.COMPLETE]


async def test_the_reconciler_folds_in_an_ending_whose_webhook_was_lost(world: World) -> None:
    world.livekit.add_room("studio")
    record = await world.egresses.start(composite(), actor="tester")
    assert record.egress_id is not None
    world.livekit.activate(record.egress_id)
    world.livekit.end(record.egress_id)
    world.livekit.take_notices()  # lost
    report = await world.reconciler.run_once()
    assert report.repaired == 1 and world.egresses.get(record.id).status == EgressStatus.COMPLETE
    await settle()
    assert world.heard[-1].record.status == EgressStatus.COMPLETE


async def test_the_reconciler_fails_starts_that_never_answered_or_never_started(world: World) -> None:
    world.livekit.add_room("studio")
    [never_called] = world.egresses.prepare([composite()])  # the service stopped before the call left
    # LiveKit accepted it; the worker never starts it
    stuck = await world.egresses.start(composite("studio"), actor="tester")
    world.clock.advance(30)
    report = await world.reconciler.run_once()
    assert report.repaired == 0 and report.deadline == 0  # not yet
    world.clock.advance(31)
    report = await world.reconciler.run_once()
    assert world.egresses.get(never_called.id).status == EgressStatus.FAILED
    assert world.egresses.get(stuck.id).status == EgressStatus.FAILED
    assert report.repaired == 1 and report.deadline == 1
    assert "StopEgress" in world.livekit.calls  # the stuck one is stopped at LiveKit too
