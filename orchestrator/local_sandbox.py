"""The sandbox LiveKit run inside the service's own process when no LIVEKIT_URL is set (`orchestrator serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.sandbox import SandboxLiveKit

log = logging.getLogger(__name__)

SANDBOX_BANNER = (
    "\n" + "=" * 78 + "\n"
    "  SANDBOX MODE: LIVEKIT_URL is not set, so this service talks to its built-in\n"
    "  sandbox LiveKit at {url}. Egresses are simulated; their files\n"
    "  are test patterns, {media}.\n"
    "  Set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET\n"
    "  to use a real LiveKit server or LiveKit Cloud. Room 'demo' has a publisher:\n"
    "    orchestrator egress start --room demo --s3 'demo/{{time}}.mp4'\n" + "=" * 78
)
NO_FFMPEG = ("no ffmpeg found (neither on PATH nor from the imageio-ffmpeg package): the sandbox writes no media, "
             "so its recordings stay empty; install ffmpeg or `pip install imageio-ffmpeg`")


def sandbox_ffmpeg() -> str | None:
    """The ffmpeg the sandbox renders media with (the machine's, else imageio-ffmpeg's), or None if there is none."""
    from orchestrator.sandbox.rtmp_push import find_ffmpeg

    return find_ffmpeg()


def _media_note(files_dir: Path | None) -> str:
    if sandbox_ffmpeg() is None:
        return "but none is written: " + NO_FFMPEG
    if files_dir is None:
        return "uploaded to the configured S3 bucket"
    return f"written to {files_dir}"


class LocalSandbox:
    """Serves the sandbox LiveKit on `host:port` from `start()` to `aclose()`, its webhooks sent to `webhook_url`.

    Something to record on a fresh machine: room "demo" with one publisher.
    """

    def __init__(self, api_key: str, api_secret: str, host: str, port: int, webhook_url: str,
                 service: tuple[str, int] | None = None, files_dir: Path | None = None) -> None:
        self._key, self._secret, self._host, self._port = api_key, api_secret, host, port
        self._webhook_url = webhook_url
        self._service = service  # where the service listens: webhooks wait until it accepts connections
        self._files_dir = files_dir  # the egress worker's disk: outputs without S3 (the local recordings directory)
        self._sandbox: SandboxLiveKit | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve the sandbox; its webhooks are held until `ready()`."""
        from orchestrator.sandbox import SandboxLiveKit, SandboxMedia, serve_sandbox

        media = SandboxMedia(files_dir=str(self._files_dir.resolve()) if self._files_dir is not None else "")
        self._sandbox = SandboxLiveKit(self._key, self._secret, webhook_urls=[self._webhook_url], media=media)
        self._sandbox.hold_webhooks()
        self._task = asyncio.create_task(serve_sandbox(self._sandbox, self._host, self._port, embedded=True))
        log.info(SANDBOX_BANNER.format(url=f"http://{self._host}:{self._port}", media=_media_note(self._files_dir)))

    async def ready(self, timeout_s: float = 30.0) -> None:
        """Once the service accepts connections: send the held webhooks, open room "demo" with its publisher
        and wait until their webhooks were delivered (so nothing looks lost to the service's first sweep)."""
        assert self._sandbox is not None
        if self._service is not None:
            await _until_listening(*self._service, timeout_s=timeout_s)
        self._sandbox.release_webhooks()
        await self._sandbox.join("demo", "demo-host", name="Demo host")
        await asyncio.wait_for(self._sandbox.webhooks_idle(), timeout_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._sandbox is not None:
            await self._sandbox.aclose()
            self._sandbox = None


async def _until_listening(host: str, port: int, *, timeout_s: float) -> None:
    """Wait until host:port accepts a TCP connection (or the timeout passed)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
