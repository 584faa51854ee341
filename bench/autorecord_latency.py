"""Automatic recording latency: 100 rooms start at once; from each room_started webhook arriving to the
start call leaving the service (LiveKit's own response time excluded).

Three processes on loopback, as in production: the service (`bench/autorecord_service.py`: exactly what
`orchestrator serve` runs, plus a probe), a sandbox LiveKit (`orchestrator sandbox`, its own webhooks
pointed nowhere) and this load generator. The rule exists first, then the rooms are created in the
sandbox; then one signed `room_started` per room is written, all at once, each on its own keep-alive
connection (opened beforehand, as LiveKit's webhook client keeps its connections).

  t0  this process's wall clock immediately before the request's bytes are written to the socket;
  t1  the service's wall clock when aiohttp writes that room's StartRoomCompositeEgress request to
      LiveKit's connection (aiohttp's request-chunk trace hook; the probe records it).

Both clocks are this machine's. "service" is the service's own measure of the same interval, from the
request reaching the webhook route (it leaves out the HTTP server's queue). Every room must get exactly
one ledger row and one start call.
Before the burst, one room starts alone: a service in steady state has compiled its statements and holds a
connection to LiveKit (that room is not counted).
Run:  .venv/bin/python bench/autorecord_latency.py  [--rooms 100 --runs 10 --db URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port, wait_http  # bench/common.py (the scripts run from bench/)
from livekit import api
from sqlalchemy import func, select

from orchestrator.adapters.sql.engine import build_engine
from orchestrator.adapters.sql.tables import egresses
from orchestrator.sandbox import sign_webhook, webhook_body

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "bench-key", "bench-secret-0123456789abcdef0123456789"
TOKEN = "bench-token-0123456789"


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    found = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    length = int(found.group(1)) if found else 0
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), body


def connections(port: int, n: int) -> list[socket.socket]:
    """Keep-alive connections to the service, each already used once."""
    socks = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _ = read_response(sock)
        assert status == 200
        socks.append(sock)
    return socks


def run_once(rooms: int, db_url: str | None, workdir: Path, tag: str) -> tuple[list[float], list[float]]:
    sb_port, port = free_port(), free_port()
    database = db_url or f"sqlite:///{workdir / f'{tag}.db'}"
    starts_file = workdir / f"{tag}-starts.txt"
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
                       "BENCH_PORT": str(port), "BENCH_STARTS_FILE": str(starts_file)}
        procs.append(subprocess.Popen([sys.executable, "bench/autorecord_service.py"], cwd=ROOT, env=service_env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        service = f"http://127.0.0.1:{port}"
        wait_http(f"{service}/healthz")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for rule in httpx.get(f"{service}/v1/rules", headers=auth).json()["items"]:  # a reused PostgreSQL database
            httpx.delete(f"{service}/v1/rules/{rule['id']}", headers=auth).raise_for_status()
        httpx.post(f"{service}/v1/rules", headers=auth,
                   json={"name": f"all-{tag}", "match": {"all_rooms": True},
                         "actions": {"composite": {"layout": "grid"}}}).raise_for_status()
        # The rooms appear only now, so that nothing but our room_started webhooks can trigger a recording.
        names = [f"{tag}-room-{i:03d}" for i in range(rooms + 1)]
        sids: dict[str, str] = {}
        requests = []
        for name in names:
            room = httpx.post(f"{sandbox}/sandbox/rooms", json={"name": name}).json()
            sids[room["sid"]] = name
            event = api.WebhookEvent(event="room_started", id=f"EV_{name}", created_at=int(time.time()))
            event.room.sid, event.room.name = room["sid"], name
            body = webhook_body(event)
            head = (f"POST /webhooks/livekit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Authorization: {sign_webhook(body, KEY, SECRET, ttl=3600)}\r\n"
                    f"Content-Type: application/webhook+json\r\nContent-Length: {len(body)}\r\n\r\n")
            requests.append((name, head.encode() + body))
        # A service in steady state has seen webhooks and made start calls before: one room first, alone.
        (warm_name, warm), requests = requests[0], requests[1:]
        [sock] = connections(port, 1)
        sock.sendall(warm)
        assert read_response(sock)[0] == 200
        sock.close()
        while not (starts_file.exists() and starts_file.read_text().strip()):
            time.sleep(0.05)
        socks = connections(port, rooms)
        time.sleep(1.5)  # past the rules cache; the service idle
        sent: dict[str, float] = {}
        for sock, (name, request) in zip(socks, requests, strict=True):
            sent[name] = time.time()
            sock.sendall(request)
        for sock in socks:
            status, body = read_response(sock)
            assert status == 200, body
            sock.close()
        deadline = time.monotonic() + 30
        lines: list[list[str]] = []
        while time.monotonic() < deadline:
            lines = [line.split() for line in starts_file.read_text().splitlines()] if starts_file.exists() else []
            if len(lines) >= len(names):
                break
            time.sleep(0.1)
        engine = build_engine(database)
        with engine.connect() as conn:
            per_room = dict(conn.execute(select(egresses.c.room_name, func.count()).where(
                egresses.c.room_name.in_(names)).group_by(egresses.c.room_name)).all())
        engine.dispose()
        calls = sorted(sid for sid, _, _ in lines)
        if sorted(per_room.items()) != [(n, 1) for n in sorted(names)] or calls != sorted(sids):
            raise SystemExit(f"expected one ledger row and one start call per room; got {len(per_room)} rooms "
                             f"with rows, {sum(per_room.values())} rows, {len(lines)} start calls")
        burst = [(sid, at, seconds) for sid, at, seconds in lines if sids[sid] != warm_name]
        client = [(float(at) - sent[sids[sid]]) * 1000 for sid, at, _ in burst]
        own = [float(seconds) * 1000 for _, _, seconds in burst]
        return client, own
    finally:
        for proc in reversed(procs):  # the service first: its calls in flight end with it
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:6.1f}  p99 {q[98]:6.1f}  max {ms[-1]:6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--db", default=None, help="PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    print(f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{'PostgreSQL' if args.db else 'SQLite'}; {args.rooms} rooms at once; target p99 < 50 ms; ms")
    p99s = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            client, own = run_once(args.rooms, args.db, Path(tmp), f"r{run}-{secrets.token_hex(3)}")
            p99s.append(statistics.quantiles(sorted(client), n=100, method="inclusive")[98])
            print(f"run {run + 1}: written -> start call {summary(client)}   "
                  f"(service's own: {summary(own)})  {'MET' if p99s[-1] < 50 else 'MISSED'}")
    # One run is one burst, and this machine's noise moves a burst by a third: judge the runs together.
    print(f"p99 over {len(p99s)} runs: median {statistics.median(p99s):.1f}, best {min(p99s):.1f}, "
          f"worst {max(p99s):.1f}; under 50 ms in {sum(p < 50 for p in p99s)} of {len(p99s)}")


if __name__ == "__main__":
    main()
