"""What the console's player fetches for a signed-in person (no signature): a recording or one segment its playlist
names, local or presigned from S3, and playlists whose segment links the caller chooses."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from orchestrator.domain.egress import SegmentResult
from orchestrator.domain.errors import NotFound
from orchestrator.domain.recordings import RecordingNotDownloadable, RecordingStatus
from orchestrator.services.recordings import DownloadLink, LocalFile
from tests.services.recordings_world import BUCKET, Recordings, rec  # noqa: F401 - fixture

PLAYLIST = b"#EXTM3U\n#EXTINF:2,\nseg0.ts\n#EXTINF:2,\nseg1.ts\n#EXT-X-ENDLIST\n"


async def hls(rec: Recordings, location: str) -> str:  # noqa: F811
    record = rec.ended("EG_1", segments=(SegmentResult(playlist_name="live/index.m3u8", segment_count=2,
                                                       playlist_location=location),))
    await rec.announce(record)
    [playlist] = rec.store.of_egress(record.id)
    assert playlist.status == RecordingStatus.READY
    return playlist.id


async def test_a_local_file_and_the_segments_its_playlist_names_and_nothing_else(rec: Recordings) -> None:  # noqa: F811
    rec.volume.put("", "live/index.m3u8", PLAYLIST)
    for name in ("seg0.ts", "seg1.ts", "other.ts"):
        rec.volume.put("", f"live/{name}", b"\x47")
    playlist = await hls(rec, "live/index.m3u8")
    text = await rec.service.playlist_for(playlist, lambda key: f"/play?key={key}")
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "/play?key=live/seg0.ts", "/play?key=live/seg1.ts"]
    segment = await rec.service.media(playlist, "live/seg1.ts")
    assert segment == LocalFile(Path("/volume/live/seg1.ts"), "video/mp2t")
    for key in ("live/other.ts", "../secrets", "seg0.ts"):
        with pytest.raises(NotFound, match="has no segment"):
            await rec.service.media(playlist, key)


async def test_s3_objects_are_presigned(rec: Recordings) -> None:  # noqa: F811
    rec.s3.put(BUCKET, "rooms/a.mp4", b"12345")
    file = rec.ended("EG_2", files={"rooms/a.mp4": 5})
    await rec.announce(file)
    [mp4] = rec.store.of_egress(file.id)
    link = await rec.service.media(mp4.id)
    assert isinstance(link, DownloadLink) and link.url.startswith(f"memory://{BUCKET}/rooms/a.mp4?")
    rec.s3.put(BUCKET, "live/index.m3u8", PLAYLIST)
    playlist = await hls(rec, f"https://s3.example/{BUCKET}/live/index.m3u8")
    text = await rec.service.playlist_for(playlist, lambda key: pytest.fail("S3 segments are presigned"))
    segments = [line for line in text.splitlines() if not line.startswith("#")]
    assert [urlsplit(s).path for s in segments] == ["/live/seg0.ts", "/live/seg1.ts"]
    assert all(parse_qs(urlsplit(s).query)["expires"] == ["3600"] for s in segments)
    segment = await rec.service.media(playlist, "live/seg0.ts")
    assert isinstance(segment, DownloadLink) and segment.url.startswith(f"memory://{BUCKET}/live/seg0.ts?")


async def test_nothing_of_a_missing_or_deleted_recording(rec: Recordings) -> None:  # noqa: F811
    record = rec.ended("EG_3", files={"gone.mp4": 5})
    await rec.announce(record)
    [missing] = rec.store.of_egress(record.id)
    with pytest.raises(RecordingNotDownloadable, match="missing"):
        await rec.service.media(missing.id)
    rec.s3.put(BUCKET, "live/index.m3u8", PLAYLIST)
    playlist = await hls(rec, f"https://s3.example/{BUCKET}/live/index.m3u8")
    await rec.service.delete(playlist, actor="alice")
    with pytest.raises(RecordingNotDownloadable, match="deleted"):
        await rec.service.playlist_for(playlist, str)
