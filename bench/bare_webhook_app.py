"""The baseline: a bare FastAPI endpoint that only verifies LiveKit's webhook signature."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from livekit import api

receiver = api.WebhookReceiver(api.TokenVerifier(os.environ["LIVEKIT_API_KEY"], os.environ["LIVEKIT_API_SECRET"]))
app = FastAPI()


@app.post("/webhooks/livekit")
async def webhook(request: Request) -> JSONResponse:
    body = await request.body()
    try:
        event = receiver.receive(body.decode(), request.headers.get("authorization", ""))
    except Exception:
        return JSONResponse({"ok": False}, status_code=401)
    return JSONResponse({"ok": True, "id": event.id})
