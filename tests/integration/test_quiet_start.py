"""`orchestrator serve` in sandbox mode starts and restarts without a warning; a restart says once what it lost."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from orchestrator.sandbox_restart import SANDBOX_RESTARTED
from tests.integration.served import Served, served

# Several sweeps run while the service is watched (a room that looked lost would be logged by one of them).
FAST_SWEEPS = {"ORCHESTRATOR_AUTORECORD_SWEEP_S": "0.5", "ORCHESTRATOR_RECONCILE_INTERVAL_S": "1"}


def _api(handle: Served) -> httpx.Client:
    return httpx.Client(base_url=handle.url, headers={"Authorization": f"Bearer {handle.token}"}, timeout=10)


def _until(check: object, timeout_s: float = 15) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_sandbox_start_and_restart_are_quiet(tmp_path: Path) -> None:
    with served(tmp_path, extra_env=FAST_SWEEPS) as first, _api(first) as api:
        started = api.post("/v1/egresses", json={"kind": "room_composite", "room_name": "demo",
                                                  "outputs": [{"type": "mux", "stream_key": "sandbox-key"}]})
        assert started.status_code in (200, 201, 202), started.text
        egress = started.json()["id"]
        _until(lambda: api.get(f"/v1/egresses/{egress}").json()["status"] == "active")
        time.sleep(1.5)  # sweeps and a reconcile pass over a running room and egress
        assert first.loud_lines() == []
    assert first.loud_lines() == [], "stopping logged a warning"
    assert "failed: ConnectError" not in first.log()
    assert "previous run" not in first.log()

    with served(tmp_path, extra_env=FAST_SWEEPS) as second, _api(second) as api:
        shown = api.get(f"/v1/egresses/{egress}").json()
        assert shown["status"] == "failed" and shown["error"] == SANDBOX_RESTARTED
        time.sleep(1.5)
        said = [line for line in second.log().splitlines() if "of the previous run were closed" in line]
        assert len(said) == 1 and "1 egress(es) and 1 room session(s)" in said[0], second.log()
        assert second.loud_lines() == []
        assert "was lost" not in second.log() and "no longer knows" not in second.log()
        # The new sandbox's room "demo" is a session of its own, opened by its room_started webhook.
        demo = api.get("/v1/sessions", params={"room_name": "demo", "open": "true"}).json()["items"]
        assert len(demo) == 1 and demo[0]["source"] == "room_started", demo
