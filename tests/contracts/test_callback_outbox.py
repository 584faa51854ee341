"""The CallbackOutbox contract, on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from orchestrator.domain.callbacks import DeliveryStatus
from tests.contracts.conftest import Backend
from tests.contracts.recording_rows import delivery, later
from tests.contracts.rows import T0


def test_enqueue_stores_each_delivery_once(backend: Backend) -> None:
    outbox = backend.outbox
    first, second = delivery("a"), delivery("b", created=later(1))
    assert outbox.enqueue([]) == 0
    assert outbox.enqueue([second, first]) == 2
    assert outbox.enqueue([first, delivery("a", "https://other.example/hook")]) == 1
    other = delivery("a", "https://other.example/hook")
    stored = outbox.deliveries()
    assert [d.created_at for d in stored] == [T0, T0, later(1)]  # oldest first (ties in any order)
    assert {d.id for d in stored[:2]} == {first.id, other.id} and stored[2] == second
    assert outbox.deliveries(event_id=first.event_id)[0] == first
    assert len(outbox.deliveries(event_id=first.event_id)) == 2
    assert len(outbox.deliveries(limit=1)) == 1


def test_claim_leases_each_due_delivery_to_one_caller(backend: Backend) -> None:
    outbox = backend.outbox
    soon, due, not_yet = delivery("a", due=later(5)), delivery("b", due=later(1)), delivery("c", due=later(60))
    outbox.enqueue([soon, due, not_yet])
    claimed = outbox.claim_due(later(10), later(70))
    assert [d.id for d in claimed] == [due.id, soon.id]  # soonest first
    assert [d.version for d in claimed] == [1, 1]
    assert outbox.claim_due(later(10), later(70)) == []  # leased: nobody else gets them
    assert outbox.claim_due(later(69), later(130)) == [dataclasses.replace(not_yet, version=1)]
    # A lease that ran out (its holder died mid-attempt): the delivery is claimed again.
    again = outbox.claim_due(later(71), later(131))
    assert {d.id for d in again} == {due.id, soon.id}
    assert all(d.version == 2 for d in again)
    # The first holder finishing late loses: the row moved on.
    assert not outbox.finish_attempt(claimed[0], DeliveryStatus.DELIVERED, later(72), next_attempt_at=None)


def test_claim_limit(backend: Backend) -> None:
    backend.outbox.enqueue([delivery(str(i), due=later(i)) for i in range(5)])
    assert [d.next_attempt_at for d in backend.outbox.claim_due(later(10), later(20), limit=2)] == [T0, later(1)]


def test_finish_attempt_records_delivery_retry_and_expiry(backend: Backend) -> None:
    outbox = backend.outbox
    ok, retry, expired = delivery("ok"), delivery("retry"), delivery("expired")
    outbox.enqueue([ok, retry, expired])
    leased = {d.id: d for d in outbox.claim_due(later(1), later(61))}
    assert outbox.finish_attempt(leased[ok.id], DeliveryStatus.DELIVERED, later(2), next_attempt_at=None)
    assert outbox.finish_attempt(leased[retry.id], DeliveryStatus.PENDING, later(2), next_attempt_at=later(30),
                                 error="HTTP 503" * 300)
    assert outbox.finish_attempt(leased[expired.id], DeliveryStatus.EXPIRED, later(2), next_attempt_at=None,
                                 error="timed out")
    rows = {d.id: d for d in outbox.deliveries()}
    assert (rows[ok.id].status, rows[ok.id].attempts, rows[ok.id].delivered_at) == (
        DeliveryStatus.DELIVERED, 1, later(2))
    assert (rows[retry.id].status, rows[retry.id].attempts, rows[retry.id].next_attempt_at) == (
        DeliveryStatus.PENDING, 1, later(30))
    assert len(rows[retry.id].last_error) == 1000 and rows[retry.id].delivered_at is None
    assert (rows[expired.id].status, rows[expired.id].last_error) == (DeliveryStatus.EXPIRED, "timed out")
    # Finishing releases the lease: the retry is claimed again once due, and only the pending one.
    assert outbox.claim_due(later(29), later(90)) == []
    [again] = outbox.claim_due(later(30), later(90))
    assert (again.id, again.attempts, again.version) == (retry.id, 1, 3)
    assert not outbox.finish_attempt(leased[retry.id], DeliveryStatus.DELIVERED, later(31), next_attempt_at=None)


def test_next_delivery_due(backend: Backend) -> None:
    outbox = backend.outbox
    assert outbox.next_delivery_due() is None
    outbox.enqueue([delivery("a", due=later(40)), delivery("b", due=later(20))])
    assert outbox.next_delivery_due() == later(20)
    [first] = outbox.claim_due(later(20), later(80), limit=1)
    outbox.finish_attempt(first, DeliveryStatus.DELIVERED, later(21), next_attempt_at=None)
    assert outbox.next_delivery_due() == later(40)
