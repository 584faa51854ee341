"""Who did what: every change made through the API records its caller's name in the history rows of the ledger,
broadcasts, runs and recordings; what the service does itself (webhooks, sweeps) records `system`. The API
shows it on each history item and the CLI prints "by <actor>". One `orchestrator serve` on embedded defaults."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import wait_until
from tests.integration.served import Served, served


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("actors")) as s:
        yield s


def client(s: Served, token: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=s.url, headers={"Authorization": f"Bearer {token or s.token}"}, timeout=30)


@pytest.fixture(scope="module")
def producer_key(service: Served) -> tuple[str, str]:
    """An API key with the producer role: (its secret, the name history rows record for it)."""
    with client(service) as admin:
        r = admin.post("/v1/keys", json={"name": "deploy-bot", "role": "producer"})
        assert r.status_code in (200, 201), r.text
        secret = r.json()["key"]
    with client(service, secret) as bot:
        me = bot.get("/v1/me").json()
    assert me["role"] == "producer"
    return secret, me["name"]


def _history(c: httpx.Client, ref: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = c.get(f"/v1/egresses/{ref}").json()["events"]
    return events


def test_an_egress_started_and_stopped_by_a_key_names_it_and_webhooks_name_the_system(
        service: Served, producer_key: tuple[str, str]) -> None:
    secret, name = producer_key
    with client(service, secret) as c:
        r = c.post("/v1/egresses", json={"kind": "room_composite", "room_name": "demo", "layout": "grid",
                                         "outputs": [{"type": "s3", "filepath": "actors/{time}.mp4"}]})
        assert r.status_code == 201, r.text
        ref = r.json()["id"]
        wait_until(lambda: c.get(f"/v1/egresses/{ref}").json()["status"] == "active", timeout=20)
        assert c.post(f"/v1/egresses/{ref}/stop").status_code == 200
        wait_until(lambda: c.get(f"/v1/egresses/{ref}").json()["status"] == "complete", timeout=20)
        events = _history(c, ref)
    assert events[0]["outcome"] == "created" and events[0]["actor"] == name
    stop = [e for e in events if e["detail"] == "stop requested"]
    assert stop and stop[0]["actor"] == name
    webhooks = [e for e in events if e["source"] == "webhook"]
    assert webhooks and {e["actor"] for e in webhooks} == {"system"}

    with client(service, secret) as c:  # its recording: deleted by the key, catalogued by the system
        recording = wait_until(lambda: (c.get("/v1/recordings", params={"egress": ref}).json()["items"] or [None])[0],
                               timeout=20)
        assert c.delete(f"/v1/recordings/{recording['id']}").status_code == 200
        shown = c.get(f"/v1/recordings/{recording['id']}").json()
    assert shown["events"][0]["actor"] == "system"
    assert shown["events"][-1]["status_after"] == "deleted" and shown["events"][-1]["actor"] == name

    out = subprocess.run([".venv/bin/orchestrator", "egress", "show", ref], cwd=service.cwd, env=service.env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert name in out.stdout and "system" in out.stdout


def test_a_broadcast_created_by_the_token_and_cancelled_by_a_key_says_so(
        service: Served, producer_key: tuple[str, str]) -> None:
    secret, name = producer_key
    with client(service) as admin:
        r = admin.post("/v1/broadcasts", json={
            "room_name": "demo", "layout": "grid", "start_at": "2099-01-01T10:00:00Z", "max_duration_s": 60,
            "destinations": [{"type": "rtmp", "url": "rtmp://127.0.0.1:1/live/actor-key-123456"}]})
        assert r.status_code == 201, r.text
        bid = r.json()["id"]
    with client(service, secret) as bot:
        cancelled = bot.delete(f"/v1/broadcasts/{bid}").json()
    assert [(h["state_after"], h["actor"]) for h in cancelled["history"]] == [("active", "api-token"),
                                                                             ("cancelled", name)]
    [run] = cancelled["runs"]
    assert [(e["status_after"], e["actor"]) for e in run["events"]] == [("scheduled", "api-token"),
                                                                       ("cancelled", name)]
    out = subprocess.run([".venv/bin/orchestrator", "broadcast", "show", bid], cwd=service.cwd, env=service.env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"by {name}" in out.stdout and "by api-token" in out.stdout


def test_a_viewer_key_changes_nothing_and_leaves_no_history(service: Served) -> None:
    with client(service) as admin:
        r = admin.post("/v1/keys", json={"name": "wall-screen", "role": "viewer"})
        secret = r.json()["key"]
        before = admin.get("/v1/egresses", params={"limit": 500}).json()["items"]
    with client(service, secret) as viewer:
        r = viewer.post("/v1/egresses", json={"kind": "room_composite", "room_name": "demo", "layout": "grid",
                                              "outputs": [{"type": "s3", "filepath": "x/{time}.mp4"}]})
        assert r.status_code == 403
        assert viewer.get("/v1/egresses", params={"limit": 500}).json()["items"] == before

