"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep
from orchestrator.domain.errors import LiveKitError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(c: ContainerDep) -> JSONResponse:
    """The database answers, and LiveKit answers with credentials that may record."""
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(c.ledger.ping)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await asyncio.wait_for(c.gateway.check_access(), timeout=5)
        checks["livekit"] = "ok"
    except (LiveKitError, TimeoutError) as exc:
        checks["livekit"] = f"error: {getattr(exc, 'message', 'timed out')}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks,
                         "sandbox": c.livekit.sandbox}, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(c: ContainerDep) -> Response:
    data = await run_in_threadpool(generate_latest, c.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
