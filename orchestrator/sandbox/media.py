"""Sandbox media: a finished file or HLS output becomes a real, playable ffmpeg test pattern in its S3 target.

The video lasts as long as the egress ran. Without ffmpeg, without credentials or with the endpoint
unreachable, this logs and skips: the sandbox works without S3, and reports what it always did.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from livekit import api

from . import outputs

logger = logging.getLogger(__name__)

_tasks: set[asyncio.Task[None]] = set()


def write_then(info: api.EgressInfo, plan: outputs.OutputPlan, done: Callable[[], None]) -> bool:
    """Render and upload the egress's file/HLS output in the background, then call `done`.

    False (and `done` is not called) when there is nothing to write: the caller finishes at once.
    """
    jobs: list[tuple[str, Any, Any]] = []
    if plan.file is not None and info.file_results and _s3_of(plan.file) is not None:
        jobs.append(("file", _s3_of(plan.file), info.file_results[0]))
    if plan.segments is not None and info.segment_results and _s3_of(plan.segments) is not None:
        jobs.append(("hls", _s3_of(plan.segments), info.segment_results[0]))
    jobs = [j for j in jobs if _usable(j[1])]
    if not jobs:
        return False
    if shutil.which("ffmpeg") is None:
        logger.info("sandbox media: ffmpeg is not installed; no media written")
        return False
    segment_s = (plan.segments.segment_duration if plan.segments is not None else 0) or 4

    async def run() -> None:
        try:
            for kind, s3, result in jobs:
                await asyncio.to_thread(_write, kind, s3, result, segment_s)
        except Exception as exc:  # never let media break the egress lifecycle
            logger.warning("sandbox media: not written (%s)", type(exc).__name__)
        finally:
            done()

    task = asyncio.get_running_loop().create_task(run())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return True


def _s3_of(output: Any) -> api.S3Upload | None:
    oneofs = {o.name for o in output.DESCRIPTOR.oneofs}
    if "output" in oneofs and output.WhichOneof("output") == "s3":
        s3: api.S3Upload = output.s3
        return s3
    return None


def _usable(s3: api.S3Upload) -> bool:
    """Credentials given and the endpoint answers a TCP connect (quickly: this runs at finalize)."""
    if not s3.bucket or not (s3.access_key and s3.secret):
        return False
    if s3.endpoint:
        parts = urlsplit(s3.endpoint)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    else:
        host, port = f"s3.{s3.region or 'us-east-1'}.amazonaws.com", 443
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        logger.info("sandbox media: storage endpoint %s:%d unreachable; no media written", host, port)
        return False


def _client(s3: api.S3Upload) -> Any:
    import boto3
    from botocore.client import Config

    config = Config(connect_timeout=3, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"},
                    s3={"addressing_style": "path" if s3.force_path_style else "auto"})
    return boto3.session.Session().client(
        "s3", region_name=s3.region or "us-east-1", endpoint_url=s3.endpoint or None,
        aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret, config=config)


def _ffmpeg(args: list[str], seconds: float) -> None:
    base = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", f"{seconds:.3f}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", "15", "-c:a", "aac", "-b:a", "64k"]
    subprocess.run([*base, *args], check=True, capture_output=True, timeout=max(60.0, seconds * 2))  # noqa: S603


def _write(kind: str, s3: api.S3Upload, result: Any, segment_s: int) -> None:
    seconds = max(0.5, result.duration / 1e9)
    client = _client(s3)
    with tempfile.TemporaryDirectory(prefix="sandbox-media-") as tmp:
        if kind == "file":
            if not result.filename.lower().endswith(".mp4"):
                logger.info("sandbox media: only MP4 files are rendered, not %s", result.filename)
                return
            path = Path(tmp) / "out.mp4"
            _ffmpeg(["-movflags", "+faststart", str(path)], seconds)
            client.upload_file(str(path), s3.bucket, result.filename, ExtraArgs={"ContentType": "video/mp4"})
            result.size = path.stat().st_size
            logger.info("sandbox media: wrote %.1f s MP4 to s3://%s/%s", seconds, s3.bucket, result.filename)
            return
        playlist_key = result.playlist_name
        folder = os.path.dirname(playlist_key)
        stem = os.path.splitext(os.path.basename(playlist_key))[0]
        playlist = Path(tmp) / os.path.basename(playlist_key)
        _ffmpeg(["-f", "hls", "-hls_time", str(segment_s), "-hls_playlist_type", "vod",
                 "-hls_segment_filename", str(Path(tmp) / f"{stem}_%05d.ts"), str(playlist)], seconds)
        segments = sorted(p for p in Path(tmp).iterdir() if p.suffix == ".ts")
        for segment in segments:
            key = f"{folder}/{segment.name}" if folder else segment.name
            client.upload_file(str(segment), s3.bucket, key, ExtraArgs={"ContentType": "video/mp2t"})
        client.upload_file(str(playlist), s3.bucket, playlist_key,
                           ExtraArgs={"ContentType": "application/vnd.apple.mpegurl"})
        result.segment_count = len(segments)
        result.size = sum(p.stat().st_size for p in segments)
        logger.info("sandbox media: wrote %.1f s HLS (%d segments) to s3://%s/%s", seconds, len(segments),
                    s3.bucket, playlist_key)
