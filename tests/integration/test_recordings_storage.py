"""Recordings against real storage and a real receiver, with the clock in the test's hands:
S3 unreachable during verification, a receiver that is down for a while, and retention."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.adapters.callbacks import HttpCallbackSender
from orchestrator.adapters.s3 import S3ObjectStore
from orchestrator.adapters.sql.callback_outbox import SqlCallbackOutbox
from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.ledger import SqlEgressLedger
from orchestrator.adapters.sql.recordings import SqlRecordingStore
from orchestrator.domain.callbacks import CallbackEventType, DeliveryStatus
from orchestrator.domain.egress import ChangeSource, EgressStatus, FileResult, Observation, Results
from orchestrator.domain.recordings import RecordingStatus
from orchestrator.domain.requests import S3Target
from orchestrator.services.callbacks import CallbackService
from orchestrator.services.recordings import RecordingService
from tests.integration.s3_server import (  # noqa: F401 - fixtures
    ACCESS_KEY,
    BUCKET,
    CALLBACK_SECRET,
    SECRET_KEY,
    CallbackReceiver,
    S3Server,
    receiver,
    s3_server,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Env:
    egresses: SqlEgressLedger
    repo: SqlRecordingStore
    outbox: SqlCallbackOutbox
    recordings: RecordingService
    callbacks: CallbackService
    clock: Clock
    s3: S3Server


@pytest.fixture
def env(db_url: str, s3_server: S3Server, receiver: CallbackReceiver) -> Iterator[Env]:  # noqa: F811
    db = SqlDatabase(db_url)
    db.migrate()
    clock = Clock()
    outbox = SqlCallbackOutbox(db)
    repo = SqlRecordingStore(db, outbox)
    callbacks = CallbackService(outbox, HttpCallbackSender(5), clock, urls=[receiver.url], secret=CALLBACK_SECRET,
                                backoff_s=1.0)
    target = S3Target(bucket=BUCKET, region="us-east-1", endpoint=s3_server.endpoint, access_key=ACCESS_KEY,
                      secret=SECRET_KEY, force_path_style=True)
    egresses = SqlEgressLedger(db)
    recordings = RecordingService(
        repo, egresses, callbacks, clock, s3=lambda: S3ObjectStore(target, timeout_s=1, attempts=1), local=None,
        default_bucket=BUCKET, public_url="http://127.0.0.1:1", link_key=b"k" * 32, retention_days=7)
    yield Env(egresses, repo, outbox, recordings, callbacks, clock, s3_server)
    db.dispose()


def ended_egress(env: Env, key: str, *, ended: datetime, size: int = 5) -> str:
    """An egress LiveKit reports as complete with one file result."""
    result = FileResult(filename=key, location=f"{env.s3.endpoint}/{BUCKET}/{key}", size_bytes=size,
                        duration_s=1.0, started_at=ended - timedelta(seconds=1), ended_at=ended)
    obs = Observation(egress_id=f"EG_{key.replace('/', '_')}", status=EgressStatus.COMPLETE, room_name="r",
                      room_id="RM_1", results=Results(files=(result,)), ended_at=ended, updated_at_ns=1)
    applied = env.egresses.observe(obs, ChangeSource.WEBHOOK, env.clock())
    assert applied.record is not None
    return applied.record.id


async def test_storage_unreachable_during_verification_is_retried_and_nothing_is_lost(env: Env) -> None:
    env.s3.client().put_object(Bucket=BUCKET, Key="rec/a.mp4", Body=b"12345")
    pk = ended_egress(env, "rec/a.mp4", ended=env.clock())
    env.s3.stop()
    assert await env.recordings.sweep() == 1  # the change feed was never told: the sweep catalogues it
    [rec] = env.repo.of_egress(pk)
    assert rec.status == RecordingStatus.VERIFYING and rec.check_attempts == 1
    assert rec.next_check_at is not None and rec.next_check_at > env.clock()
    assert await env.recordings.verify_due() == 0  # not due yet
    env.s3.restart()
    env.clock.now += timedelta(seconds=30)
    assert await env.recordings.sweep() == 0  # nothing catalogued twice
    [rec] = env.repo.of_egress(pk)
    assert rec.status == RecordingStatus.READY and rec.verified_at is not None
    details = [e.detail for e in env.repo.history(rec.id)]
    assert any("storage unreachable" in d for d in details)
    assert SECRET_KEY not in " ".join(details)


async def test_receiver_down_for_a_while_gets_each_event_once(env: Env, receiver: CallbackReceiver) -> None:  # noqa: F811
    receiver.down = True
    first = await env.callbacks.enqueue(CallbackEventType.BROADCAST_STARTED, "brd_1", {"broadcast_id": "brd_1"})
    again = await env.callbacks.enqueue(CallbackEventType.BROADCAST_STARTED, "brd_1", {"broadcast_id": "brd_1"})
    assert first.id == again.id
    assert await env.callbacks.dispatch_due() == 0
    assert await env.callbacks.dispatch_due() == 0  # not due again before the back-off
    env.clock.now += timedelta(seconds=2)
    assert await env.callbacks.dispatch_due() == 0
    assert receiver.attempts == 2
    # A restart: a new service on the same database finds the pending delivery.
    restarted = CallbackService(env.outbox, HttpCallbackSender(5), env.clock, urls=[receiver.url],
                                secret=CALLBACK_SECRET)
    receiver.down = False
    env.clock.now += timedelta(minutes=5)
    assert await restarted.dispatch_due() == 1
    env.clock.now += timedelta(hours=1)
    assert await restarted.dispatch_due() == 0
    assert receiver.seen == {first.id: 1} and len(receiver.received) == 1
    [row] = env.outbox.deliveries(event_id=first.id)
    assert row.status == DeliveryStatus.DELIVERED and row.attempts == 3
    # Extra URLs must be http(s) and name the field.
    from orchestrator.domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as bad:
        await env.callbacks.enqueue(CallbackEventType.BROADCAST_ENDED, "brd_1", {}, extra_urls=["ftp://x/y"])
    assert bad.value.field == "callback_urls.0"


async def test_delivery_gives_up_after_the_window(env: Env, receiver: CallbackReceiver) -> None:  # noqa: F811
    receiver.down = True
    event = await env.callbacks.enqueue(CallbackEventType.EGRESS_FAILED, "egr_1", {})
    await env.callbacks.dispatch_due()
    env.clock.now += timedelta(hours=25)
    await env.callbacks.dispatch_due()
    [row] = env.outbox.deliveries(event_id=event.id)
    assert row.status == DeliveryStatus.EXPIRED and row.attempts == 2


async def test_retention_deletes_only_what_is_old_enough(env: Env) -> None:
    client = env.s3.client()
    now = env.clock()
    for key in ("old.mp4", "new.mp4"):
        client.put_object(Bucket=BUCKET, Key=key, Body=b"12345")
    old = ended_egress(env, "old.mp4", ended=now - timedelta(days=8))
    new = ended_egress(env, "new.mp4", ended=now - timedelta(days=6))
    for pk in (old, new):  # as the change feed does when each egress ends
        record = env.egresses.get(pk)
        assert record is not None
        env.recordings.catalog(record)
    assert await env.recordings.verify_due() == 2
    dry = await env.recordings.retention(dry_run=True)
    assert [r.egress_pk for r in dry.recordings] == [old]
    assert env.repo.of_egress(old)[0].status == RecordingStatus.READY  # a dry run changes nothing
    report = await env.recordings.retention()
    assert [r.egress_pk for r in report.recordings] == [old] and report.failed == 0
    assert env.repo.of_egress(old)[0].status == RecordingStatus.DELETED
    assert env.repo.of_egress(new)[0].status == RecordingStatus.READY
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert "new.mp4" in keys and "old.mp4" not in keys
    assert (await env.recordings.retention()).recordings == []


