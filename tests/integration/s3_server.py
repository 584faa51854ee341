"""A real S3-compatible server on loopback (moto's standalone server) and a real callback receiver."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import uvicorn
from moto.server import ThreadedMotoServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.harness import free_port

BUCKET = "recordings"
ACCESS_KEY, SECRET_KEY = "AKIAMOTOTESTKEY00001", "moto-secret-key-do-not-leak-123456"
CALLBACK_SECRET = "callback-secret-0123456789abcdef"


@dataclass
class S3Server:
    endpoint: str
    port: int
    server: Any

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY)

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        """Same port, same objects (moto keeps its state in this process)."""
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()


@pytest.fixture
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3 = S3Server(f"http://127.0.0.1:{port}", port, server)
    client = s3.client()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    yield s3
    s3.stop()


def s3_settings(s3: S3Server, receiver: CallbackReceiver | None = None, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "s3_endpoint": s3.endpoint, "s3_bucket": BUCKET, "s3_access_key": ACCESS_KEY, "s3_secret": SECRET_KEY,
        "s3_force_path_style": True, "s3_region": "us-east-1", "recordings_verify_interval_s": 0.3,
        "callback_backoff_s": 0.1, "callback_poll_interval_s": 0.1,
    }
    if receiver is not None:
        values.update(callback_urls=receiver.url, callback_secret=CALLBACK_SECRET)
    values.update(extra)
    return values


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class CallbackReceiver:
    """An app's callback endpoint: answers 503 while `down`, deduplicates by event id."""

    url: str = ""
    down: bool = False
    attempts: int = 0
    received: list[Received] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)

    def events(self, event_type: str | None = None) -> list[Received]:
        return [r for r in self.received if event_type is None or r.json["type"] == event_type]


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    state = CallbackReceiver()

    async def hook(request: Request) -> Response:
        body = await request.body()
        state.attempts += 1
        if state.down:
            return Response("down", status_code=503)
        event = request.headers.get("x-orchestrator-event-id", "")
        state.seen[event] = state.seen.get(event, 0) + 1
        if state.seen[event] == 1:
            state.received.append(Received(dict(request.headers), body))
        return Response("ok")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    server.should_exit = True
    thread.join(timeout=5)
