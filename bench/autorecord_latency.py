"""Automatic recording latency: 100 rooms start at once; time from each room_started webhook arriving to
the start call leaving the service (LiveKit's own response time excluded).

The service runs in this process (uvicorn in a thread, like the tests) against the sandbox LiveKit, on
SQLite (default) or PostgreSQL (`--db postgresql://...`). The rooms exist in the sandbox first (with its
webhooks off); then one signed `room_started` per room is posted, all at once, by an aiohttp client.
t0 = just before the POST is written; t1 = when the egress gateway's start method is entered, i.e. when
the service hands the StartRoomCompositeEgress call to the network. t1 - t0 therefore includes the HTTP
request, signature check, group-committed storage of the event, rule matching, the session and claim
transaction and the ledger row, and excludes LiveKit's answer.
Run:  .venv/bin/python bench/autorecord_latency.py  [--rooms 100 --runs 3 --db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from livekit import api

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.config import Settings
from orchestrator.domain.requests import EgressRequest
from orchestrator.sandbox import SandboxThread, SandboxTimings, sign_webhook, webhook_body
from tests.harness import API_TOKEN, ServiceThread, free_port

KEY, SECRET = "bench-key", "bench-secret-0123456789abcdef0123456789"


def run_once(rooms: int, db_url: str | None, workdir: Path, tag: str) -> list[float]:
    sandbox = SandboxThread(api_key=KEY, api_secret=SECRET,
                            timings=SandboxTimings(activate_after=0.1, participant_wait=30)).start()
    port = free_port()
    settings = Settings(
        livekit_url=sandbox.url, livekit_api_key=KEY, livekit_api_secret=SECRET,
        database_url=db_url or f"sqlite:///{workdir / f'{tag}.db'}", api_token=API_TOKEN,
        public_url=f"http://127.0.0.1:{port}", port=port, data_dir=workdir / tag, reconcile_interval_s=3600,
        autorecord_sweep_s=3600, s3_bucket="recordings", s3_region="us-east-1", log_level="WARNING")
    service = ServiceThread(settings).start()
    try:
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as c:
            c.post("/v1/rules", json={"name": "all", "actions": {"composite": {"layout": "grid"}}}).raise_for_status()
        left: dict[str, float] = {}
        gateway: Any = service.container.gateway
        original = gateway.start

        async def timed_start(request: EgressRequest) -> Any:
            left.setdefault(request.room_name, time.perf_counter())
            return await original(request)

        gateway.start = timed_start
        names = [f"{tag}-room-{i:03d}" for i in range(rooms)]
        events = []
        for name in names:
            room = sandbox.call(sandbox.sandbox.create_room, name)  # webhooks are off: no room_started yet
            event = api.WebhookEvent(event="room_started", id=f"EV_{name}", created_at=int(time.time()))
            event.room.CopyFrom(room)
            body = webhook_body(event)
            events.append((name, body, sign_webhook(body, KEY, SECRET, ttl=3600)))
        sent: dict[str, float] = {}

        async def fire() -> None:
            async with aiohttp.ClientSession() as session:
                async def post(name: str, body: bytes, auth: str) -> None:
                    sent[name] = time.perf_counter()
                    async with session.post(f"{service.url}/webhooks/livekit", data=body, headers={
                            "Authorization": auth, "Content-Type": "application/webhook+json"}) as r:
                        assert r.status == 200, await r.text()

                await asyncio.gather(*(post(*e) for e in events))

        asyncio.run(fire())
        deadline = time.monotonic() + 30
        while len(left) < rooms and time.monotonic() < deadline:
            time.sleep(0.01)
        missing = set(names) - left.keys()
        if missing:
            raise SystemExit(f"{len(missing)} room(s) never got a start call")
        deadline = time.monotonic() + 30
        while (starts := len([i for i in sandbox.sandbox.egresses() if i.room_name.startswith(tag)])) < rooms:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if starts != rooms:
            raise SystemExit(f"expected {rooms} egresses, LiveKit has {starts}")
        return [(left[n] - sent[n]) * 1000 for n in names]
    finally:
        service.stop()
        sandbox.stop()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None, help="PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{'PostgreSQL' if args.db else 'SQLite'}; {args.rooms} rooms at once")
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            ms = run_once(args.rooms, args.db, Path(tmp), f"r{run}")
            print(f"run {run + 1}: p50 {statistics.median(ms):.1f} ms  p99 {pct(ms, 99):.1f} ms  "
                  f"max {max(ms):.1f} ms")


if __name__ == "__main__":
    main()
