"""Deleting recordings on the fakes: through the API (a file, an HLS playlist with its segments) and by age."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.domain.egress import SegmentResult
from orchestrator.domain.errors import NotFound, StorageUnavailable
from orchestrator.domain.recordings import RecordingNotDownloadable, RecordingStatus
from tests.services.recordings_world import BUCKET, Recordings, build, rec  # noqa: F401 - fixture


async def test_delete_removes_the_objects_and_keeps_the_record(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "a.mp4", b"12345")
    record = rec.ended("EG_1", files={"a.mp4": 5})
    await rec.announce(record)
    [recording] = rec.store.of_egress(record.id)
    rec.clock.advance(60)
    deleted = await rec.service.delete(recording.id, actor="tester")
    assert (deleted.status, deleted.reason, deleted.deleted_at) == (
        RecordingStatus.DELETED, "deleted through the API", rec.clock())
    assert (BUCKET, "a.mp4") not in rec.s3.objects
    assert rec.store.history(recording.id)[-1].detail == "deleted through the API: 1 object(s) deleted"
    assert await rec.service.delete(recording.id, actor="tester") == deleted  # again: nothing to do
    with pytest.raises(RecordingNotDownloadable):
        await rec.service.download_link(recording.id)
    with pytest.raises(NotFound):
        await rec.service.delete("rec_unknown", actor="tester")


async def test_deleting_hls_deletes_the_playlist_and_its_segments(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "live/index.m3u8", b"#EXTM3U\n#EXTINF:2,\nseg0.ts\n#EXTINF:2,\nseg1.ts\n")
    for name in ("seg0.ts", "seg1.ts"):
        rec.s3.put(BUCKET, f"live/{name}", b"x")
    rec.s3.put(BUCKET, "other/keep.ts", b"x")
    segments = (SegmentResult(playlist_name="live/index.m3u8", segment_count=2,
                              playlist_location=f"https://s3.example/{BUCKET}/live/index.m3u8"),)
    record = rec.ended("EG_1", segments=segments)
    await rec.announce(record)
    [playlist] = rec.store.of_egress(record.id)
    assert playlist.status == RecordingStatus.READY
    await rec.service.delete(playlist.id, actor="tester")
    assert list(rec.s3.objects) == [(BUCKET, "other/keep.ts")]


async def test_storage_unreachable_during_delete_changes_nothing(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "a.mp4", b"12345")
    record = rec.ended("EG_1", files={"a.mp4": 5})
    await rec.announce(record)
    [recording] = rec.store.of_egress(record.id)
    rec.s3.unreachable = True
    with pytest.raises(StorageUnavailable):
        await rec.service.delete(recording.id, actor="tester")
    assert rec.store.of_egress(record.id) == [recording]


async def test_retention_deletes_only_what_is_old_enough(rec: Recordings) -> None:  # noqa: F811
    now = rec.clock()
    for key in ("old.mp4", "new.mp4", "gone.mp4"):
        rec.s3.put(BUCKET, key, b"12345")
    old = rec.ended("EG_old", files={"old.mp4": 5}, ended=now - timedelta(days=8))
    new = rec.ended("EG_new", files={"new.mp4": 5}, ended=now - timedelta(days=6))
    gone = rec.ended("EG_gone", files={"gone.mp4": 5}, ended=now - timedelta(days=9))
    for record in (old, new, gone):
        await rec.announce(record)
    await rec.service.delete(rec.store.of_egress(gone.id)[0].id, actor="tester")  # already deleted: not a candidate
    dry = await rec.service.retention(dry_run=True)
    assert [r.egress_pk for r in dry.recordings] == [old.id] and dry.dry_run
    assert dry.cutoff == now - timedelta(days=7)
    assert rec.store.of_egress(old.id)[0].status == RecordingStatus.READY  # a dry run changes nothing
    assert [r.egress_pk for r in (await rec.service.retention(dry_run=True, days=5)).recordings] == [old.id, new.id]
    report = await rec.service.retention()
    assert [r.egress_pk for r in report.recordings] == [old.id] and report.failed == 0
    assert rec.store.of_egress(old.id)[0].status == RecordingStatus.DELETED
    assert rec.store.of_egress(old.id)[0].reason == "retention: older than 7 days"
    assert rec.store.of_egress(new.id)[0].status == RecordingStatus.READY
    assert (BUCKET, "new.mp4") in rec.s3.objects and (BUCKET, "old.mp4") not in rec.s3.objects
    assert (await rec.service.retention()).recordings == []


async def test_retention_counts_what_storage_would_not_delete() -> None:
    rec = build(retention_days=1)  # noqa: F811
    rec.s3.put(BUCKET, "a.mp4", b"12345")
    record = rec.ended("EG_1", files={"a.mp4": 5}, ended=rec.clock() - timedelta(days=2))
    await rec.announce(record)
    rec.s3.unreachable = True
    report = await rec.service.retention()
    assert (report.recordings, report.failed) == ([], 1)
    assert rec.store.of_egress(record.id)[0].status == RecordingStatus.READY


async def test_without_a_retention_period_nothing_is_deleted() -> None:
    rec = build(retention_days=None)  # noqa: F811
    record = rec.ended("EG_1", files={"a.mp4": 5}, ended=rec.clock() - timedelta(days=400))
    await rec.announce(record)
    report = await rec.service.retention()
    assert report.recordings == [] and rec.service.retention_days is None
