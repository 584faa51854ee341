"""Download links on the fakes: presigned S3 GETs, signed playlists with signed segments, signed local files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from orchestrator.domain.egress import SegmentResult
from orchestrator.domain.errors import NotFound, StorageUnavailable
from orchestrator.domain.recordings import RecordingNotDownloadable, RecordingStatus, link_signature
from tests.services.recordings_world import BUCKET, LINK_KEY, Recordings, rec  # noqa: F401 - fixture


def tampered(sig: str) -> str:
    return ("1" if sig[0] == "0" else "0") + sig[1:]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_an_s3_file_gets_a_presigned_link(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "rooms/a.mp4", b"12345")
    record = rec.ended("EG_1", files={"rooms/a.mp4": 5})
    await rec.announce(record)
    [recording] = rec.store.of_egress(record.id)
    link = await rec.service.download_link(recording.id, 600)
    assert link.url.startswith(f"memory://{BUCKET}/rooms/a.mp4?")
    assert query(link.url) == {"expires": "600", "filename": "a.mp4"}
    assert link.expires_at == rec.clock() + timedelta(seconds=600)
    default = await rec.service.download_link(recording.id)
    assert query(default.url)["expires"] == "3600"
    with pytest.raises(NotFound):
        await rec.service.download_link("rec_unknown")


async def test_a_missing_recording_has_no_link(rec: Recordings) -> None:  # noqa: F811
    record = rec.ended("EG_1", files={"a.mp4": 5})
    await rec.announce(record)
    [recording] = rec.store.of_egress(record.id)
    assert recording.status == RecordingStatus.MISSING
    with pytest.raises(RecordingNotDownloadable):
        await rec.service.download_link(recording.id)


async def test_hls_gets_a_signed_playlist_whose_segments_are_presigned(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "live/index.m3u8", b"#EXTM3U\n#EXTINF:2,\nseg0.ts\n")
    segments = (SegmentResult(playlist_name="live/index.m3u8", segment_count=1,
                              playlist_location=f"https://s3.example/{BUCKET}/live/index.m3u8"),)
    record = rec.ended("EG_1", segments=segments)
    await rec.announce(record)
    [playlist] = rec.store.of_egress(record.id)
    link = await rec.service.download_link(playlist.id, 600)
    assert link.url.startswith(f"https://orchestrator.example/v1/recordings/{playlist.id}/playlist.m3u8?")
    signed = query(link.url)
    rec.clock.advance(100)
    text = await rec.service.playlist(playlist.id, int(signed["expires"]), signed["sig"])
    assert text.splitlines()[:2] == ["#EXTM3U", "#EXTINF:2,"]
    segment = text.splitlines()[2]
    assert segment.startswith(f"memory://{BUCKET}/live/seg0.ts?") and query(segment)["expires"] == "500"
    with pytest.raises(NotFound):
        await rec.service.playlist(playlist.id, int(signed["expires"]), tampered(signed["sig"]))
    rec.clock.advance(501)
    with pytest.raises(NotFound):  # expired
        await rec.service.playlist(playlist.id, int(signed["expires"]), signed["sig"])


async def test_a_playlist_storage_cannot_read_is_unavailable(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "live/index.m3u8", b"#EXTM3U\n")
    segments = (SegmentResult(playlist_name="live/index.m3u8", segment_count=1,
                              playlist_location=f"https://s3.example/{BUCKET}/live/index.m3u8"),)
    record = rec.ended("EG_1", segments=segments)
    await rec.announce(record)
    [playlist] = rec.store.of_egress(record.id)
    signed = query((await rec.service.download_link(playlist.id)).url)
    del rec.s3.objects[(BUCKET, "live/index.m3u8")]
    with pytest.raises(StorageUnavailable):
        await rec.service.playlist(playlist.id, int(signed["expires"]), signed["sig"])


async def test_a_local_file_is_served_through_a_signed_link(rec: Recordings) -> None:  # noqa: F811
    rec.volume.put("", "rooms/standup.mp4", b"12345")
    record = rec.ended("EG_1", files={"rooms/standup.mp4": 5}, location="/rooms/standup.mp4")
    await rec.announce(record)
    [recording] = rec.store.of_egress(record.id)
    assert recording.status == RecordingStatus.READY and recording.storage.value == "local"
    link = await rec.service.download_link(recording.id)
    assert link.url.startswith(f"https://orchestrator.example/v1/recordings/{recording.id}/content?")
    signed = query(link.url)
    local = await rec.service.local_file(recording.id, int(signed["expires"]), signed["sig"])
    assert (local.path, local.media_type) == (Path("/volume/rooms/standup.mp4"), "video/mp4")
    with pytest.raises(NotFound):  # a signature for the whole file does not open another key
        await rec.service.local_file(recording.id, int(signed["expires"]), signed["sig"], "rooms/other.mp4")
    del rec.volume.objects[("", "rooms/standup.mp4")]
    with pytest.raises(NotFound, match="no longer on the volume"):
        await rec.service.local_file(recording.id, int(signed["expires"]), signed["sig"])


async def test_an_s3_recording_is_not_a_local_file(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "a.mp4", b"12345")
    record = rec.ended("EG_1", files={"a.mp4": 5})
    await rec.announce(record)
    [recording] = rec.store.of_egress(record.id)
    expires = int(rec.clock().timestamp()) + 60  # a content link signed for an S3 recording is still refused
    sig = link_signature(LINK_KEY, recording.id, "content", expires)
    with pytest.raises(NotFound, match="not on the local volume"):
        await rec.service.local_file(recording.id, expires, sig)
