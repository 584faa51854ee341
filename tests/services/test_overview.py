"""The Now page's reads (services/overview.py) over the broadcast service on the fakes and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from orchestrator.domain.broadcasts import Recurrence, RunStatus
from orchestrator.domain.egress import EgressStatus
from orchestrator.domain.sessions import TrackSnapshot
from orchestrator.services.overview import Overview

from .broadcast_world import BroadcastWorld, build_broadcast_world


@pytest.fixture
async def world() -> AsyncIterator[BroadcastWorld]:
    w = build_broadcast_world(heal_attempts=0, heal_base_s=1.0)
    w.livekit.add_room("studio")
    w.livekit.join("studio", "host", tracks=(TrackSnapshot("TR_cam", "VIDEO"),))
    yield w
    await w.aclose()


def overview(world: BroadcastWorld) -> Overview:
    return Overview(world.store, world.ledger, world.clock)


async def test_live_runs_active_egresses_and_the_next_day_with_recurring_occurrences(world: BroadcastWorld) -> None:
    live = await world.service.create(world.spec(title="Morning show", max_duration_s=600), actor="tester")
    await world.advance(0)
    run = world.only_run(live.id)
    await world.report(world.egress(run).egress_id or "", EgressStatus.ACTIVE)
    hourly = await world.service.create(world.spec(
        title="Hourly news", start_at=world.clock() + timedelta(minutes=30), max_duration_s=300,
        recurrence=Recurrence("30 */6 * * *", "Europe/Berlin")), actor="tester")
    later = await world.service.create(world.spec(title="Next week", start_at=world.clock() + timedelta(days=7)),
        actor="tester")

    now = overview(world).now()
    assert [(i.run.status, i.broadcast and i.broadcast.spec.title) for i in now.runs] == [
        (RunStatus.LIVE, "Morning show")]
    assert [e.id for e in now.egresses] == [run.egress_pk]
    starts = [u.start for u in now.upcoming]
    assert starts == sorted(starts) and all(world.clock() <= s <= world.clock() + timedelta(hours=24) for s in starts)
    assert {u.broadcast.id for u in now.upcoming} == {hourly.id}  # not next week's, not the live one-off
    assert len(now.upcoming) == 4  # every 6 hours: the stored run and three occurrences computed ahead
    assert now.upcoming[0].run is not None and all(u.run is None for u in now.upcoming[1:])
    assert now.upcoming[0].zone == "Europe/Berlin"
    assert later.id not in {u.broadcast.id for u in now.upcoming}
    assert now.failures == []


async def test_failures_of_the_last_day_say_why_once_per_run(world: BroadcastWorld) -> None:
    b = await world.service.create(world.spec(title="Doomed", max_duration_s=600), actor="tester")
    await world.advance(0)
    run = world.only_run(b.id)
    refused = "stream failed: could not connect to RTMP server"
    await world.report(world.egress(run).egress_id or "", EgressStatus.FAILED, error=refused)
    assert world.only_run(b.id).status == RunStatus.FAILED

    [failure] = overview(world).now().failures  # the run, not its egress a second time
    assert (failure.kind, failure.id, failure.title, failure.room_name) == ("run", b.id, "Doomed", "studio")
    assert failure.why.summary == "The destination refused the stream (check the stream key and the RTMP URL)."
    assert failure.why.detail == refused

    world.clock.advance(25 * 3600)
    assert overview(world).now().failures == []  # older than a day
