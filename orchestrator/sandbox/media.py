"""Sandbox media: a finished file or HLS output becomes a real, playable ffmpeg test pattern where it was sent.

The video lasts as long as the egress ran. An output with S3 upload config is uploaded to that bucket; one
without any upload config is written to the worker's own disk, as LiveKit's egress does: under
``SandboxMedia.files_dir`` (a directory the sandbox shares with the service, like a volume shared with real
egress workers), at the output's filepath. Without ffmpeg, credentials, a reachable endpoint or a disk, this
logs and skips: the sandbox reports what it always did.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from livekit import api

from . import outputs, rtmp_push

logger = logging.getLogger(__name__)

_tasks: set[asyncio.Task[None]] = set()


@dataclass(frozen=True)
class _Job:
    kind: str  # "file" or "hls"
    result: Any  # the FileInfo or SegmentsInfo to fill with the real size
    s3: api.S3Upload | None  # None: the worker's own disk


def write_then(info: api.EgressInfo, plan: outputs.OutputPlan, done: Callable[[], None], files_dir: str = "") -> bool:
    """Render the egress's file/HLS output in the background (upload or write to disk), then call `done`.

    False (and `done` is not called) when there is nothing to write: the caller finishes at once.
    """
    jobs: list[_Job] = []
    if plan.file is not None and info.file_results:
        jobs.append(_Job("file", info.file_results[0], _s3_of(plan.file)))
    if plan.segments is not None and info.segment_results:
        jobs.append(_Job("hls", info.segment_results[0], _s3_of(plan.segments)))
    jobs = [j for j in jobs if (_usable(j.s3) if j.s3 is not None else _has_disk(plan, files_dir))]
    if not jobs:
        return False
    ffmpeg = rtmp_push.find_ffmpeg()
    if ffmpeg is None:
        logger.info("sandbox media: no ffmpeg found; no media written")
        return False
    segment_s = (plan.segments.segment_duration if plan.segments is not None else 0) or 4

    async def run() -> None:
        try:
            for job in jobs:
                await asyncio.to_thread(_write, ffmpeg, job, segment_s, files_dir)
        except Exception as exc:  # never let media break the egress lifecycle
            logger.warning("sandbox media: not written (%s: %s)", type(exc).__name__, exc)
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


def _has_disk(plan: outputs.OutputPlan, files_dir: str) -> bool:
    """A local output (no upload config of any kind) and a disk to write it to."""
    output = plan.file if plan.file is not None else plan.segments
    oneofs = {o.name for o in output.DESCRIPTOR.oneofs} if output is not None else set()
    uploads = "output" in oneofs and output is not None and output.WhichOneof("output") is not None
    return bool(files_dir) and not uploads


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


def _ffmpeg(ffmpeg: str, args: list[str], seconds: float) -> None:
    base = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", f"{seconds:.3f}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", "15", "-c:a", "aac", "-b:a", "64k"]
    subprocess.run([*base, *args], check=True, capture_output=True, timeout=max(60.0, seconds * 2))  # noqa: S603


def on_disk(files_dir: str, name: str) -> Path:
    """Where the worker writes `name` (a filepath, absolute or not) on its disk; never outside `files_dir`."""
    root = Path(files_dir).resolve()
    path = (root / name.lstrip("/")).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"output path {name!r} points outside the egress worker's directory")
    return path


def _write(ffmpeg: str, job: _Job, segment_s: int, files_dir: str) -> None:
    result = job.result
    seconds = max(0.5, result.duration / 1e9)
    with tempfile.TemporaryDirectory(prefix="sandbox-media-") as tmp:
        if job.kind == "file":
            if not result.filename.lower().endswith(".mp4"):
                logger.info("sandbox media: only MP4 files are rendered, not %s", result.filename)
                return
            path = Path(tmp) / "out.mp4"
            _ffmpeg(ffmpeg, ["-movflags", "+faststart", str(path)], seconds)
            _store(job.s3, files_dir, path, result.filename, "video/mp4")
            result.size = path.stat().st_size
            logger.info("sandbox media: wrote %.1f s MP4 to %s", seconds, _where(job.s3, result.filename))
            return
        playlist_key = result.playlist_name
        folder = os.path.dirname(playlist_key)
        stem = os.path.splitext(os.path.basename(playlist_key))[0]
        playlist = Path(tmp) / os.path.basename(playlist_key)
        _ffmpeg(ffmpeg, ["-f", "hls", "-hls_time", str(segment_s), "-hls_playlist_type", "vod",
                         "-hls_segment_filename", str(Path(tmp) / f"{stem}_%05d.ts"), str(playlist)], seconds)
        segments = sorted(p for p in Path(tmp).iterdir() if p.suffix == ".ts")
        for segment in segments:
            key = f"{folder}/{segment.name}" if folder else segment.name
            _store(job.s3, files_dir, segment, key, "video/mp2t")
        _store(job.s3, files_dir, playlist, playlist_key, "application/vnd.apple.mpegurl")  # last: complete
        result.segment_count = len(segments)
        result.size = sum(p.stat().st_size for p in segments)
        logger.info("sandbox media: wrote %.1f s HLS (%d segments) to %s", seconds, len(segments),
                    _where(job.s3, playlist_key))


def _store(s3: api.S3Upload | None, files_dir: str, source: Path, key: str, content_type: str) -> None:
    """Upload `source` as `key`, or (no S3) move it into place on disk, whole or not at all."""
    if s3 is not None:
        _client(s3).upload_file(str(source), s3.bucket, key, ExtraArgs={"ContentType": content_type})
        return
    target = on_disk(files_dir, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def _where(s3: api.S3Upload | None, key: str) -> str:
    return f"s3://{s3.bucket}/{key}" if s3 is not None else f"the egress worker's disk ({key})"
