"""The FastAPI app factory and its lifespan (database, sandbox LiveKit when needed, reconciler)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from orchestrator import __version__
from orchestrator.bootstrap import Container, build
from orchestrator.config import Settings
from orchestrator.layouts import routes as layouts
from orchestrator.logs import protect
from orchestrator.scheduler import build_scheduler

from . import errors
from .routes import egresses, health, webhooks

log = logging.getLogger(__name__)

SANDBOX_BANNER = (
    "\n" + "=" * 78 + "\n"
    "  SANDBOX MODE: LIVEKIT_URL is not set, so this service talks to its built-in\n"
    "  sandbox LiveKit at {url}. Egresses are simulated: nothing is really\n"
    "  recorded or streamed. Set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET\n"
    "  to use a real LiveKit server or LiveKit Cloud. Room 'demo' has a publisher:\n"
    "    orchestrator egress start --room demo --s3 'demo/{{time}}.mp4'\n" + "=" * 78
)


@contextlib.asynccontextmanager
async def _sandbox(container: Container) -> AsyncIterator[None]:
    """Run the sandbox LiveKit in this process when no LIVEKIT_URL is configured."""
    if not container.livekit.sandbox or not container.settings.sandbox_port:
        yield
        return
    from orchestrator.sandbox import SandboxLiveKit, serve_sandbox

    settings = container.settings
    sandbox = SandboxLiveKit(container.livekit.api_key, container.livekit.api_secret,
                             webhook_urls=[f"{settings.public_url}/webhooks/livekit"])
    task = asyncio.create_task(serve_sandbox(sandbox, settings.sandbox_host, settings.sandbox_port))
    # Something to record on a fresh machine: room "demo" with one publisher.
    await sandbox.join("demo", "demo-host", name="Demo host")
    log.warning(SANDBOX_BANNER.format(url=container.livekit.url))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await sandbox.aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        protect()
        container = build(settings)
        container.changes.bind(asyncio.get_running_loop())
        app.state.container = container
        scheduler = build_scheduler(container.reconciler, settings.reconcile_interval_s)
        async with _sandbox(container):
            scheduler.start()
            try:
                yield
            finally:
                scheduler.shutdown(wait=False)
                await container.aclose()

    app = FastAPI(
        title="Egress Orchestrator",
        version=__version__,
        description="Start, stop and follow LiveKit egresses durably; broadcasts, recordings and layouts.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(egresses.router)
    app.include_router(layouts.router)
    return app
