"""Recordings on embedded defaults: no S3, the sandbox writes real media to `<data_dir>/recordings`; without
storage against a real LiveKit, what would write files is refused at creation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.config import Settings
from orchestrator.sandbox.rtmp_push import find_ffmpeg
from tests.harness import API_TOKEN, ServiceThread, free_port, wait_until

needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None or find_ffmpeg() is None,
                                   reason="ffmpeg/ffprobe are not installed")


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[ServiceThread]:
    """The service as `orchestrator serve` runs it on a fresh machine: SQLite, no S3, the sandbox in-process."""
    port = free_port()
    settings = Settings(
        livekit_url=None, livekit_api_key=None, livekit_api_secret=None, s3_bucket=None, recordings_dir=None,
        data_dir=tmp_path / "data", api_token=API_TOKEN, port=port, public_url=f"http://127.0.0.1:{port}",
        sandbox_port=free_port(), reconcile_interval_s=3600, recordings_verify_interval_s=0.5)
    service = ServiceThread(settings).start()
    yield service
    service.stop()


def probe(source: str) -> dict[str, Any]:
    """ffprobe's view of a file or URL: format and streams."""
    command = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", source]
    out = subprocess.run(command, check=True, capture_output=True, timeout=30).stdout
    result: dict[str, Any] = json.loads(out)
    return result


@needs_ffprobe
def test_embedded_recording_is_written_verified_and_served_with_range(embedded: ServiceThread,
                                                                       tmp_path: Path) -> None:
    volume = tmp_path / "data" / "recordings"
    with embedded.client() as c:
        r = wait_until(lambda: (x := c.post("/v1/egresses", json={
            "kind": "room_composite", "room_name": "demo",
            "outputs": [{"type": "file", "filepath": "demo/{time}.mp4"},
                        {"type": "hls", "filename_prefix": "demo/hls/part", "playlist_name": "demo/hls/index.m3u8",
                         "segment_duration_s": 1}]})).status_code == 201 and x, timeout=10)
        egress = r.json()
        wait_until(lambda: c.get(f"/v1/egresses/{egress['id']}").json()["status"] == "active", timeout=10)
        time.sleep(1.5)  # a recording worth probing
        assert c.post(f"/v1/egresses/{egress['id']}/stop").status_code == 200
        ready = wait_until(lambda: (items := [x for x in c.get("/v1/recordings", params={"egress": egress["id"]})
                                              .json()["items"] if x["status"] == "ready"]) and len(items) == 2
                           and items, timeout=20)
        by_kind = {x["kind"]: x for x in ready}
        assert {x["storage"] for x in ready} == {"local"}
        mp4 = by_kind["file"]
        assert mp4["key"].startswith("demo/") and (volume / mp4["key"]).is_file()
        link = c.get(f"/v1/recordings/{mp4['id']}/download", params={"redirect": "false"}).json()
        playlist_link = c.get(f"/v1/recordings/{by_kind['hls']['id']}/download",
                              params={"redirect": "false"}).json()
    url = link["url"]
    on_disk = (volume / mp4["key"]).read_bytes()
    head = httpx.get(url, headers={"Range": "bytes=0-999"})  # a signed link: no API token
    assert head.status_code == 206 and head.headers["content-range"] == f"bytes 0-999/{len(on_disk)}"
    rest = httpx.get(url, headers={"Range": "bytes=1000-"})
    assert rest.status_code == 206
    downloaded = tmp_path / "download.mp4"
    downloaded.write_bytes(head.content + rest.content)
    assert downloaded.read_bytes() == on_disk and len(on_disk) == mp4["size_bytes"]
    media = probe(str(downloaded))
    assert {s["codec_name"] for s in media["streams"]} == {"h264", "aac"}
    assert float(media["format"]["duration"]) >= 1.0
    hls = probe(playlist_link["url"])  # the signed playlist; its segment links are signed too
    assert {s["codec_name"] for s in hls["streams"]} == {"h264", "aac"}
    environ = {**os.environ, "ORCHESTRATOR_PUBLIC_URL": embedded.url, "ORCHESTRATOR_API_TOKEN": API_TOKEN}
    target = tmp_path / "talk.mp4"
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "recordings", "download", mp4["id"],
                           "-o", str(target)], env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == on_disk


def test_a_real_livekit_without_storage_refuses_what_writes_files(service_factory: Any) -> None:
    service: ServiceThread = service_factory(s3_bucket=None)  # LIVEKIT_URL set (the sandbox, as if real)
    hint = ("ORCHESTRATOR_S3_BUCKET", "ORCHESTRATOR_RECORDINGS_DIR")
    with service.client() as c:
        answers = {
            "outputs": c.post("/v1/egresses", json={"kind": "room_composite", "room_name": "studio",
                                                     "outputs": [{"type": "file", "filepath": "x.mp4"}]}),
            "actions": c.post("/v1/rules", json={"name": "classes", "match": {"room_name_glob": "class-*"},
                                                 "actions": {"composite": {}}}),
            "record": c.post("/v1/broadcasts", json={
                "room_name": "studio", "max_duration_s": 30, "record": {"filepath": "studio/{time}.mp4"},
                "destinations": [{"type": "rtmp", "url": "rtmp://127.0.0.1:1/live/key-0123456789"}]}),
        }
        for field, r in answers.items():
            assert r.status_code == 422, (field, r.text)
            error = r.json()["error"]
            assert error["field"] == field and all(h in error["message"] for h in hint), error
        assert c.get("/v1/egresses").json()["items"] == [] and c.get("/v1/rules").json()["items"] == []
