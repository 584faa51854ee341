"""Automatic recording latency: 100 rooms start at once; from each room_started webhook arriving to the
start call leaving the service (LiveKit's own response time excluded).

Three processes on loopback, as in production: the service (`orchestrator serve`, SQLite by default or
`--db postgresql://...`), a sandbox LiveKit (`orchestrator sandbox`, its own webhooks pointed nowhere)
and this load generator. The rule exists first, then the rooms are created in the sandbox; then one
signed `room_started` per room is posted, all at once. t0 = the wall clock just before each POST is
written; t1 = the `created_at` of that room's egress row, which the service writes immediately before
the StartRoomCompositeEgress call leaves. Both clocks are this machine's.
Run:  .venv/bin/python bench/autorecord_latency.py  [--rooms 100 --runs 3 --db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
from livekit import api
from sqlalchemy import select

from orchestrator.adapters.sql.engine import build_engine
from orchestrator.adapters.sql.tables import egresses
from orchestrator.sandbox import sign_webhook, webhook_body

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "bench-key", "bench-secret-0123456789abcdef0123456789"
TOKEN = "bench-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def run_once(rooms: int, db_url: str | None, workdir: Path, tag: str) -> list[float]:
    sb_port, port = free_port(), free_port()
    database = db_url or f"sqlite:///{workdir / f'{tag}.db'}"
    env = {**os.environ, "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET, "ORCHESTRATOR_LOG_LEVEL": "WARNING",
           "ORCHESTRATOR_DATA_DIR": str(workdir / tag)}
    procs = [subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sandbox", "--port", str(sb_port),
                               "--webhook", "http://127.0.0.1:9/nowhere"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        sandbox = f"http://127.0.0.1:{sb_port}"
        wait_http(f"{sandbox}/sandbox")
        service_env = {**env, "LIVEKIT_URL": sandbox, "ORCHESTRATOR_DATABASE_URL": database,
                       "ORCHESTRATOR_API_TOKEN": TOKEN, "ORCHESTRATOR_S3_BUCKET": "recordings",
                       "ORCHESTRATOR_AUTORECORD_SWEEP_S": "3600", "ORCHESTRATOR_RECONCILE_INTERVAL_S": "3600",
                       "ORCHESTRATOR_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        procs.append(subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "serve", "--port", str(port)],
                                      cwd=ROOT, env=service_env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        service = f"http://127.0.0.1:{port}"
        wait_http(f"{service}/healthz")
        httpx.post(f"{service}/v1/rules", headers={"Authorization": f"Bearer {TOKEN}"},
                   json={"name": "all", "actions": {"composite": {"layout": "grid"}}}).raise_for_status()
        time.sleep(1.5)  # past the rules cache
        # The rooms appear only now, so that nothing but our room_started webhooks can trigger a recording.
        names = [f"{tag}-room-{i:03d}" for i in range(rooms)]
        events = []
        for name in names:
            room = httpx.post(f"{sandbox}/sandbox/rooms", json={"name": name}).json()
            event = api.WebhookEvent(event="room_started", id=f"EV_{name}", created_at=int(time.time()))
            event.room.sid, event.room.name = room["sid"], name
            body = webhook_body(event)
            events.append((name, body, sign_webhook(body, KEY, SECRET, ttl=3600)))
        sent: dict[str, datetime] = {}

        async def fire() -> None:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                async def post(name: str, body: bytes, auth: str) -> None:
                    sent[name] = datetime.now(UTC)
                    async with session.post(f"{service}/webhooks/livekit", data=body, headers={
                            "Authorization": auth, "Content-Type": "application/webhook+json"}) as r:
                        assert r.status == 200, await r.text()

                await asyncio.gather(*(post(*e) for e in events))

        asyncio.run(fire())
        engine = build_engine(database)
        deadline = time.monotonic() + 30
        while True:
            with engine.connect() as conn:
                rows = conn.execute(select(egresses.c.room_name, egresses.c.created_at)
                                    .where(egresses.c.room_name.in_(names))).all()
            if len(rows) >= rooms or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        engine.dispose()
        if sorted(r.room_name for r in rows) != sorted(names):
            raise SystemExit(f"expected one start per room, got {len(rows)} for {len(set(r.room_name for r in rows))}")
        return [(created - sent[name]).total_seconds() * 1000 for name, created in rows]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None, help="PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    print(f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{'PostgreSQL' if args.db else 'SQLite'}; {args.rooms} rooms at once; target p99 < 50 ms")
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            ms = sorted(run_once(args.rooms, args.db, Path(tmp), f"r{run}"))
            q = statistics.quantiles(ms, n=100, method="inclusive")
            print(f"run {run + 1}: p50 {q[49]:.1f} ms  p99 {q[98]:.1f} ms  max {ms[-1]:.1f} ms  "
                  f"({'MET' if q[98] < 50 else 'MISSED'})")


if __name__ == "__main__":
    main()
