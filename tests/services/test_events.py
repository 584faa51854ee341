"""The event feed on the memory fakes: what changed reaches each subscriber of its kind once, late commits within
the look-back are not lost, a slow subscriber is dropped, a subscriber that leaves is forgotten, and a cursor
resumes the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from orchestrator.adapters.memory import MemoryDatabase, MemoryEgressLedger, MemorySessionStore
from orchestrator.adapters.memory.clock import FakeClock
from orchestrator.domain.activity import Change, ChangeKind
from orchestrator.domain.egress import ChangeSource, EgressStatus
from orchestrator.services.events import Ended, EventFeed, Subscription, cursor_of, parse_cursor
from tests.contracts.rows import record, session


class World:
    def __init__(self, queue_size: int = 256) -> None:
        db = MemoryDatabase()
        self.clock = FakeClock()
        self.ledger = MemoryEgressLedger(db)
        self.sessions = MemorySessionStore(db)
        # A poll an hour apart: the tests poll by hand (the first one runs as the feed starts).
        self.feed = EventFeed({ChangeKind.EGRESS: self.ledger.changed_since,
                               ChangeKind.SESSION: self.sessions.changed_since},
                              self.clock, interval_s=3600, queue_size=queue_size)

    def egress(self, pk: str, after_s: float) -> None:
        self.ledger.create_many([record(pk, created=self.clock() + timedelta(seconds=after_s))])


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World()
    yield w
    await w.feed.aclose()


async def drain(sub: Subscription) -> list[Change]:
    out = []
    while (change := await sub.next(0)) is not None:
        out.append(change)
    return out


async def test_a_change_reaches_the_subscribers_of_its_kind_once(world: World) -> None:
    everything = await world.feed.subscribe()
    rooms = await world.feed.subscribe([ChangeKind.SESSION])
    world.egress("egr_1", 1)
    assert await world.feed.poll() == 1
    [change] = await drain(everything)
    assert (change.kind, change.id, change.status) == (ChangeKind.EGRESS, "egr_1", "starting")
    assert await drain(rooms) == []
    assert await world.feed.poll() == 0  # read again (the look-back) but not sent twice
    world.ledger.force_status("egr_1", EgressStatus.FAILED, ChangeSource.API, world.clock() + timedelta(seconds=2))
    world.sessions.open_sessions([(session("RM_1", started=world.clock() + timedelta(seconds=2)), [], None)])
    await world.feed.poll()
    assert [(c.kind, c.status) for c in await drain(everything)] == [(ChangeKind.EGRESS, "failed"),
                                                                      (ChangeKind.SESSION, "open")]
    assert [c.id for c in await drain(rooms)] == ["RM_1"]


async def test_what_changed_before_anyone_listened_is_not_sent(world: World) -> None:
    world.egress("egr_old", -1)
    sub = await world.feed.subscribe()
    await world.feed.poll()
    assert await drain(sub) == []


async def test_a_change_committed_late_within_the_look_back_is_sent(world: World) -> None:
    sub = await world.feed.subscribe()
    world.egress("egr_2", 5)
    await world.feed.poll()
    world.egress("egr_1", 4)  # its transaction began first (or its replica's clock is behind) and committed later
    await world.feed.poll()
    assert [c.id for c in await drain(sub)] == ["egr_2", "egr_1"]


async def test_a_slow_subscriber_is_dropped_without_holding_the_others() -> None:
    w = World(queue_size=2)
    slow = await w.feed.subscribe([ChangeKind.EGRESS])
    rooms = await w.feed.subscribe([ChangeKind.SESSION])
    for n in range(3):
        w.egress(f"egr_{n}", 1 + n)
    w.sessions.open_sessions([(session("RM_1", started=w.clock() + timedelta(seconds=1)), [], None)])
    await w.feed.poll()
    assert slow.ended and w.feed.listening == 1
    with pytest.raises(Ended):
        await slow.next(0)
    assert [c.id for c in await drain(rooms)] == ["RM_1"]
    await w.feed.aclose()


async def test_a_subscriber_that_leaves_is_forgotten_and_polling_stops(world: World) -> None:
    sub = await world.feed.subscribe()
    await asyncio.sleep(0)
    assert world.feed.listening == 1 and world.feed.polling
    sub.close()
    assert world.feed.listening == 0
    world.feed.wake()
    await asyncio.sleep(0.1)  # the poll loop wakes, finds nobody listening, and ends
    assert not world.feed.polling


async def test_a_cursor_resumes_after_its_event_and_nothing_is_sent_twice(world: World) -> None:
    first = await world.feed.subscribe()
    for n in range(3):
        world.egress(f"egr_{n}", 1 + n)
    await world.feed.poll()
    seen = await drain(first)
    cursor = cursor_of(seen[0])
    after = parse_cursor(cursor)
    assert after == seen[0].order
    resumed = await world.feed.subscribe(after=after)
    world.egress("egr_3", 9)
    await world.feed.poll()
    assert [c.id for c in await drain(resumed)] == ["egr_1", "egr_2", "egr_3"]


async def test_closing_the_feed_ends_every_subscription(world: World) -> None:
    sub = await world.feed.subscribe()
    await world.feed.aclose()
    with pytest.raises(Ended):
        await sub.next(1)
    late = await world.feed.subscribe()
    assert late.ended


def test_a_cursor_is_opaque_and_checked() -> None:
    assert parse_cursor("not-a-cursor") is None
    assert parse_cursor("") is None
