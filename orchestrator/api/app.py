"""The FastAPI app factory; its lifespan starts and stops what bootstrap built."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI

from orchestrator import __version__
from orchestrator.bootstrap import build
from orchestrator.config import Settings
from orchestrator.layouts import routes as layouts
from orchestrator.logs import protect

from . import docs, errors, pages
from .json_body import JsonBodies
from .pages import broadcasts as broadcast_pages
from .pages import egresses as egress_pages
from .pages import now, signin
from .pages import recordings as recording_pages
from .pages import rooms as room_pages
from .pages import rules as rule_pages
from .pages import settings as settings_page
from .routes import broadcasts, egresses, events, health, identity, webhooks
from .routes import recordings as recording_routes
from .routes import rooms as room_routes
from .routes import rules as rule_routes
from .routes import sessions as session_routes
from .security_headers import SecurityHeaders

_frozen = False


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
        app.state.container = container
        try:
            await container.start()
            _freeze_startup_heap()
            yield
        finally:
            await container.aclose()

    app = FastAPI(
        title="Egress Orchestrator",
        version=__version__,
        description="Start, stop and follow LiveKit egresses durably; broadcasts, recordings and layouts.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by docs.install (no CDN)
        redoc_url=None,
    )
    errors.install(app)
    docs.install(app)
    app.add_middleware(JsonBodies)  # /v1 bodies are JSON whatever the Content-Type says (curl -d: form)
    app.add_middleware(SecurityHeaders)  # CSP and friends on every answer; inside the webhook endpoint
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
    app.include_router(events.router)
    app.include_router(identity.router)
    app.include_router(layouts.router)
    pages.install(app, signin.router, now.router, broadcast_pages.router, recording_pages.router, room_pages.router,
                  rule_pages.router, egress_pages.router, settings_page.router)
    return app
