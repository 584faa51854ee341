"""`POST /webhooks/livekit`: LiveKit's signed webhooks, verified on the raw bytes, answered fast."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orchestrator.adapters.livekit_webhooks import WebhookRejected
from orchestrator.api.errors import error_response
from orchestrator.bootstrap import Container

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/livekit", include_in_schema=True)
async def livekit_webhook(request: Request) -> JSONResponse:
    """Verify with livekit-api's WebhookReceiver; duplicates (same event id) are acknowledged and ignored."""
    c: Container = request.app.state.container  # no dependency injection on the hottest route
    limit = c.settings.webhook_max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        c.metrics.webhooks_rejected.labels("too_large").inc()
        return error_response(413, "too_large", f"webhook body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            c.metrics.webhooks_rejected.labels("too_large").inc()
            return error_response(413, "too_large", f"webhook body larger than {limit} bytes")
    try:
        notice = c.verifier.verify(bytes(body), request.headers.get("authorization"))
    except WebhookRejected as exc:
        c.metrics.webhooks_rejected.labels("unauthorized").inc()
        return error_response(401, "unauthorized", str(exc))
    result = await c.webhook_batcher.submit(notice)
    if result.duplicate:
        c.metrics.webhooks_duplicate.inc()
    else:
        c.metrics.webhooks_received.labels(notice.event).inc()
    return JSONResponse({"ok": True, "duplicate": result.duplicate})
