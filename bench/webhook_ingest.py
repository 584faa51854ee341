"""Webhook ingest benchmark: the orchestrator (on SQLite) against a bare verify-only FastAPI endpoint.

Each server runs as its own process (uvicorn, one worker) on loopback. Signed `egress_updated` events,
each a real state change (a newer update of one of 200 egresses), are posted
  1. as fast as possible with a fixed number in flight: events/s, p50, p99;
  2. open-loop at a fixed rate (default 200 events/s): p50, p99.
Run:  .venv/bin/python bench/webhook_ingest.py  [--events 3000 --concurrency 32 --rate 200 --seconds 10]
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
from pathlib import Path

import aiohttp
from common import free_port  # bench/common.py (the scripts run from bench/)
from livekit import api

from orchestrator.sandbox import sign_webhook, webhook_body

KEY, SECRET = "bench-key", "bench-secret-0123456789abcdef0123456789"
ROOT = Path(__file__).resolve().parent.parent


def make_events(n: int, egresses: int = 200) -> list[tuple[bytes, str]]:
    base = time.time_ns()
    out = []
    for i in range(n):
        status = api.EGRESS_STARTING if i < egresses else api.EGRESS_ACTIVE
        info = api.EgressInfo(egress_id=f"EG_bench{i % egresses:06d}", room_name=f"room-{i % 50}",
                              room_id="RM_bench", status=status, started_at=base, updated_at=base + i,
                              stream_results=[api.StreamInfo(url="rtmp://h/app/{abc...xyz}",
                                                             status=api.StreamInfo.ACTIVE)])
        event = api.WebhookEvent(event="egress_started" if i < egresses else "egress_updated",
                                 id=f"EV_b{i:011d}", created_at=int(time.time()), egress_info=info,
                                 room=api.Room(name=info.room_name, sid="RM_bench"))
        body = webhook_body(event)
        out.append((body, sign_webhook(body, KEY, SECRET, ttl=3600)))
    return out


def start_server(kind: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}
    if kind == "bare":
        cmd = [sys.executable, "-m", "uvicorn", "bench.bare_webhook_app:app", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    else:
        env.update({"LIVEKIT_URL": "http://127.0.0.1:9", "ORCHESTRATOR_DATA_DIR": str(workdir),
                    "ORCHESTRATOR_API_TOKEN": "bench-token-123456", "ORCHESTRATOR_RECONCILE_INTERVAL_S": "3600",
                    "ORCHESTRATOR_PORT": str(port), "ORCHESTRATOR_LOG_LEVEL": "WARNING",
                    "ORCHESTRATOR_PUBLIC_URL": f"http://127.0.0.1:{port}"})
        cmd = [sys.executable, "-m", "orchestrator.cli", "serve"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


async def post_all(url: str, events: list[tuple[bytes, str]], concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for e in events:
        queue.put_nowait(e)
    failures = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty():
            body, auth = queue.get_nowait()
            t = time.perf_counter()
            async with session.post(url, data=body, headers={"Authorization": auth,
                                                             "Content-Type": "application/webhook+json"}) as r:
                await r.read()
                failures += r.status != 200
            latencies.append(time.perf_counter() - t)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{failures} requests failed")
    return len(events) / elapsed, latencies


async def post_at_rate(url: str, events: list[tuple[bytes, str]], rate: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    failures = 0

    async def one(session: aiohttp.ClientSession, body: bytes, auth: str) -> None:
        nonlocal failures
        t = time.perf_counter()
        async with session.post(url, data=body, headers={"Authorization": auth,
                                                         "Content-Type": "application/webhook+json"}) as r:
            await r.read()
            failures += r.status != 200
        latencies.append(time.perf_counter() - t)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        began = time.perf_counter()
        tasks = []
        for i, (body, auth) in enumerate(events):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, body, auth)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{failures} requests failed")
    return len(events) / elapsed, latencies


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    for kind in ("bare", "orchestrator"):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            proc = start_server(kind, port, Path(tmp))
            url = f"http://127.0.0.1:{port}/webhooks/livekit"
            try:
                warm = make_events(200)
                asyncio.run(post_all(url, warm, 8))  # warm-up: also creates the 200 egresses
                burst = make_events(args.events + 200)[200:]
                burst = [(b.replace(b"EV_b", b"EV_x"), "") for b, _ in burst]
                burst = [(b, sign_webhook(b, KEY, SECRET, ttl=3600)) for b, _ in burst]
                throughput, lat = asyncio.run(post_all(url, burst, args.concurrency))
                paced_n = int(args.rate * args.seconds)
                paced = make_events(paced_n + 200 + args.events)[200 + args.events:]
                paced = [(b.replace(b"EV_b", b"EV_p"), "") for b, _ in paced]
                paced = [(b, sign_webhook(b, KEY, SECRET, ttl=3600)) for b, _ in paced]
                achieved, lat_rate = asyncio.run(post_at_rate(url, paced, args.rate))
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            results[kind] = {"eps": throughput, "p50": pct(lat, 50), "p99": pct(lat, 99),
                             "rate": achieved, "rp50": pct(lat_rate, 50), "rp99": pct(lat_rate, 99)}

    bare, orch = results["bare"], results["orchestrator"]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"burst: {args.events} signed egress_updated events, {args.concurrency} in flight; "
          f"paced: {args.rate:.0f} events/s for {args.seconds:.0f} s")
    print(f"{'':34}{'bare verify-only':>18}{'orchestrator':>16}{'ratio':>8}")
    print(f"{'burst throughput (events/s)':34}{bare['eps']:18.0f}{orch['eps']:16.0f}{orch['eps'] / bare['eps']:8.2f}")
    print(f"{'burst latency p50 (ms)':34}{bare['p50']:18.1f}{orch['p50']:16.1f}")
    print(f"{'burst latency p99 (ms)':34}{bare['p99']:18.1f}{orch['p99']:16.1f}")
    print(f"{'paced rate achieved (events/s)':34}{bare['rate']:18.0f}{orch['rate']:16.0f}")
    print(f"{'paced latency p50 (ms)':34}{bare['rp50']:18.1f}{orch['rp50']:16.1f}")
    print(f"{'paced latency p99 (ms)':34}{bare['rp99']:18.1f}{orch['rp99']:16.1f}")
    ok_ratio = orch["eps"] >= bare["eps"] / 2
    ok_p99 = orch["rp99"] < 50
    print(f"targets: throughput >= half of bare: {'MET' if ok_ratio else 'MISSED'}; "
          f"p99 < 50 ms at {args.rate:.0f}/s: {'MET' if ok_p99 else 'MISSED'}")


if __name__ == "__main__":
    main()
