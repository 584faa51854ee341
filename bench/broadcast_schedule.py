"""Broadcast scheduling benchmark: 10,000 scheduled broadcasts loaded, a few hundred due at the same minute.

Prints, side by side with the targets: start-up time (process start to /healthz, including the rebuild
of the schedules from the database), resident memory, and the lateness of each start call after its
planned start (p50/p99): when the egress row is written, just before the call leaves, and when LiveKit
(here the sandbox, a separate process) received and validated it.
The service and a sandbox LiveKit run as separate processes on loopback; SQLite by default, or
`--database postgresql://...`.

Run:  .venv/bin/python bench/broadcast_schedule.py [--broadcasts 10000 --due 300 --lead 25]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common import free_port, wait_http  # bench/common.py (the scripts run from bench/)
from sqlalchemy import select

from orchestrator.adapters.sql.broadcast_tables import broadcast_run_egresses, broadcast_runs
from orchestrator.adapters.sql.broadcasts import SqlBroadcastStore
from orchestrator.adapters.sql.database import SqlDatabase
from orchestrator.adapters.sql.tables import egresses
from orchestrator.domain.broadcasts import (
    Broadcast,
    BroadcastRun,
    BroadcastSpec,
    BroadcastState,
    Destination,
    RunStatus,
)
from orchestrator.domain.ids import new_id

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "bench-key", "bench-secret-0123456789abcdef0123456789"
TOKEN = "bench-token-0123456789"


def load(database: str, total: int, due: int, due_at: datetime) -> None:
    db = SqlDatabase(database)
    db.migrate()
    repo = SqlBroadcastStore(db)
    now = datetime.now(UTC)
    for i in range(total):
        start = due_at if i < due else due_at + timedelta(days=1, minutes=i)
        spec = BroadcastSpec(room_name=f"room-{i}", layout="grid", max_duration_s=600, start_at=start,
                             destinations=(Destination("rtmp", f"rtmp://127.0.0.1:1/live/key-{i:05d}-abcdef"),))
        b = Broadcast(id=new_id("brd"), spec=spec, state=BroadcastState.ACTIVE, created_at=now, updated_at=now)
        run = BroadcastRun(id=new_id("run"), broadcast_id=b.id, seq=0, planned_start=start,
                           planned_end=start + timedelta(minutes=10), status=RunStatus.SCHEDULED, created_at=now,
                           updated_at=now)
        repo.create(b, run, "scheduled (benchmark load)")
    db.dispose()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broadcasts", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=300)
    parser.add_argument("--lead", type=float, default=25, help="seconds from loading to the due moment")
    parser.add_argument("--database", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    database = args.database or f"sqlite:///{tmp / 'bench.db'}"
    sb_port, port = free_port(), free_port()
    env = {**os.environ, "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET, "ORCHESTRATOR_LOG_LEVEL": "WARNING",
           "ORCHESTRATOR_PUBLIC_URL": f"http://127.0.0.1:{port}", "ORCHESTRATOR_DATA_DIR": str(tmp)}
    sandbox = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sandbox", "--port", str(sb_port),
                                "--webhook", f"http://127.0.0.1:{port}/webhooks/livekit"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    service = None
    try:
        wait_http(f"http://127.0.0.1:{sb_port}/sandbox")
        for i in range(args.due):
            httpx.post(f"http://127.0.0.1:{sb_port}/sandbox/rooms", json={"name": f"room-{i}"}).raise_for_status()
        due_at = (datetime.now(UTC) + timedelta(seconds=args.lead)).replace(microsecond=0)
        began = time.perf_counter()
        load(database, args.broadcasts, args.due, due_at)
        load_s = time.perf_counter() - began

        began = time.perf_counter()
        service = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "serve", "--port", str(port)], cwd=ROOT,
            env={**env, "LIVEKIT_URL": f"http://127.0.0.1:{sb_port}", "ORCHESTRATOR_DATABASE_URL": database,
                 "ORCHESTRATOR_API_TOKEN": TOKEN, "ORCHESTRATOR_PREFLIGHT_LEAD_S": "0"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{port}/healthz")
        startup_s = time.perf_counter() - began
        rss_idle = rss_mb(service.pid)
        if datetime.now(UTC) >= due_at:
            raise SystemExit(f"start-up took past the due moment; use a larger --lead than {args.lead}")
        time.sleep((due_at - datetime.now(UTC)).total_seconds() + 8)
        rss_after = rss_mb(service.pid)

        db = SqlDatabase(database)
        with db.read() as conn:
            rows = conn.execute(
                select(broadcast_runs.c.planned_start, egresses.c.created_at, egresses.c.started_at)
                .join(broadcast_run_egresses, broadcast_run_egresses.c.run_id == broadcast_runs.c.id)
                .join(egresses, egresses.c.id == broadcast_run_egresses.c.egress_pk)).all()
        db.dispose()
    finally:
        for proc in (service, sandbox):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=15)

    lateness = sorted((created - planned).total_seconds() * 1000 for planned, created, _ in rows)
    received = sorted((started - planned).total_seconds() * 1000 for planned, _, started in rows if started)
    if len(lateness) < 2:
        raise SystemExit(f"only {len(lateness)} runs started")
    q = statistics.quantiles(lateness, n=100, method="inclusive")
    qr = statistics.quantiles(received, n=100, method="inclusive") if len(received) > 1 else [float("nan")] * 99
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{database.split(':', 1)[0]}")
    print(f"{args.broadcasts} broadcasts loaded in {load_s:.1f} s; {args.due} due at the same moment; "
          f"{len(lateness)} started")
    print(f"{'':36}{'measured':>12}{'target':>12}")
    print(f"{'start-up (s)':36}{startup_s:12.2f}{'< 5':>12}")
    print(f"{'resident memory idle (MB)':36}{rss_idle:12.0f}{'< 250':>12}")
    print(f"{'resident memory after starts (MB)':36}{rss_after:12.0f}{'< 250':>12}")
    print(f"{'start call lateness min (ms)':36}{lateness[0]:12.0f}")
    print(f"{'start call lateness p50 (ms)':36}{q[49]:12.0f}")
    print(f"{'start call lateness p99 (ms)':36}{q[98]:12.0f}{'< 500':>12}")
    print(f"{'start call lateness max (ms)':36}{lateness[-1]:12.0f}")
    print(f"{'received by LiveKit p50 (ms)':36}{qr[49]:12.0f}")
    # The sandbox's own time to validate the calls and answer (one Python process): reported, not a target.
    print(f"{'received by LiveKit p99 (ms)':36}{qr[98]:12.0f}{'(reported)':>12}")
    met = startup_s < 5 and max(rss_idle, rss_after) < 250 and q[98] < 500 and len(lateness) == args.due
    print("targets: " + ("MET" if met else "MISSED"))


if __name__ == "__main__":
    main()
