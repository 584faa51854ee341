"""Pure recordings and callbacks logic: catalog, verification, retention, playlists, signatures, retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.callbacks import (
    CallbackEvent,
    CallbackEventType,
    check_callback_url,
    event_id,
    next_attempt,
    sign,
    verify,
)
from orchestrator.domain.egress import (
    EgressRecord,
    EgressStatus,
    FileResult,
    Origin,
    Results,
    SegmentResult,
)
from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.recordings import (
    ObjectHead,
    RecordingNotDownloadable,
    RecordingStatus,
    StorageKind,
    catalog_egress,
    ensure_downloadable,
    link_signature,
    link_valid,
    next_check_delay,
    retention_due,
    rewrite_playlist,
    split_location,
    verification,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def egress(status: EgressStatus = EgressStatus.COMPLETE, **results: object) -> EgressRecord:
    return EgressRecord(id="egr_1", egress_id="EG_1", kind=None, room_name="r", status=status, origin=Origin.API,
                        created_at=NOW, updated_at=NOW, room_id="RM_1", request={"storage": {"bucket": "b"}},
                        results=Results(**results))  # type: ignore[arg-type]


def test_catalog_one_recording_per_file_and_playlist_with_stable_ids() -> None:
    record = egress(files=(FileResult("a/x.mp4", "http://s3:9000/b/a/x.mp4", 10, 2.0),),
                    segments=(SegmentResult("a/p.m3u8", "http://s3:9000/b/a/p.m3u8", segment_count=3),))
    first = catalog_egress(record, "default", NOW)
    assert [(r.kind.value, r.part, r.bucket, r.key) for r in first] == [
        ("file", 0, "b", "a/x.mp4"), ("hls", 1, "b", "a/p.m3u8")]
    assert [r.id for r in first] == [r.id for r in catalog_egress(record, "default", NOW + timedelta(1))]
    assert all(r.status == RecordingStatus.VERIFYING for r in first)


def test_catalog_ignores_unfinished_aborted_and_empty_results() -> None:
    files = (FileResult("x.mp4", "http://h/b/x.mp4", 5),)
    assert catalog_egress(egress(EgressStatus.ACTIVE, files=files), "b", NOW) == []
    assert catalog_egress(egress(EgressStatus.ABORTED, files=files), "b", NOW) == []
    assert catalog_egress(egress(files=(FileResult("x.mp4"),)), "b", NOW) == []


@pytest.mark.parametrize(("location", "expected"), [
    ("http://127.0.0.1:9000/bucket/a/b.mp4", (StorageKind.S3, "bucket", "a/b.mp4")),
    ("https://bucket.s3.amazonaws.com/a/b.mp4", (StorageKind.S3, "bucket", "a/b.mp4")),
    ("https://bucket.s3.eu-west-1.amazonaws.com/k.mp4", (StorageKind.S3, "bucket", "k.mp4")),
    ("/recordings/a.mp4", (StorageKind.LOCAL, "", "recordings/a.mp4")),
])
def test_split_location(location: str, expected: tuple[StorageKind, str, str]) -> None:
    assert split_location(location) == expected


def test_verification_ready_missing_and_incomplete() -> None:
    [rec] = catalog_egress(egress(files=(FileResult("x.mp4", "http://h/b/x.mp4", 100),)), "b", NOW)
    assert verification(rec, ObjectHead(100)) == (RecordingStatus.READY, "")
    status, reason = verification(rec, None)
    assert status == RecordingStatus.MISSING and "s3://b/x.mp4 does not exist" in reason
    status, reason = verification(rec, ObjectHead(40))
    assert status == RecordingStatus.MISSING and "incomplete" in reason


def test_downloadable_only_when_not_missing_or_deleted() -> None:
    [rec] = catalog_egress(egress(files=(FileResult("x.mp4", "http://h/b/x.mp4", 1),)), "b", NOW)
    ensure_downloadable(rec)
    import dataclasses

    with pytest.raises(RecordingNotDownloadable, match="missing: gone"):
        ensure_downloadable(dataclasses.replace(rec, status=RecordingStatus.MISSING, reason="gone"))


def test_retention_and_backoff() -> None:
    [rec] = catalog_egress(egress(files=(FileResult("x.mp4", "http://h/b/x.mp4", 1, ended_at=NOW),)), "b", NOW)
    assert retention_due(rec, NOW + timedelta(days=7), timedelta(days=7))
    assert not retention_due(rec, NOW + timedelta(days=6), timedelta(days=7))
    assert [next_check_delay(n).total_seconds() for n in (1, 2, 3, 30)] == [4, 8, 16, 600]


def test_playlist_rewrite_resolves_segments_against_the_playlist_folder() -> None:
    text = "#EXTM3U\n#EXTINF:2.0,\nseg_00000.ts\n#EXTINF:2.0,\nhttps://cdn/abs.ts\n#EXT-X-ENDLIST"
    out = rewrite_playlist("live/p.m3u8", text, lambda key: f"signed:{key}")
    assert "signed:live/seg_00000.ts" in out and "https://cdn/abs.ts" in out and out.startswith("#EXTM3U")


def test_link_signature_expires_and_binds_the_recording() -> None:
    expires = int((NOW + timedelta(hours=1)).timestamp())
    sig = link_signature(b"k", "rec_1", "playlist", expires)
    assert link_valid(b"k", "rec_1", "playlist", expires, sig, NOW)
    assert not link_valid(b"k", "rec_2", "playlist", expires, sig, NOW)
    assert not link_valid(b"k", "rec_1", "playlist", expires, sig, NOW + timedelta(hours=2))


def test_callback_signature_ids_and_retry_window() -> None:
    assert event_id(CallbackEventType.RECORDING_READY, "rec_1") == event_id(CallbackEventType.RECORDING_READY, "rec_1")
    ready, missing = CallbackEventType.RECORDING_READY, CallbackEventType.RECORDING_MISSING
    assert event_id(ready, "rec_1") != event_id(missing, "rec_1")
    body = CallbackEvent("evt_1", CallbackEventType.EGRESS_FAILED, NOW, {"a": 1}).body()
    ts = int(NOW.timestamp())
    header = f"t={ts},v1={sign('s3cr3t', ts, body)}"
    assert verify("s3cr3t", header, body, ts + 10)
    assert not verify("s3cr3t", header, body + b" ", ts + 10)
    assert not verify("s3cr3t", header, body, ts + 3600)  # replayed too late
    assert next_attempt(1, NOW, NOW) == NOW + timedelta(seconds=1)
    assert next_attempt(20, NOW, NOW + timedelta(hours=1)) == NOW + timedelta(hours=1, minutes=15)
    assert next_attempt(20, NOW, NOW + timedelta(hours=23, minutes=59)) == NOW + timedelta(hours=24)
    assert next_attempt(5, NOW, NOW + timedelta(hours=24)) is None


def test_callback_urls_must_be_http() -> None:
    assert check_callback_url(" https://app.example/hook ", "url") == "https://app.example/hook"
    for bad in ("ftp://x/y", "javascript:alert(1)", "http://"):
        with pytest.raises(InvalidInput) as exc:
            check_callback_url(bad, "callbacks.0.url")
        assert exc.value.field == "callbacks.0.url"
