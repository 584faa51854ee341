"""Recordings on the fakes: an ended egress is catalogued and verified ready or missing (with its callback in the
same write), retried with backoff while storage is unreachable, and swept up when the change feed missed it."""

from __future__ import annotations

import json

from orchestrator.domain.callbacks import SIGNATURE_HEADER, CallbackEventType, DeliveryStatus, verify
from orchestrator.domain.egress import EgressStatus
from orchestrator.domain.recordings import RecordingStatus, StorageKind, next_check_delay
from orchestrator.services.changes import EgressChange
from tests.services.recordings_world import BUCKET, HOOK, SECRET, Recordings, rec  # noqa: F401 - fixture


def events(r: Recordings) -> list[tuple[str, dict[str, object]]]:
    """(type, data) of every callback in the outbox."""
    return [(d.event_type.value, json.loads(d.body)["data"]) for d in r.outbox.deliveries()]


async def test_an_ended_egress_is_catalogued_and_verified_ready(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "rooms/standup.mp4", b"12345")
    record = rec.ended("EG_1", files={"rooms/standup.mp4": 5})
    await rec.announce(record)
    [recording] = rec.store.of_egress(record.id)
    assert (recording.status, recording.storage, recording.bucket, recording.key) == (
        RecordingStatus.READY, StorageKind.S3, BUCKET, "rooms/standup.mp4")
    assert recording.verified_at == rec.clock() and recording.next_check_at is None
    assert [e.status_after for e in rec.store.history(recording.id)] == [RecordingStatus.VERIFYING,
                                                                        RecordingStatus.READY]
    [(kind, data)] = events(rec)
    assert kind == "recording.ready" and data["recording_id"] == recording.id and data["status"] == "ready"
    # The callback goes out signed.
    assert await rec.callbacks.dispatch_due() == 1
    [sent] = rec.sender.sent
    assert sent.url == HOOK and verify(SECRET, sent.headers[SIGNATURE_HEADER], sent.body, rec.clock().timestamp())
    # Announced twice (the feed and the sweep): catalogued once, one callback.
    await rec.announce(record)
    assert len(rec.store.of_egress(record.id)) == 1 and len(rec.outbox.deliveries()) == 1


async def test_a_file_that_is_not_there_or_not_whole_is_missing(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "short.mp4", b"123")
    record = rec.ended("EG_1", files={"gone.mp4": 5, "short.mp4": 5})
    await rec.announce(record)
    gone, short = rec.store.of_egress(record.id)
    assert gone.status == short.status == RecordingStatus.MISSING
    assert "does not exist" in gone.reason
    assert "has 3 bytes, LiveKit reported 5" in short.reason
    assert [kind for kind, _ in events(rec)] == ["recording.missing", "recording.missing"]


async def test_storage_unreachable_backs_off_and_loses_nothing(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "a.mp4", b"12345")
    rec.s3.unreachable = True
    start = rec.clock()
    record = rec.ended("EG_1", files={"a.mp4": 5})
    await rec.announce(record)
    [first] = rec.store.of_egress(record.id)
    assert first.status == RecordingStatus.VERIFYING and first.check_attempts == 1
    assert first.next_check_at == start + next_check_delay(1)
    assert rec.outbox.deliveries() == []
    assert await rec.service.verify_due() == 0  # not due yet
    rec.clock.set(first.next_check_at)
    assert await rec.service.verify_due() == 1  # due, still unreachable: the wait doubles
    [second] = rec.store.of_egress(record.id)
    assert second.check_attempts == 2 and second.next_check_at is not None
    assert second.next_check_at - rec.clock() == 2 * (first.next_check_at - start)
    rec.s3.unreachable = False
    rec.clock.set(second.next_check_at)
    assert await rec.service.sweep() == 0  # nothing catalogued twice; the check is done
    [ready] = rec.store.of_egress(record.id)
    assert ready.status == RecordingStatus.READY and ready.check_attempts == 3
    details = [e.detail for e in rec.store.history(ready.id)]
    assert sum("verification postponed: storage unreachable" in d for d in details) == 2
    assert [kind for kind, _ in events(rec)] == ["recording.ready"]


async def test_the_sweep_catalogues_what_the_change_feed_missed(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "a.mp4", b"12345")
    done = rec.ended("EG_done", files={"a.mp4": 5})
    failed = rec.ended("EG_failed", status=EgressStatus.FAILED)
    assert await rec.service.sweep() == 1
    assert rec.store.of_egress(done.id)[0].status == RecordingStatus.READY
    assert rec.store.of_egress(failed.id) == []
    kinds = sorted(kind for kind, _ in events(rec))
    assert kinds == ["egress.failed", "recording.ready"]
    [(_, data)] = [(k, d) for k, d in events(rec) if k == "egress.failed"]
    assert data["id"] == failed.id and data["error"] == "no worker"


async def test_egresses_that_did_not_end_or_were_aborted_have_no_recordings(rec: Recordings) -> None:  # noqa: F811
    aborted = rec.ended("EG_aborted", status=EgressStatus.ABORTED, files={"a.mp4": 5})
    await rec.announce(aborted)
    active = rec.ended("EG_active", status=EgressStatus.ACTIVE, files={"b.mp4": 5})
    await rec.service.on_egress_change(EgressChange(active, EgressStatus.STARTING))
    assert rec.store.of_egress(aborted.id) == rec.store.of_egress(active.id) == []
    assert rec.outbox.deliveries() == []


async def test_a_failed_egress_is_announced_and_its_partial_file_catalogued(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "partial.mp4", b"12")
    record = rec.ended("EG_1", status=EgressStatus.FAILED, files={"partial.mp4": 2})
    await rec.announce(record)
    assert rec.store.of_egress(record.id)[0].status == RecordingStatus.READY
    assert [kind for kind, _ in events(rec)] == ["egress.failed", "recording.ready"]
    assert all(d.status == DeliveryStatus.PENDING for d in rec.outbox.deliveries())
    assert {d.event_type for d in rec.outbox.deliveries()} == {CallbackEventType.EGRESS_FAILED,
                                                              CallbackEventType.RECORDING_READY}
