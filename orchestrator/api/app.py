"""The FastAPI app factory and its lifespan (database, sandbox LiveKit when needed, reconciler)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from orchestrator import __version__
from orchestrator.bootstrap import Container, attach_autorecord, build
from orchestrator.config import Settings
from orchestrator.layouts import routes as layouts
from orchestrator.logs import protect
from orchestrator.scheduler import add_autorecord_job, add_periodic, add_recording_jobs, build_scheduler

from . import errors
from .routes import broadcasts, egresses, health, webhooks
from .routes import recordings as recording_routes
from .routes import rooms as room_routes
from .routes import rules as rule_routes
from .routes import sessions as session_routes

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


_frozen = False
_WARM_EVERY_S = 20.0  # well inside the 50 s an idle connection to LiveKit is kept


# The collector's youngest generation is collected after this many more container objects were made than
# freed (Python's default: 700). A burst of 100 room_started webhooks keeps ~20,000 alive at once until the
# start calls leave: at 700 that is ~30 young and 3 middle collections inside the burst, 3-5 ms of its
# ~50 ms. At 50,000 there is none; what a collection then scans is still bounded, and cycles wait longer.
_GC_YOUNG_THRESHOLD = 50_000


def _freeze_startup_heap() -> None:
    """Move what start-up built (modules, the container, caches: ~170,000 objects) out of the garbage
    collector's sight, once per process. A full collection over them took 35-45 ms, a stall of every
    request it landed in (a burst of room_started webhooks makes the objects that trigger one).
    Then collect young objects less often (see _GC_YOUNG_THRESHOLD)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
        _, middle, old = gc.get_threshold()
        gc.set_threshold(_GC_YOUNG_THRESHOLD, middle, old)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        protect()
        container = build(settings)
        autorecord = attach_autorecord(container)
        container.changes.bind(asyncio.get_running_loop())
        app.state.container = container
        scheduler = build_scheduler(container.reconciler, settings.reconcile_interval_s, container.scheduler)
        add_periodic(scheduler, container.broadcasts.sweep, settings.broadcast_sweep_s, "broadcast-sweep")
        add_periodic(scheduler, container.broadcasts.refresh_timers, 60, "broadcast-horizon")
        add_recording_jobs(scheduler, container.recordings, settings.recordings_verify_interval_s,
                           settings.recordings_retention_interval_s)
        add_autorecord_job(scheduler, autorecord, settings.autorecord_sweep_s)
        add_periodic(scheduler, container.keep_warm, _WARM_EVERY_S, "livekit-warm-connections", now=True)
        async with _sandbox(container):
            scheduler.start()
            callbacks_task = asyncio.create_task(container.callbacks.run(), name="callback-delivery")
            await container.broadcasts.rebuild()
            _freeze_startup_heap()
            try:
                yield
            finally:
                scheduler.shutdown(wait=False)
                callbacks_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await callbacks_task
                await container.aclose()

    app = FastAPI(
        title="Egress Orchestrator",
        version=__version__,
        description="Start, stop and follow LiveKit egresses durably; broadcasts, recordings and layouts.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(webhooks.WebhookEndpoint)  # the hottest route, served in front of the framework
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(egresses.router)
    app.include_router(rule_routes.router)
    app.include_router(session_routes.router)
    app.include_router(room_routes.router)
    app.include_router(recording_routes.router)
    app.include_router(recording_routes.links)
    app.include_router(broadcasts.router)
    app.include_router(layouts.router)
    return app
