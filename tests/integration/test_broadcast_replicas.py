"""Three server processes on one PostgreSQL: every run due at the same moment starts exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from orchestrator.sandbox import SandboxThread
from tests.conftest import LK_KEY, LK_SECRET
from tests.harness import API_TOKEN, free_port, wait_until

RUNS = 12


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.postgres
def test_three_processes_start_each_run_once(pg_url: str, sandbox: SandboxThread, tmp_path: Path) -> None:
    urls, procs = [], []
    try:
        for i in range(3):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = {**os.environ, "LIVEKIT_URL": sandbox.url, "LIVEKIT_API_KEY": LK_KEY,
                   "LIVEKIT_API_SECRET": LK_SECRET, "ORCHESTRATOR_DATABASE_URL": pg_url,
                   "ORCHESTRATOR_API_TOKEN": API_TOKEN, "ORCHESTRATOR_PORT": str(port),
                   "ORCHESTRATOR_PUBLIC_URL": url, "ORCHESTRATOR_DATA_DIR": str(tmp_path / f"r{i}"),
                   "ORCHESTRATOR_BROADCAST_SWEEP_S": "0.2", "ORCHESTRATOR_INSTANCE_ID": f"replica-{i}",
                   "ORCHESTRATOR_LOG_LEVEL": "WARNING"}
            log = (tmp_path / f"r{i}.log").open("wb")
            procs.append(subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "serve"], env=env,
                                          stdout=log, stderr=subprocess.STDOUT))
            urls.append(url)
            wait_until(lambda u=url: _up(u), timeout=30)  # one at a time: each migrates the same database
        sandbox.sandbox.webhook_urls[:] = [f"{u}/webhooks/livekit" for u in urls]
        for i in range(RUNS):
            sandbox.call(sandbox.sandbox.join, f"room-{i}", "host")
        due = datetime.now(UTC) + timedelta(seconds=3)
        ids = []
        with httpx.Client(headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30) as c:
            for i in range(RUNS):
                r = c.post(f"{urls[i % 3]}/v1/broadcasts", json={
                    "room_name": f"room-{i}", "layout": "grid", "start_at": due.isoformat(), "max_duration_s": 60,
                    "destinations": [{"type": "rtmp", "url": f"rtmp://127.0.0.1:1/live/key-{i}-abcdef"}]})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])

            def all_live() -> list[dict[str, object]] | None:
                runs = [c.get(f"{urls[0]}/v1/broadcasts/{b}").json()["runs"][0] for b in ids]
                return runs if all(r["status"] == "live" for r in runs) else None

            runs = wait_until(all_live, timeout=20)
        infos = sandbox.call(sandbox.sandbox.egresses)
        assert len(infos) == RUNS, "exactly one start call per run"
        assert sorted(i.room_name for i in infos) == sorted(f"room-{i}" for i in range(RUNS))
        assert all(len(r["egresses"]) == 1 for r in runs)  # type: ignore[arg-type]
        claims = Counter(next(e["detail"].split()[2].rstrip(",") for e in r["events"]  # type: ignore[union-attr]
                              if e["status_after"] == "starting") for r in runs)
        assert sum(claims.values()) == RUNS and set(claims) <= {"replica-0", "replica-1", "replica-2"}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
