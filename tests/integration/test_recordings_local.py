"""Local storage: an egress that wrote to a volume shared with this machine; downloads streamed with Range."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from livekit import api

from orchestrator.sandbox import sign_webhook, webhook_body
from tests.conftest import LK_KEY, LK_SECRET
from tests.harness import ServiceThread, wait_until


def test_local_recording_is_verified_and_streamed_with_range(service_factory: Any, tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    (volume / "rooms").mkdir(parents=True)
    content = os.urandom(20_000)
    (volume / "rooms" / "standup.mp4").write_bytes(content)
    service: ServiceThread = service_factory(recordings_dir=str(volume), recordings_verify_interval_s=0.3)
    now = time.time_ns()
    info = api.EgressInfo(
        egress_id="EG_localfile01", room_name="standup", room_id="RM_standup", status=api.EGRESS_COMPLETE,
        started_at=now - 60_000_000_000, ended_at=now, updated_at=now,
        file_results=[api.FileInfo(filename="rooms/standup.mp4", location="/rooms/standup.mp4",
                                   size=len(content), duration=60_000_000_000, ended_at=now)])
    body = webhook_body(api.WebhookEvent(event="egress_ended", id="EV_localfile01", created_at=int(time.time()),
                                         egress_info=info, room=api.Room(name="standup", sid="RM_standup")))
    r = httpx.post(f"{service.url}/webhooks/livekit", content=body,
                   headers={"Authorization": sign_webhook(body, LK_KEY, LK_SECRET)})
    assert r.status_code == 200
    with service.client() as c:
        rec = wait_until(lambda: [x for x in c.get("/v1/recordings").json()["items"] if x["status"] == "ready"],
                         timeout=10)[0]
        assert rec["storage"] == "local" and rec["size_bytes"] == len(content)
        link = c.get(f"/v1/recordings/{rec['id']}/download", params={"redirect": "false"}).json()
    url = link["url"] if link["url"].startswith("http") else f"{service.url}{link['url']}"
    whole = httpx.get(url)  # a signed link: no API token needed
    assert whole.status_code == 200 and whole.content == content
    part = httpx.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(content)}"
    tampered = httpx.get(url.replace("sig=", "sig=0"))
    assert tampered.status_code in (403, 404)
