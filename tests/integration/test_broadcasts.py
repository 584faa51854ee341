"""Scheduled broadcasts over real HTTP against the sandbox LiveKit, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.sandbox import SandboxThread
from tests.conftest import make_settings
from tests.harness import ServiceThread, answers_while_the_database_is_held, wait_until
from tests.integration.s3_server import CALLBACK_SECRET, CallbackReceiver, receiver  # noqa: F401 - fixture

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


def test_restart_between_scheduling_and_start_still_starts_once(service_factory: Any, sandbox: SandboxThread) -> None:
    first = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    start = datetime.now(UTC) + timedelta(seconds=1.5)
    with first.client() as c:
        b = c.post("/v1/broadcasts", json=body(start_at=iso(start))).json()
    first.stop()  # down across the planned start...
    wait_until(lambda: datetime.now(UTC) > start + timedelta(seconds=0.3), timeout=5)
    second = service_factory(**FAST)  # ...and back within the misfire grace
    run = wait_until(lambda: (r := run_of(second, b["id"]))["status"] == "live" and r, timeout=10)
    assert len(run["egresses"]) == 1
    assert len(sandbox.call(sandbox.sandbox.egresses)) == 1


def test_down_beyond_the_grace_gives_missed(service_factory: Any, sandbox: SandboxThread) -> None:
    first = service_factory(**{**FAST, "misfire_grace_s": 0.5})
    start = datetime.now(UTC) + timedelta(seconds=1)
    with first.client() as c:
        b = c.post("/v1/broadcasts", json=body(start_at=iso(start))).json()
    first.stop()
    wait_until(lambda: datetime.now(UTC) > start + timedelta(seconds=1.5), timeout=5)
    second = service_factory(**{**FAST, "misfire_grace_s": 0.5})
    run = wait_until(lambda: (r := run_of(second, b["id"]))["status"] == "missed" and r, timeout=5)
    assert "missed" in run["error"] and "misfire grace" in run["events"][-1]["detail"]
    assert sandbox.call(sandbox.sandbox.egresses) == []
    with second.client() as c:
        assert c.get(f"/v1/broadcasts/{b['id']}").json()["state"] == "finished"


def test_self_healing_replaces_a_failed_egress(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    sandbox.sandbox.faults.fail_active_after = 1.0  # the first egress fails a second after going active
    with service.client() as c:
        b = c.post("/v1/broadcasts", json=body()).json()
    wait_until(lambda: run_of(service, b["id"])["status"] == "live", timeout=10)
    sandbox.sandbox.faults.fail_active_after = None  # the replacement is healthy
    run = wait_until(lambda: (r := run_of(service, b["id"]))["egresses"] and len(r["egresses"]) >= 2 and r,
                     timeout=10)
    assert [e["reason"] for e in run["egresses"]][:2] == ["start", "replacement"]
    details = " | ".join(e["detail"] for e in run["events"])
    assert "ended early" in details and "replacement" in details
    first_failed = next(e["at"] for e in run["events"] if "ended early" in e["detail"])
    replaced = next(e["at"] for e in run["events"] if e["detail"].startswith("replacement: starting egress"))
    assert datetime.fromisoformat(replaced) - datetime.fromisoformat(first_failed) < timedelta(seconds=60)
    assert run["status"] == "live"


def test_patch_while_live_changes_layout_and_destinations(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    with service.client() as c:
        b = c.post("/v1/broadcasts", json=body()).json()
        wait_until(lambda: run_of(service, b["id"])["status"] == "live", timeout=10)
        rtmp_id = b["destinations"][1]["id"]
        r = c.patch(f"/v1/broadcasts/{b['id']}", json={
            "layout": "speaker", "remove_destinations": [rtmp_id],
            "add_destinations": [{"type": "rtmp", "url": "rtmps://live.example.com:443/app/third-key-456"}]})
        assert r.status_code == 200, r.text
        assert "third-key-456" not in r.text
        assert [d["type"] for d in r.json()["destinations"]] == ["mux", "rtmp"]
        info = sandbox.call(sandbox.sandbox.egresses)[0]
        active = [s.url for s in info.stream_results if s.status == 0]
        assert len(active) == 2 and any("live.example.com" in u for u in active)
        assert sum(1 for s in info.stream_results if s.status == 1) == 1  # the removed one finished
        c.delete(f"/v1/broadcasts/{b['id']}")
    run = wait_until(lambda: (r := run_of(service, b["id"]))["status"] == "cancelled" and r, timeout=10)
    details = [e["detail"] for e in run["events"]]
    assert any("layout changed to speaker" in d for d in details)
    assert any("destinations changed" in d for d in details)


def test_preflight_reports_each_check(service_factory: Any, sandbox: SandboxThread) -> None:
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def fake_rtmp() -> None:  # answers C0+C1 with S0+S1 like an RTMP server
        conn, _ = server.accept()
        with conn:
            conn.recv(1537)
            conn.sendall(b"\x03" + b"\x00" * 1536)

    threading.Thread(target=fake_rtmp, daemon=True).start()
    service = service_factory(**FAST)
    start = datetime.now(UTC) + timedelta(hours=1)
    with service.client() as c:
        b = c.post("/v1/broadcasts", json=body(start_at=iso(start), layout="gallery", destinations=[
            {"type": "rtmp", "url": f"rtmp://127.0.0.1:{port}/live/good-key-123"},
            {"type": "rtmp", "url": "rtmp://127.0.0.1:1/live/refused-key-123"}])).json()
        result = c.post(f"/v1/broadcasts/{b['id']}/preflight").json()
        shown = c.get(f"/v1/broadcasts/{b['id']}").json()
    server.close()
    checks = {ch["check"]: ch for ch in result["checks"]}
    assert result["ok"] is False
    assert checks["livekit"]["ok"] is True and checks["layout"]["ok"] is True
    good, bad = (checks[f"destination {d['id']}"] for d in b["destinations"])
    assert good["ok"] is True and "handshake" in good["detail"]
    assert bad["ok"] is False and "refused" in bad["detail"]
    assert "refused-key-123" not in str(result)
    assert shown["runs"][0]["preflight"] == result["checks"]


def test_wait_for_publisher(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**{**FAST, "broadcast_sweep_s": 30})  # the webhook must do it, not the sweep
    sandbox.call(sandbox.sandbox.create_room, "studio")
    with service.client() as c:
        b = c.post("/v1/broadcasts", json=body(wait_for_publisher=True)).json()
    run = wait_until(lambda: (r := run_of(service, b["id"]))["error"] == "waiting for a publisher" and r, timeout=5)
    assert run["status"] == "starting" and run["egresses"] == []
    assert sandbox.call(sandbox.sandbox.egresses) == []
    sandbox.call(sandbox.sandbox.join, "studio", "alice")  # track_published webhook
    run = wait_until(lambda: (r := run_of(service, b["id"]))["status"] == "live" and r, timeout=10)
    assert len(run["egresses"]) == 1


def test_real_rtmp_recording_lasts_as_long_as_the_run(service_factory: Any, sandbox: SandboxThread) -> None:
    from tests.integration.rtmp_server import RtmpServer, missing_tools

    if missing_tools():
        import os

        import pytest

        if os.environ.get("CI"):
            pytest.fail(f"missing {missing_tools()}")
        pytest.skip(f"missing {missing_tools()}")
    service = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    with RtmpServer(None) as rtmp:
        start = datetime.now(UTC) + timedelta(seconds=1)
        with service.client() as c:
            b = c.post("/v1/broadcasts", json=body(start_at=iso(start), max_duration_s=5, destinations=[
                {"type": "rtmp", "url": rtmp.url("broadcast-key-0123")}])).json()
        run = wait_until(lambda: (r := run_of(service, b["id"]))["status"] == "ended" and r, timeout=20)
        [recording] = rtmp.wait_recordings("broadcast-key-0123", count=1, within=10)
        recorded = rtmp.duration(recording)
    live = (datetime.fromisoformat(run["actual_end"]) - datetime.fromisoformat(run["actual_start"])).total_seconds()
    assert 4 <= live <= 7, live
    assert abs(recorded - live) < 1.5, (recorded, live)


def test_broadcast_callbacks_per_broadcast_url(
    service_factory: Any, sandbox: SandboxThread, receiver: CallbackReceiver,  # noqa: F811
) -> None:
    service = service_factory(**FAST, callback_secret=CALLBACK_SECRET, callback_poll_interval_s=0.1,
                              callback_backoff_s=0.1)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    with service.client() as c:
        bad = c.post("/v1/broadcasts", json=body(callback_urls=["ftp://x/y"]))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "callback_urls.0"
        b = c.post("/v1/broadcasts", json=body(callback_urls=[receiver.url], title="Town hall")).json()
        wait_until(lambda: run_of(service, b["id"])["status"] == "live", timeout=10)
        c.post(f"/v1/broadcasts/{b['id']}/stop")
    started = wait_until(lambda: receiver.events("broadcast.started"), timeout=10)
    ended = wait_until(lambda: receiver.events("broadcast.ended"), timeout=10)
    assert started[0].json["data"]["broadcast_id"] == b["id"] and started[0].json["data"]["title"] == "Town hall"
    assert ended[0].json["data"]["status"] == "ended" and ended[0].json["data"]["actual_end"]
    assert MUX_KEY.encode() not in started[0].body + ended[0].body


def test_rollover_hands_over_to_a_new_egress(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**FAST, rollover_after_s=1.5)  # stands in for LiveKit Cloud's 12 h limit
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    with service.client() as c:
        b = c.post("/v1/broadcasts", json=body()).json()
    run = wait_until(lambda: (r := run_of(service, b["id"]))["egresses"] and len(r["egresses"]) >= 2 and r,
                     timeout=10)
    assert [e["reason"] for e in run["egresses"]][:2] == ["start", "rollover"]
    first = run["egresses"][0]["id"]
    with service.client() as c:
        wait_until(lambda: c.get(f"/v1/egresses/{first}").json()["status"] == "complete", timeout=10)
    run = run_of(service, b["id"])
    assert run["status"] == "live" and run["egress"] != first
    assert any(f"stopping {first}" in e["detail"] for e in run["events"])


def test_failed_destination_is_readded(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    sandbox.sandbox.faults.rtmp_refuse = ["flaky"]  # this destination's first connect fails
    with service.client() as c:
        b = c.post("/v1/broadcasts", json=body(destinations=[
            {"type": "mux", "stream_key": MUX_KEY},
            {"type": "rtmp", "url": "rtmp://127.0.0.1:1/live/flaky-key-0123"}])).json()
    wait_until(lambda: run_of(service, b["id"])["status"] == "live", timeout=10)
    info = wait_until(lambda: (i := sandbox.call(sandbox.sandbox.egresses)[0]) and
                      any(s.status == 2 for s in i.stream_results) and i, timeout=10)
    sandbox.sandbox.faults.rtmp_refuse = []  # the ingest is back
    info = wait_until(lambda: (i := sandbox.call(sandbox.sandbox.egresses)[0]) and
                      sum(1 for s in i.stream_results if s.status == 0) == 2 and i, timeout=10)
    run = run_of(service, b["id"])
    assert run["status"] == "live" and len(run["egresses"]) == 1
    readds = [e for e in run["events"] if "re-adding destination" in e["detail"]]
    # Failed attempts stay in LiveKit's results; a re-add made before the ingest came back failed again.
    assert 1 <= len(readds) <= 5 and len(info.stream_results) == 2 + len(readds)


def test_broadcast_layout_options(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    with service.client() as c:
        r = c.post("/v1/broadcasts", json=body(layout="crop", layout_options={"show_names": False, "theme": "light"}))
        assert r.status_code == 201, r.text
        assert r.json()["layout_options"] == {"show_names": "false", "theme": "light"}
        wait_until(lambda: run_of(service, r.json()["id"])["status"] == "live", timeout=10)
    info = sandbox.call(sandbox.sandbox.egresses)[0]
    assert info.room_composite.custom_base_url == f"{service.url}/layouts/crop?show_names=false&theme=light"


def test_waiting_for_a_publisher_gives_up_at_the_end_time(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(**FAST)
    sandbox.call(sandbox.sandbox.create_room, "empty-stage")
    with service.client() as c:
        b = c.post("/v1/broadcasts", json=body(room="empty-stage", wait_for_publisher=True, max_duration_s=2)).json()
    run = wait_until(lambda: (r := run_of(service, b["id"]))["status"] == "failed" and r, timeout=10)
    assert run["error"] == "no publisher joined before the end time" and run["egresses"] == []
    assert sandbox.call(sandbox.sandbox.egresses) == []


def test_callback_url_credentials_are_not_shown(service: ServiceThread) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    with service.client() as c:
        r = c.post("/v1/broadcasts", json=body(start_at=iso(start), callback_urls=[
            "https://hook-user:hook-pass-123@hooks.example.com:8443/b?token=tok-456"]))
        assert r.status_code == 201, r.text
        assert r.json()["callback_urls"] == ["https://hooks.example.com:8443/b"]
        shown = c.get(f"/v1/broadcasts/{r.json()['id']}").text + c.get("/v1/broadcasts").text
    assert "hook-pass-123" not in r.text + shown and "tok-456" not in r.text + shown


def test_a_command_waiting_for_the_database_does_not_stall_the_service(sandbox: SandboxThread, tmp_path: Any) -> None:
    """On SQLite writers queue for one lock; a broadcast command waits for it in a worker thread, so the event
    loop (every other request, every webhook) goes on meanwhile."""
    service = ServiceThread(make_settings(f"sqlite:///{tmp_path / 'o.db'}", sandbox, tmp_path / "data")).start()
    try:
        start = datetime.now(UTC) + timedelta(hours=1)
        with service.client() as c:
            created = c.post("/v1/broadcasts", json=body(start_at=iso(start)))
        assert created.status_code == 201, created.text

        def cancel() -> Any:
            with service.client() as c:
                return c.delete(f"/v1/broadcasts/{created.json()['id']}")

        waited, answer = answers_while_the_database_is_held(service, cancel)
        assert waited < 1.0, f"/healthz took {waited:.2f} s while a command waited for the database"
        assert answer.status_code == 200 and answer.json()["state"] == "cancelled"
    finally:
        service.stop()
