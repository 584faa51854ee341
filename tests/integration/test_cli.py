"""The `orchestrator` command over the REST API, as a person or a script would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from orchestrator.sandbox import SandboxThread
from tests.conftest import LK_KEY, LK_SECRET
from tests.harness import API_TOKEN, ServiceThread, wait_until


def cli(service: ServiceThread, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "ORCHESTRATOR_PUBLIC_URL": service.url, "ORCHESTRATOR_API_TOKEN": API_TOKEN,
               "ORCHESTRATOR_DATA_DIR": str(service.settings.data_dir), **env}
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], env=environ, capture_output=True,
                          text=True, timeout=60, check=False)


def test_egress_start_list_show_stop(service: ServiceThread, sandbox: SandboxThread) -> None:
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    started = cli(service, "egress", "start", "--room", "studio", "--layout", "grid", "--s3", "a/{time}.mp4",
                  "--mux", "muxkey0123456789abc", "--json")
    assert started.returncode == 0, started.stderr
    eg: dict[str, Any] = json.loads(started.stdout)
    assert eg["egress_id"].startswith("EG_") and "muxkey0123456789abc" not in started.stdout

    def status() -> str:
        shown = cli(service, "egress", "show", eg["id"], "--json")
        return str(json.loads(shown.stdout)["status"])

    wait_until(lambda: status() == "active")
    listed = cli(service, "egress", "list", "--active", "--json")
    assert [e["id"] for e in json.loads(listed.stdout)["items"]] == [eg["id"]]
    table = cli(service, "egress", "list")
    assert eg["id"] in table.stdout and "active" in table.stdout
    assert cli(service, "egress", "stop", eg["egress_id"]).returncode == 0
    wait_until(lambda: status() == "complete")
    shown = cli(service, "egress", "show", eg["id"])
    assert "complete" in shown.stdout and "webhook" in shown.stdout


def test_errors_exit_non_zero_with_the_reason(service: ServiceThread) -> None:
    missing = cli(service, "egress", "show", "egr_nope")
    assert missing.returncode == 1 and "404 not_found" in missing.stderr
    no_room = cli(service, "egress", "start", "--room", "ghost", "--s3", "x.mp4")
    assert no_room.returncode == 1 and "room does not exist" in no_room.stderr
    wrong_token = cli(service, "egress", "list", ORCHESTRATOR_API_TOKEN="nope")
    assert wrong_token.returncode == 1 and "401" in wrong_token.stderr


def test_doctor(service: ServiceThread, sandbox: SandboxThread) -> None:
    env = {"LIVEKIT_URL": sandbox.url, "LIVEKIT_API_KEY": LK_KEY, "LIVEKIT_API_SECRET": LK_SECRET,
           "ORCHESTRATOR_DATABASE_URL": service.settings.database_url_resolved}
    ok = cli(service, "doctor", "--json", **env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert {c["check"]: c["ok"] for c in json.loads(ok.stdout)} == {
        "configuration": True, "database": True, "livekit": True, "clock": True, "webhooks": True, "storage": True}
    bad = cli(service, "doctor", "--json", **{**env, "LIVEKIT_API_SECRET": "wrong-secret-0123456789abcdef"})
    assert bad.returncode == 1
    livekit = next(c for c in json.loads(bad.stdout) if c["check"] == "livekit")
    assert not livekit["ok"] and "credentials" in livekit["detail"]
    assert "wrong-secret" not in bad.stdout


def test_broadcast_commands(service: ServiceThread, sandbox: SandboxThread) -> None:
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    created = cli(service, "broadcast", "schedule", "--room", "studio", "--layout", "grid", "--duration", "60",
                  "--start", "2099-01-01T10:00:00+01:00", "--rtmp", "rtmp://127.0.0.1:1/live/cli-key-0123456",
                  "--json")
    assert created.returncode == 0, created.stderr
    b = json.loads(created.stdout)
    assert "cli-key-0123456" not in created.stdout
    listed = cli(service, "broadcast", "list")
    assert b["id"] in listed.stdout
    assert cli(service, "broadcast", "start", b["id"]).returncode == 0
    wait_until(lambda: json.loads(cli(service, "broadcast", "show", b["id"], "--json").stdout)["runs"][0]["status"]
               == "live")
    shown = cli(service, "broadcast", "show", b["id"])
    assert "live" in shown.stdout and "started by hand" in shown.stdout
    pre = cli(service, "broadcast", "preflight", b["id"])
    assert pre.returncode == 1 and "FAILED" in pre.stdout  # nothing listens on port 1
    assert cli(service, "broadcast", "stop", b["id"]).returncode == 0
    wait_until(lambda: json.loads(cli(service, "broadcast", "show", b["id"], "--json").stdout)["runs"][0]["status"]
               == "ended")
    bad = cli(service, "broadcast", "schedule", "--room", "studio", "--duration", "60")
    assert bad.returncode == 1 and "destinations" in bad.stderr
    cancelled = cli(service, "broadcast", "cancel", b["id"], "--json")
    assert json.loads(cancelled.stdout)["state"] == "cancelled"


def test_habits_version_url_token_from_anywhere(service: ServiceThread, sandbox: SandboxThread, tmp_path: Any) -> None:
    version = cli(service, "--version")
    assert version.returncode == 0 and version.stdout.startswith("orchestrator ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    run = subprocess.run([sys.executable, "-m", "orchestrator.cli", "--url", service.url, "--token", API_TOKEN,
                          "egress", "list", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    data_dir = tmp_path / "service-data"
    data_dir.mkdir()
    (data_dir / "api-token").write_text(API_TOKEN + "\n")
    run = subprocess.run([sys.executable, "-m", "orchestrator.cli", "egress", "list"],
                         env={**env, "ORCHESTRATOR_URL": service.url, "ORCHESTRATOR_DATA_DIR": str(data_dir)},
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    inside = subprocess.run([sys.executable, "-m", "orchestrator.cli", "egress", "list"],
                            env={**env, "ORCHESTRATOR_URL": service.url}, cwd=data_dir, capture_output=True,
                            text=True, timeout=60, check=False)
    assert inside.returncode == 0, inside.stderr  # run from inside the data directory
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    started = cli(service, "egress", "start", "--room", "studio", "--s3", "a.mp4", "--json",
                  MUX_STREAM_KEY="muxkey-from-env-0123456789")
    assert started.returncode == 0, started.stderr
    assert len(json.loads(started.stdout)["outputs"]) == 1  # nothing added from the environment
    eg = json.loads(started.stdout)
    assert cli(service, "egress", "update", eg["id"], "--layout", "speaker").returncode == 0
    assert cli(service, "egress", "stop", eg["id"]).returncode == 0
    followed = cli(service, "egress", "show", eg["id"], "--follow")
    assert followed.returncode == 0 and "complete" in followed.stdout and eg["id"] in followed.stdout


def test_broadcast_start_times_and_update(service: ServiceThread, sandbox: SandboxThread) -> None:
    created = cli(service, "broadcast", "schedule", "--room", "studio", "--duration", "60", "--start", "+10m",
                  "--rtmp", "rtmp://127.0.0.1:1/live/k-0123456", "--json")
    assert created.returncode == 0, created.stderr
    b = json.loads(created.stdout)
    local = cli(service, "broadcast", "update", b["id"], "--start", "2099-12-01 18:00", "--timezone", "Europe/Berlin",
                "--json")
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["start_at"].startswith("2099-12-01T17:00:00")
    listed = cli(service, "broadcast", "list")
    assert b["id"] in listed.stdout and "2099-12-01 17:00:00+00:00" in listed.stdout
    page = json.loads(cli(service, "broadcast", "list", "--json").stdout)
    item = next(i for i in page["items"] if i["id"] == b["id"])
    assert "runs" not in item or item["runs"] is None  # the list carries the next run only, not every run
    nxt = item["next_run"]
    assert (nxt["status"], nxt["timezone"]) == ("scheduled", "UTC")
    assert nxt["planned_start"].startswith("2099-12-01T17:00:00")
    assert nxt["planned_end"].startswith("2099-12-01T17:01:00")
    daily = cli(service, "broadcast", "schedule", "--room", "studio", "--duration", "60", "--cron", "0 18 * * *",
                "--count", "3", "--timezone", "Europe/Berlin", "--start", "2099-12-01 00:00",
                "--rtmp", "rtmp://127.0.0.1:1/live/k-7654321", "--json")
    assert daily.returncode == 0, daily.stderr
    listed = cli(service, "broadcast", "list", "--room", "studio")
    assert json.loads(daily.stdout)["id"] in listed.stdout
    assert "2099-12-01 18:00:00+01:00" in listed.stdout  # the recurrence's zone, with its offset
    bad = cli(service, "broadcast", "schedule", "--room", "studio", "--duration", "60", "--start", "soon")
    assert bad.returncode == 2 and "--start" in bad.stderr
    room = cli(service, "rooms", "create", "cli-room", "--json")
    assert room.returncode == 0, room.stderr
    assert json.loads(room.stdout)["name"] == "cli-room"
