"""Stream keys, S3 credentials, the API secret and tokens never appear in a log line or an API response."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from orchestrator.adapters.livekit import LiveKitEgressGateway
from orchestrator.domain.egress import EgressKind
from orchestrator.domain.errors import LiveKitRejected
from orchestrator.domain.requests import EgressRequest, StreamOutput
from orchestrator.sandbox import SandboxThread
from tests.conftest import LK_KEY, LK_SECRET
from tests.harness import free_port, wait_until

RTMP_KEY = "yt-key-REFUSED-0123456789abcd"
MUX_KEY = "muxkeyLIVE0123456789abcdefgh"
S3_KEY = "AKIASECRETACCESSKEY9"
S3_SECRET = "s3-SECRET-wJalrXUtnFEMI-K7MDENG"
API_TOKEN = "api-token-SECRET-0123456789"
LAYOUT_TOKEN = "eyJlayoutTOKEN0123456789.secret"
SECRETS = [RTMP_KEY, MUX_KEY, S3_KEY, S3_SECRET, API_TOKEN, LK_SECRET, LAYOUT_TOKEN]


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture
def served(sandbox: SandboxThread, tmp_path: Path):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "LIVEKIT_URL": sandbox.url, "LIVEKIT_API_KEY": LK_KEY, "LIVEKIT_API_SECRET": LK_SECRET,
           "ORCHESTRATOR_DATA_DIR": str(tmp_path), "ORCHESTRATOR_API_TOKEN": API_TOKEN,
           "ORCHESTRATOR_PORT": str(port), "ORCHESTRATOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "ORCHESTRATOR_LOG_LEVEL": "DEBUG", "ORCHESTRATOR_S3_BUCKET": "recordings",
           "ORCHESTRATOR_S3_ACCESS_KEY": S3_KEY, "ORCHESTRATOR_S3_SECRET": S3_SECRET,
           "ORCHESTRATOR_RECONCILE_INTERVAL_S": "0.5"}
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(url), timeout=20)
        sandbox.sandbox.webhook_urls[:] = [f"{url}/webhooks/livekit"]
        yield url, log
        proc.terminate()
        proc.wait(timeout=10)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_no_secret_in_logs_or_responses(served: tuple[str, Path], sandbox: SandboxThread) -> None:
    url, log = served
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    sandbox.sandbox.faults.rtmp_refuse = ["REFUSED"]  # this destination fails, as LiveKit reports it
    refused = f"rtmp://127.0.0.1:1935/live/{RTMP_KEY}"
    bodies: list[str] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30) as c:
        r = c.post("/v1/egresses", json={
            "kind": "room_composite", "room_name": "studio", "layout": "gallery",
            "outputs": [{"type": "s3", "filepath": "rec/{room_name}.mp4"}, {"type": "rtmp", "url": refused},
                        {"type": "mux", "stream_key": MUX_KEY}]})
        assert r.status_code == 201, r.text
        bodies.append(r.text)
        eg = r.json()
        wait_until(lambda: any(s["status"] == "failed" for s in c.get(f"/v1/egresses/{eg['id']}").json()["streams"]))
        # LiveKit echoes the raw URL when it cannot find a stream to remove.
        rejected = c.patch(f"/v1/egresses/{eg['id']}", json={"remove_stream_urls": [f"rtmp://h/app/{RTMP_KEY}"]})
        assert rejected.status_code == 502, rejected.text
        bodies.append(rejected.text)
        bad = c.post("/v1/egresses", json={"kind": "room_composite", "room_name": "studio",
                                           "outputs": [{"type": "rtmp", "url": f"http://x/{RTMP_KEY}"}]})
        assert bad.status_code == 422
        bodies.append(bad.text)
        bodies += [c.get(f"/v1/egresses/{eg['id']}").text, c.get("/v1/egresses").text, c.get("/metrics").text,
                   c.get("/openapi.json").text]
        c.get("/layouts/gallery", params={"url": "ws://127.0.0.1:7880", "token": LAYOUT_TOKEN})
        c.post(f"/v1/egresses/{eg['id']}/stop")
        wait_until(lambda: c.get(f"/v1/egresses/{eg['id']}").json()["status"] == "complete")
        bodies.append(c.get(f"/v1/egresses/{eg['id']}").text)
    time.sleep(0.5)
    text = log.read_text()
    assert "SANDBOX MODE" not in text  # a real LIVEKIT_URL was given
    assert "GET /layouts/gallery" in text, "the access log is on, so the token check below means something"
    assert "DEBUG" in text
    assert _leaks(text) == [], "a secret reached the log"
    for body in bodies:
        assert _leaks(body) == [], body


async def test_livekit_validation_errors_are_redacted(sandbox: SandboxThread) -> None:
    gateway = LiveKitEgressGateway(sandbox.url, LK_KEY, LK_SECRET, timeout_s=5, start_timeout_s=5)
    await asyncio.to_thread(sandbox.call, sandbox.sandbox.create_room, "studio")
    bad = EgressRequest(kind=EgressKind.ROOM_COMPOSITE, room_name="studio",
                        stream=StreamOutput((f"rtmp://host/{RTMP_KEY}",)))  # LiveKit's format check fails
    try:
        with pytest.raises(LiveKitRejected) as err:
            await gateway.start(bad)
    finally:
        await gateway.aclose()
    assert err.value.twirp_code == "invalid_argument"
    assert "invalid url" in err.value.message and RTMP_KEY not in err.value.message
