"""Scheduled broadcasts over real HTTP against the sandbox LiveKit, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.sandbox import SandboxThread
from tests.harness import ServiceThread, wait_until

MUX_KEY = "mux-live-key-0123456789ABCDEF"
FAST = {"heal_base_s": 0.2, "broadcast_sweep_s": 0.3, "misfire_grace_s": 2, "preflight_lead_s": 0}


def iso(dt: datetime) -> str:
    return dt.isoformat()


def run_of(service: ServiceThread, broadcast_id: str, index: int = 0) -> dict[str, Any]:
    with service.client() as c:
        body = c.get(f"/v1/broadcasts/{broadcast_id}").json()
    return dict(body["runs"][index])


def body(room: str = "studio", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"room_name": room, "layout": "grid", "max_duration_s": 30,
                            "destinations": [{"type": "mux", "stream_key": MUX_KEY},
                                             {"type": "rtmp", "url": "rtmp://127.0.0.1:1/live/second-key-123"}]}
    data.update(extra)
    return data


def test_start_now_live_then_stop_ends(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    with service.client() as c:
        r = c.post("/v1/broadcasts", json=body())
        assert r.status_code == 201, r.text
        b = r.json()
        assert MUX_KEY not in r.text and [d["type"] for d in b["destinations"]] == ["mux", "rtmp"]
        wait_until(lambda: run_of(service, b["id"])["status"] == "live", timeout=10)
        stopped = c.post(f"/v1/broadcasts/{b['id']}/stop")
        assert stopped.status_code == 200, stopped.text
    run = wait_until(lambda: (r := run_of(service, b["id"]))["status"] == "ended" and r, timeout=10)
    assert run["actual_start"] and run["actual_end"] and len(run["egresses"]) == 1
    infos = sandbox.call(sandbox.sandbox.egresses)
    assert len(infos) == 1 and len(infos[0].stream_results) == 2
    statuses = [e["status_after"] for e in run["events"]]
    assert statuses[0] == "scheduled" and "starting" in statuses and "live" in statuses and statuses[-1] == "ended"


def test_scheduled_start_and_end_on_time(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    start = datetime.now(UTC) + timedelta(seconds=1.5)
    with service.client() as c:
        b = c.post("/v1/broadcasts", json=body(start_at=iso(start), end_at=iso(start + timedelta(seconds=3)),
                                               max_duration_s=None)).json()
    assert run_of(service, b["id"])["status"] == "scheduled"
    wait_until(lambda: run_of(service, b["id"])["status"] == "live", timeout=6)
    run = wait_until(lambda: (r := run_of(service, b["id"]))["status"] == "ended" and r, timeout=8)
    actual_start = datetime.fromisoformat(run["actual_start"])
    assert timedelta(0) <= actual_start - start < timedelta(seconds=2)
    claimed = next(e for e in run["events"] if e["status_after"] == "starting")
    assert "ms after the planned start" in claimed["detail"]


def test_bad_input_names_the_field(service: ServiceThread) -> None:
    now = datetime.now(UTC)
    cases = [
        (body(start_at=iso(now + timedelta(hours=1)), end_at=iso(now + timedelta(minutes=30)), max_duration_s=None),
         "end_at"),
        (body(start_at=iso(now - timedelta(hours=1))), "start_at"),
        (body(max_duration_s=13 * 3600), "max_duration_s"),
        (body(destinations=[]), "destinations"),
        (body(layout="nope"), "layout"),
        (body(destinations=[{"type": "rtmp", "url": "rtmp://host-only"}]), "destinations.0.url"),
        (body(destinations=[{"type": "mux", "stream_key": " "}]), "destinations.0.stream_key"),
        (body(start_at=iso(now + timedelta(hours=1)), recurrence={"cron": "61 * * * *", "timezone": "UTC",
                                                                   "count": 3}), "recurrence.cron"),
        (body(start_at=iso(now + timedelta(hours=1)), recurrence={"cron": "0 9 * * *", "timezone": "Mars/Base",
                                                                   "count": 3}), "recurrence.timezone"),
        (body(start_at="2030-01-01T10:00:00"), "start_at"),  # no offset
        (body(max_duration_s=None), "end_at"),  # no end at all
    ]
    with service.client() as c:
        for data, field in cases:
            r = c.post("/v1/broadcasts", json=data)
            assert r.status_code == 422, (field, r.text)
            assert r.json()["error"]["field"] == field, (field, r.text)
            assert MUX_KEY not in r.text
        assert c.get("/v1/broadcasts").json()["items"] == []
