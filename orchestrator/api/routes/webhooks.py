"""`POST /webhooks/livekit`: LiveKit's signed webhooks, verified on the raw bytes, answered fast.

The hottest path of the service (a burst of rooms starting at once is a burst of webhooks), so it is
served by a plain ASGI layer in front of the framework (`WebhookEndpoint`): no routing, dependency
injection or response classes per request. The FastAPI route documents it in the OpenAPI schema and
serves it if the layer is not installed; both go through `receive`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.api.errors import error_body
from orchestrator.bootstrap import Container
from orchestrator.domain.events import WebhookRejected

PATH = "/webhooks/livekit"
router = APIRouter(tags=["webhooks"])


async def receive(c: Container, body: bytes | None, authorization: str | None,
                  received: float) -> tuple[int, dict[str, Any]]:
    """Verify with livekit-api's WebhookReceiver and store; duplicates (same event id) are acknowledged
    and ignored. `body` None: larger than allowed. `received`: time.perf_counter() when the request reached
    the service, for the auto-record latency probe. Answers (status, JSON body)."""
    if body is None:
        c.metrics.webhooks_rejected.labels("too_large").inc()
        return _error(413, "too_large", f"webhook body larger than {c.settings.webhook_max_bytes} bytes")
    try:
        notice = c.verifier.verify(body, authorization)
    except WebhookRejected as exc:
        c.metrics.webhooks_rejected.labels("unauthorized").inc()
        return _error(401, "unauthorized", str(exc))
    if notice.event == "room_started" and notice.room_name:
        c.metrics.autorecord_latency.room_started(notice.room_name, notice.room_sid, received)
    result = await c.intake.submit(notice)
    if result.duplicate:
        c.metrics.webhooks_duplicate.inc()
    else:
        c.metrics.webhooks_received.labels(notice.event).inc()
    return 200, {"ok": True, "duplicate": result.duplicate}


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, error_body(code, message)


class WebhookEndpoint:
    """ASGI middleware serving POST /webhooks/livekit itself; everything else passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive_: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive_, send)
            return
        received = time.perf_counter()
        c: Container = scope["app"].state.container
        limit = c.settings.webhook_max_bytes
        declared, authorization = None, None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        body: bytes | None = None
        if not (declared and declared.isdigit() and int(declared) > limit):
            body = await _read(receive_, limit)
        status, payload = await receive(c, body, authorization, received)
        data = json.dumps(payload, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]})
        await send({"type": "http.response.body", "body": data})


async def _read(receive_: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is larger than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive_()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@router.post(PATH, include_in_schema=True)
async def livekit_webhook(request: Request) -> Response:
    """LiveKit's webhooks (Authorization: the signed JWT LiveKit sends, no `Bearer`)."""
    received = time.perf_counter()
    c: Container = request.app.state.container
    status, payload = await receive(c, await _read(request.receive, c.settings.webhook_max_bytes),
                                    request.headers.get("authorization"), received)
    return Response(json.dumps(payload, separators=(",", ":")), status_code=status, media_type="application/json")
