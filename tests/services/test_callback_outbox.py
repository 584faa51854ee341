"""The callback outbox on the fakes: a callback is signed, delivered, retried with backoff, given up after the
window, and leased so that only one sender attempts it."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from orchestrator.adapters.memory.clock import FakeClock
from orchestrator.adapters.memory.outbox import FakeCallbackSender, MemoryCallbackOutbox
from orchestrator.domain.callbacks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    CallbackEventType,
    DeliveryStatus,
    verify,
)
from orchestrator.domain.errors import InvalidInput
from orchestrator.services.callbacks import CallbackService

HOOK, OTHER, SECRET = "https://app.example/hook", "https://other.example/in", "s3cret"


def service(outbox: MemoryCallbackOutbox, clock: FakeClock, sender: FakeCallbackSender | None = None,
            urls: tuple[str, ...] = (HOOK,)) -> CallbackService:
    return CallbackService(outbox, sender or FakeCallbackSender(), clock, urls=urls, secret=SECRET, backoff_s=1.0,
                           window=timedelta(hours=24), lease=timedelta(seconds=60))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox() -> MemoryCallbackOutbox:
    return MemoryCallbackOutbox()


@pytest.fixture
def sender() -> FakeCallbackSender:
    return FakeCallbackSender()


async def test_a_callback_is_signed_and_delivered_once(outbox: MemoryCallbackOutbox, clock: FakeClock,
                                                       sender: FakeCallbackSender) -> None:
    callbacks = service(outbox, clock, sender)
    event = await callbacks.enqueue(CallbackEventType.BROADCAST_STARTED, "brd_1", {"broadcast_id": "brd_1"},
                                    extra_urls=[OTHER, HOOK])
    again = await callbacks.enqueue(CallbackEventType.BROADCAST_STARTED, "brd_1", {"broadcast_id": "brd_1"})
    assert again.id == event.id and len(outbox.deliveries()) == 2  # one per URL, however often enqueued
    assert await callbacks.dispatch_due() == 2
    assert await callbacks.dispatch_due() == 0
    assert sorted(s.url for s in sender.sent) == sorted([HOOK, OTHER])
    for sent in sender.sent:
        assert verify(SECRET, sent.headers[SIGNATURE_HEADER], sent.body, clock().timestamp())
        assert not verify("wrong", sent.headers[SIGNATURE_HEADER], sent.body, clock().timestamp())
        assert (sent.headers[EVENT_ID_HEADER], sent.headers[EVENT_TYPE_HEADER]) == (event.id, "broadcast.started")
        body = json.loads(sent.body)
        assert (body["id"], body["type"], body["data"]) == (event.id, "broadcast.started", {"broadcast_id": "brd_1"})
    assert all(d.status == DeliveryStatus.DELIVERED and d.delivered_at == clock() and d.attempts == 1
               for d in outbox.deliveries())


async def test_without_urls_nothing_is_stored_and_bad_urls_are_refused(outbox: MemoryCallbackOutbox,
                                                                        clock: FakeClock) -> None:
    callbacks = service(outbox, clock, urls=())
    await callbacks.enqueue(CallbackEventType.EGRESS_FAILED, "egr_1", {})
    assert outbox.deliveries() == []
    with pytest.raises(InvalidInput) as bad:
        await callbacks.enqueue(CallbackEventType.BROADCAST_ENDED, "brd_1", {}, extra_urls=[HOOK, "ftp://x/y"])
    assert bad.value.field == "callback_urls.1"
    with pytest.raises(InvalidInput):
        service(outbox, clock, urls=("not a url",))


async def test_a_failed_delivery_is_retried_with_backoff(outbox: MemoryCallbackOutbox, clock: FakeClock,
                                                         sender: FakeCallbackSender) -> None:
    callbacks = service(outbox, clock, sender)
    sender.error = "HTTP 503"
    event = await callbacks.enqueue(CallbackEventType.EGRESS_FAILED, "egr_1", {})
    waits = []
    for _ in range(4):
        assert await callbacks.dispatch_due() == 0
        [row] = outbox.deliveries(event_id=event.id)
        waits.append((row.next_attempt_at - clock()).total_seconds())
        assert await callbacks.dispatch_due() == 0  # not due again before the backoff
        clock.set(row.next_attempt_at)
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert len(sender.sent) == 4 and {s.body for s in sender.sent} == {sender.sent[0].body}  # the same bytes
    sender.error = None
    assert await callbacks.dispatch_due() == 1
    [row] = outbox.deliveries(event_id=event.id)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.DELIVERED, 5, "")


async def test_one_receiver_failing_does_not_hold_back_another(outbox: MemoryCallbackOutbox, clock: FakeClock,
                                                                sender: FakeCallbackSender) -> None:
    callbacks = service(outbox, clock, sender)
    sender.failing[OTHER] = "timed out"
    await callbacks.enqueue(CallbackEventType.RECORDING_READY, "rec_1", {}, extra_urls=[OTHER])
    assert await callbacks.dispatch_due() == 1
    rows = {d.url: d for d in outbox.deliveries()}
    assert rows[HOOK].status == DeliveryStatus.DELIVERED
    assert (rows[OTHER].status, rows[OTHER].last_error) == (DeliveryStatus.PENDING, "timed out")


async def test_delivery_is_given_up_after_the_window(outbox: MemoryCallbackOutbox, clock: FakeClock,
                                                     sender: FakeCallbackSender) -> None:
    callbacks = service(outbox, clock, sender)
    sender.error = "could not connect: ConnectError"
    event = await callbacks.enqueue(CallbackEventType.EGRESS_FAILED, "egr_1", {})
    deadline = event.created_at + timedelta(hours=24)
    await callbacks.dispatch_due()
    clock.set(deadline - timedelta(seconds=1))  # the next wait (2 s) would pass the deadline: it stops there
    await callbacks.dispatch_due()
    [row] = outbox.deliveries(event_id=event.id)
    assert row.status == DeliveryStatus.PENDING and row.next_attempt_at == deadline
    clock.set(deadline)
    await callbacks.dispatch_due()
    [row] = outbox.deliveries(event_id=event.id)
    assert (row.status, row.attempts) == (DeliveryStatus.EXPIRED, 3)
    clock.advance(3600)
    await callbacks.dispatch_due()
    assert len(sender.sent) == 3 and outbox.next_delivery_due() is None


async def test_a_lease_lets_only_one_sender_attempt_a_delivery(outbox: MemoryCallbackOutbox,
                                                               clock: FakeClock) -> None:
    first, second = FakeCallbackSender(), FakeCallbackSender()
    a, b = service(outbox, clock, first), service(outbox, clock, second)  # two replicas on one outbox
    await a.enqueue(CallbackEventType.RECORDING_READY, "rec_1", {})
    assert sorted(await asyncio.gather(a.dispatch_due(), b.dispatch_due())) == [0, 1]
    assert len(first.sent) + len(second.sent) == 1
    # A replica that took a delivery and died before finishing: the lease keeps the others off until it ends.
    await a.enqueue(CallbackEventType.RECORDING_READY, "rec_2", {})
    [taken] = outbox.claim_due(clock(), clock() + timedelta(seconds=60))
    assert await b.dispatch_due() == 0
    clock.advance(59)
    assert await b.dispatch_due() == 0
    clock.advance(2)
    assert await b.dispatch_due() == 1
    assert [s.headers[EVENT_ID_HEADER] for s in second.sent][-1] == taken.event_id
    # The dead replica's late answer is refused: the row moved on.
    assert not outbox.finish_attempt(taken, DeliveryStatus.DELIVERED, clock(), next_attempt_at=None)


async def test_closing_closes_the_sender(outbox: MemoryCallbackOutbox, clock: FakeClock,
                                         sender: FakeCallbackSender) -> None:
    await service(outbox, clock, sender).aclose()
    assert sender.closed
