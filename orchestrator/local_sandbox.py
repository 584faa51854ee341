"""The sandbox LiveKit run inside the service's own process when no LIVEKIT_URL is set (`orchestrator serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.sandbox import SandboxLiveKit

log = logging.getLogger(__name__)

SANDBOX_BANNER = (
    "\n" + "=" * 78 + "\n"
    "  SANDBOX MODE: LIVEKIT_URL is not set, so this service talks to its built-in\n"
    "  sandbox LiveKit at {url}. Egresses are simulated: nothing is really\n"
    "  recorded or streamed. Set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET\n"
    "  to use a real LiveKit server or LiveKit Cloud. Room 'demo' has a publisher:\n"
    "    orchestrator egress start --room demo --s3 'demo/{{time}}.mp4'\n" + "=" * 78
)


class LocalSandbox:
    """Serves the sandbox LiveKit on `host:port` from `start()` to `aclose()`, its webhooks sent to `webhook_url`.

    Something to record on a fresh machine: room "demo" with one publisher.
    """

    def __init__(self, api_key: str, api_secret: str, host: str, port: int, webhook_url: str) -> None:
        self._key, self._secret, self._host, self._port = api_key, api_secret, host, port
        self._webhook_url = webhook_url
        self._sandbox: SandboxLiveKit | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from orchestrator.sandbox import SandboxLiveKit, serve_sandbox

        self._sandbox = SandboxLiveKit(self._key, self._secret, webhook_urls=[self._webhook_url])
        self._task = asyncio.create_task(serve_sandbox(self._sandbox, self._host, self._port))
        await self._sandbox.join("demo", "demo-host", name="Demo host")
        log.warning(SANDBOX_BANNER.format(url=f"http://{self._host}:{self._port}"))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._sandbox is not None:
            await self._sandbox.aclose()
            self._sandbox = None
