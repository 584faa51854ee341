"""Sandbox media: an ffmpeg test pattern pushed to every active RTMP(S) stream of a sandbox egress.

While a sandbox egress is ACTIVE, each of its started RTMP/RTMPS streams gets one ffmpeg process (lavfi
``testsrc2`` + ``sine``, H.264 + AAC in FLV, real time with ``-re``, 640x360 at 500 kbit/s). The push stops
(``q`` on stdin, SIGINT if it never connected, a kill after ``SandboxMedia.stop_timeout``) when UpdateStream
removes the stream or the egress leaves ACTIVE (ENDING, LIMIT_REACHED, FAILED, ...). ``SandboxMedia.push_rtmp``
(on by default) switches it all off; without ffmpeg (``find_ffmpeg``) nothing is pushed and that is logged once.

Real connection failures count only on explicit opt-in, ``SandboxMedia.fail_refused`` (off by default). With it
on, a push whose ffmpeg exits before the destination accepted the publish (connection refused, unknown host,
unknown app; or no connection within ``connect_timeout``) fails that stream the way LiveKit does
(livekit-egress.md §3.4): stream FAILED with error and ended_at, then ``egress_updated`` if other outputs remain,
else the egress FAILS with 503. With it off, a refused push is logged and the stream stays ACTIVE, so a sandbox
whose destinations do not exist behaves exactly as without media. A "loopback hosts only" rule would not do:
tests and dev set-ups use ``rtmp://127.0.0.1:1935/...`` with nothing listening and expect ACTIVE streams.
The ``faults.rtmp_refuse`` fault is independent and decided first: a matching stream fails at connect time and
never gets a push. A push that drops after it connected is only logged (LiveKit's reconnects are not emulated).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import importlib
import ipaddress
import logging
import os
import shutil
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

from livekit import api

from .config import SandboxMedia
from .redact import redact_stream_url, redact_text

logger = logging.getLogger(__name__)

RTMP_PREFIXES = ("rtmp://", "rtmps://")
VIDEO_SOURCE = "testsrc2=size=640x360:rate=25"
AUDIO_SOURCE = "sine=frequency=440:sample_rate=48000"
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def find_ffmpeg() -> str | None:
    """The ffmpeg executable: the machine's (on PATH), else the one the `imageio-ffmpeg` package ships, else None.

    Tests replace this to simulate a machine without ffmpeg.
    """
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        exe = str(importlib.import_module("imageio_ffmpeg").get_ffmpeg_exe())
    except Exception:  # not installed, or no binary for this platform
        return None
    return exe if os.path.isfile(exe) else None


def ffmpeg_command(ffmpeg: str, url: str, *, audio_only: bool = False) -> list[str]:
    """A real-time test pattern (H.264 + AAC in FLV) published to ``url``, with progress on stdout."""
    command = [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "error"]
    if not audio_only:
        command += ["-re", "-f", "lavfi", "-i", VIDEO_SOURCE]
    command += ["-re", "-f", "lavfi", "-i", AUDIO_SOURCE]
    if not audio_only:
        command += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"]
        command += ["-g", "50", "-b:v", "500k", "-maxrate", "500k", "-bufsize", "1000k"]
    command += ["-c:a", "aac", "-b:a", "64k", "-progress", "pipe:1", "-f", "flv", url]
    return command


def wanted_streams(info: api.EgressInfo, raw_urls: Sequence[str]) -> dict[int, str]:
    """Index -> unredacted URL of every RTMP(S) stream that should be receiving media now."""
    if info.status != api.EGRESS_ACTIVE:
        return {}
    return {
        index: raw
        for index, (stream, raw) in enumerate(zip(info.stream_results, raw_urls, strict=True))
        if stream.status == api.StreamInfo.ACTIVE and stream.started_at and raw.lower().startswith(RTMP_PREFIXES)
    }


def is_loopback_url(url: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only hosts a sandbox pushes to by default."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _die_with_parent() -> None:
    """Runs in the forked child: ffmpeg gets SIGTERM if the thread that started it goes away."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class RtmpPush:
    """One ffmpeg process publishing to one URL; ``task`` runs until ffmpeg exits or is stopped."""

    def __init__(
        self,
        url: str,
        command: list[str],
        settings: Callable[[], SandboxMedia],
        on_refused: Callable[[], None],
        label: str,
    ) -> None:
        self.url = url
        self.label = label
        self.connected = False
        self._command = command
        self._settings = settings
        self._on_refused = on_refused
        self._stop = asyncio.Event()
        self._errors: deque[str] = deque(maxlen=4)
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"rtmp-push {label}")

    @property
    def running(self) -> bool:
        return not self.task.done() and not self._stop.is_set()

    def stop(self) -> None:
        """Ask ffmpeg to finish; ``task`` completes once it has exited."""
        self._stop.set()

    async def _run(self) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=_die_with_parent,  # only a prctl call between fork and exec
            )
        except OSError as exc:
            logger.warning("rtmp push %s: ffmpeg did not start: %s", self.label, exc)
            return
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.create_task(self._read_progress(proc.stdout)),
            asyncio.create_task(self._read_errors(proc.stderr)),
        ]
        try:
            timed_out = await self._supervise(proc)
            if not timed_out and not self._stop.is_set():
                await asyncio.gather(*readers, return_exceptions=True)  # ffmpeg exited: read all it said
            if self._stop.is_set():
                await self._halt(proc)
            elif timed_out or not self.connected:
                await self._halt(proc)
                self._refused(proc.returncode, timed_out)
            else:
                logger.warning(
                    "rtmp push %s: ffmpeg exited (%s) after connecting: %s",
                    self.label, proc.returncode, self._last_errors(),
                )
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            await asyncio.gather(*readers, return_exceptions=True)
        logger.info("rtmp push %s stopped", self.label)

    async def _supervise(self, proc: asyncio.subprocess.Process) -> bool:
        """Wait until ffmpeg exits or a stop is requested; True if it did not connect in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings().connect_timeout
        exited = asyncio.create_task(proc.wait())
        stopping = asyncio.create_task(self._stop.wait())
        try:
            while not (exited.done() or stopping.done()):
                remaining = None if self.connected else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return True
                await asyncio.wait({exited, stopping}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            return False
        finally:
            stopping.cancel()
            exited.cancel()

    async def _halt(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, ConnectionError, OSError):
            if self.connected and proc.stdin is not None:
                proc.stdin.write(b"q")
                await proc.stdin.drain()
            else:
                proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), self._settings().stop_timeout)
        except TimeoutError:
            logger.warning("rtmp push %s: ffmpeg did not stop in time; killing it", self.label)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def _refused(self, returncode: int | None, timed_out: bool) -> None:
        why = "no connection in time" if timed_out else f"ffmpeg exited with {returncode}"
        if not self._settings().fail_refused:
            logger.info(
                "rtmp push %s: destination refused (%s): %s; stream stays ACTIVE (media.fail_refused is off)",
                self.label, why, self._last_errors(),
            )
            return
        logger.info("rtmp push %s: destination refused (%s): %s", self.label, why, self._last_errors())
        self._on_refused()

    def _last_errors(self) -> str:
        return redact_text(" | ".join(self._errors), self.url) or "no error output"

    async def _read_progress(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            if line.startswith(b"progress="):
                self.connected = True

    async def _read_errors(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            text = line.decode(errors="replace").strip()
            if text:
                self._errors.append(text)


class RtmpPusher:
    """Starts and stops the pushes of every sandbox egress; ``sync`` is called on the sandbox loop."""

    def __init__(self, settings: Callable[[], SandboxMedia]) -> None:
        self._settings = settings
        self._pushes: dict[tuple[str, int], RtmpPush] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._warned = False

    def sync(
        self,
        egress_id: str,
        wanted: Mapping[int, str],
        *,
        audio_only: bool,
        on_refused: Callable[[int], None],
    ) -> None:
        """Make the egress's pushes match ``wanted`` (stream index -> unredacted URL)."""
        settings = self._settings()
        if not settings.push_rtmp:
            wanted = {}
        elif settings.loopback_only:
            wanted = {index: url for index, url in wanted.items() if is_loopback_url(url)}
        for key, push in list(self._pushes.items()):
            if key[0] == egress_id and wanted.get(key[1]) != push.url:
                self._retire(key)
        missing = {index: url for index, url in wanted.items() if (egress_id, index) not in self._pushes}
        if not missing:
            return
        ffmpeg = find_ffmpeg()
        if ffmpeg is None:
            if not self._warned:
                logger.warning("ffmpeg is not installed: the sandbox pushes no media to RTMP streams")
                self._warned = True
            return
        for index, url in missing.items():
            label = f"{egress_id}[{index}] {redact_stream_url(url)}"
            logger.info("rtmp push %s starting", label)
            self._pushes[(egress_id, index)] = RtmpPush(
                url,
                ffmpeg_command(ffmpeg, url, audio_only=audio_only),
                self._settings,
                functools.partial(on_refused, index),
                label,
            )

    def _retire(self, key: tuple[str, int]) -> None:
        push = self._pushes.pop(key)
        push.stop()
        if not push.task.done():
            self._stopping.add(push.task)
            push.task.add_done_callback(self._stopping.discard)

    def pushing(self, egress_id: str | None = None, *, connected: bool = False) -> list[str]:
        """Unredacted URLs with a live ffmpeg push (of one egress, or of all; optionally only connected ones)."""
        return [
            push.url
            for (eid, _), push in self._pushes.items()
            if push.running and egress_id in (None, eid) and (push.connected or not connected)
        ]

    async def idle(self) -> None:
        """Wait until every stopped push has exited."""
        while self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop every push and wait for the ffmpeg processes to exit."""
        for key in list(self._pushes):
            self._retire(key)
        await self.idle()
