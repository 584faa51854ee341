"""The egress ledger over real HTTP: the service plus the sandbox LiveKit, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from orchestrator.sandbox import SandboxThread
from tests.conftest import make_settings
from tests.harness import ServiceThread, answers_while_the_database_is_held, wait_until

STREAM_KEY = "sk-live-0123456789abcdefSECRET"


def start_room(sandbox: SandboxThread, room: str = "studio", publish: bool = True) -> None:
    sandbox.call(sandbox.sandbox.create_room, room)
    if publish:
        sandbox.call(sandbox.sandbox.join, room, "alice")


def status_of(service: ServiceThread, ref: str) -> str:
    with service.client() as c:
        return str(c.get(f"/v1/egresses/{ref}").json()["status"])


def composite(room: str = "studio", **extra: Any) -> dict[str, Any]:
    body = {"kind": "room_composite", "room_name": room, "layout": "grid",
            "outputs": [{"type": "s3", "filepath": "rec/{room_name}-{time}.mp4"}]}
    body.update(extra)
    return body


def test_full_lifecycle_start_active_stop_complete(service: ServiceThread, sandbox: SandboxThread) -> None:
    start_room(sandbox)
    with service.client() as c:
        r = c.post("/v1/egresses", json=composite())
        assert r.status_code == 201, r.text
        eg = r.json()
        assert eg["egress_id"].startswith("EG_") and eg["kind"] == "room_composite"
        assert eg["status"] in ("starting", "active")
        wait_until(lambda: status_of(service, eg["id"]) == "active")
        stopped = c.post(f"/v1/egresses/{eg['egress_id']}/stop").json()
        assert stopped["status"] in ("ending", "complete")
        wait_until(lambda: status_of(service, eg["id"]) == "complete")
        shown = c.get(f"/v1/egresses/{eg['id']}").json()
    assert shown["ended_at"] and shown["started_at"]
    assert shown["files"] and shown["files"][0]["location"].startswith("http")
    statuses = [e["status_after"] for e in shown["events"]]
    assert statuses[0] == "starting" and statuses[-1] == "complete"
    assert {"webhook", "api"} <= {e["source"] for e in shown["events"]}
    assert "ending" in statuses


def test_list_filters_and_cursor_pagination(service: ServiceThread, sandbox: SandboxThread) -> None:
    start_room(sandbox, "a")
    start_room(sandbox, "b")
    with service.client() as c:
        ids = [c.post("/v1/egresses", json=composite(room)).json()["id"] for room in ("a", "a", "b")]
        only_a = c.get("/v1/egresses", params={"room_name": "a"}).json()["items"]
        assert {e["id"] for e in only_a} == set(ids[:2])
        page1 = c.get("/v1/egresses", params={"limit": 2}).json()
        assert len(page1["items"]) == 2 and page1["next_cursor"]
        page2 = c.get("/v1/egresses", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
        assert page2["next_cursor"] is None
        assert [e["id"] for e in page1["items"] + page2["items"]] == list(reversed(ids))
        c.post(f"/v1/egresses/{ids[2]}/stop")
        wait_until(lambda: status_of(service, ids[2]) in ("complete", "aborted"))
        active = {e["id"] for e in c.get("/v1/egresses", params={"active": "true"}).json()["items"]}
        assert active == set(ids[:2])
        bad = c.get("/v1/egresses", params={"cursor": "nonsense!"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


def test_update_stream_and_layout(service: ServiceThread, sandbox: SandboxThread) -> None:
    start_room(sandbox)
    with service.client() as c:
        eg = c.post("/v1/egresses", json={"kind": "room_composite", "room_name": "studio", "layout": "grid",
                                          "outputs": [{"type": "rtmp", "url": f"rtmp://127.0.0.1:1935/live/{STREAM_KEY}"}]}).json()
        wait_until(lambda: status_of(service, eg["id"]) == "active")
        second = "rtmps://live.example.com:443/app/second-key-abcdefgh"
        r = c.patch(f"/v1/egresses/{eg['id']}", json={"add_stream_urls": [second], "layout": "speaker"})
        assert r.status_code == 200, r.text
        assert len(r.json()["streams"]) == 2
        assert all("second-key-abcdefgh" not in s["url"] for s in r.json()["streams"])
        r = c.patch(f"/v1/egresses/{eg['id']}", json={"remove_stream_urls": [second]})
        assert r.status_code == 200, r.text
        assert [s["status"] for s in r.json()["streams"]].count("active") == 1
        unknown = c.patch(f"/v1/egresses/{eg['id']}", json={"layout": "no-such-layout"})
        assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "layout"


def test_errors_are_json_with_the_right_status(service: ServiceThread, sandbox: SandboxThread) -> None:
    with service.client() as c:
        missing_room = c.post("/v1/egresses", json=composite("no-such-room"))
        assert missing_room.status_code == 502
        assert missing_room.json()["error"]["code"] == "livekit_not_found"
        assert "room does not exist" in missing_room.json()["error"]["message"]
        assert c.get("/v1/egresses/egr_nope").status_code == 404
        assert c.get("/v1/egresses/egr_nope").json()["error"]["code"] == "not_found"
        no_outputs = c.post("/v1/egresses", json={"kind": "room_composite", "room_name": "x", "outputs": []})
        assert no_outputs.status_code == 422 and no_outputs.json()["error"]["field"] == "outputs"
        no_identity = c.post("/v1/egresses", json={"kind": "participant", "room_name": "x",
                                                   "outputs": [{"type": "s3"}]})
        assert no_identity.status_code == 422 and no_identity.json()["error"]["field"] == "identity"
        bad_url = c.post("/v1/egresses", json=composite(outputs=[{"type": "rtmp", "url": "http://x/y/z"}]))
        assert bad_url.status_code == 422 and bad_url.json()["error"]["field"] == "outputs.0.url"
        bad_kind = c.post("/v1/egresses", json=composite(kind="nope"))
        assert bad_kind.status_code == 422 and bad_kind.json()["error"]["field"] == "kind"
    with service.client(token=None) as anon:
        assert anon.get("/v1/egresses").status_code == 401
    with service.client(token="wrong") as wrong:
        assert wrong.get("/v1/egresses").status_code == 401
    # The failed start is in the ledger, with LiveKit's reason.
    with service.client() as c:
        failed = c.get("/v1/egresses", params={"status": "failed"}).json()["items"]
    assert len(failed) == 1 and "room does not exist" in failed[0]["error"]


def test_health_ready_and_metrics(service: ServiceThread, sandbox: SandboxThread) -> None:
    with service.client(token=None) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "livekit": "ok"}
        metrics = c.get("/metrics").text
    assert 'orchestrator_egresses{status="starting"}' in metrics
    assert 'orchestrator_broadcast_runs{status="live"} 0.0' in metrics
    assert 'orchestrator_recordings{status="ready"} 0.0' in metrics
    assert "orchestrator_livekit_call_seconds" in metrics


def test_readyz_reports_livekit_down(service_factory: Any) -> None:
    service = service_factory(livekit_url="http://127.0.0.1:9", livekit_timeout_s=1)
    with service.client(token=None) as c:
        ready = c.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["livekit"].startswith("error")


def test_served_layout_becomes_custom_base_url(service: ServiceThread, sandbox: SandboxThread) -> None:
    start_room(sandbox)
    with service.client() as c:
        eg = c.post("/v1/egresses", json=composite(layout="active-speaker")).json()
        assert eg["request"]["custom_base_url"] == f"{service.url}/layouts/active-speaker"
        assert "layout" not in eg["request"]
        page = c.get("/layouts/active-speaker", params={"url": "ws://x", "token": "t0ken-secret-value"})
    assert page.status_code == 200
    info = sandbox.call(sandbox.sandbox.egress_info, eg["egress_id"])
    assert info.room_composite.custom_base_url == f"{service.url}/layouts/active-speaker"


def test_change_feed_tells_each_status_once(service: ServiceThread, sandbox: SandboxThread) -> None:
    from orchestrator.services.changes import EgressChange

    seen: list[tuple[str | None, str]] = []

    async def record(change: EgressChange) -> None:
        seen.append((change.status_before.value if change.status_before else None, change.record.status.value))

    service.container.changes.on_egress_change(record)
    start_room(sandbox)
    sandbox.sandbox.faults.duplicate_webhooks = True
    with service.client() as c:
        eg = c.post("/v1/egresses", json=composite()).json()
        wait_until(lambda: status_of(service, eg["id"]) == "active")
        c.post(f"/v1/egresses/{eg['id']}/stop")
        wait_until(lambda: status_of(service, eg["id"]) == "complete")
    wait_until(lambda: seen and seen[-1][1] == "complete")
    if seen[0] == (None, "starting"):
        seen.pop(0)  # egress_started beat the start call's answer: the adopted row was announced, then merged
    assert seen == [("starting", "active"), ("active", "ending"), ("ending", "complete")]


def test_layout_options_go_into_the_page_url(service: ServiceThread, sandbox: SandboxThread) -> None:
    start_room(sandbox)
    with service.client() as c:
        eg = c.post("/v1/egresses", json=composite(layout="gallery", layout_options={
            "theme": "light", "background": "#102030", "title": "Town hall"})).json()
        info = sandbox.call(sandbox.sandbox.egress_info, eg["egress_id"])
        url = info.room_composite.custom_base_url
        assert url.startswith(f"{service.url}/layouts/gallery?")
        assert "theme=light" in url and "background=%23102030" in url and "title=Town%20hall" in url
        page = c.get(url.replace(service.url, ""), params={"url": "ws://x", "token": "t"})
        assert page.status_code == 200 and 'class="error"' not in page.text
        bad = c.post("/v1/egresses", json=composite(layout="gallery", layout_options={"theme": "sepia"}))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "layout_options.theme"
        bad = c.post("/v1/egresses", json=composite(layout="gallery", layout_options={"background": "url(x)"}))
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "layout_options.background"
        builtin = c.post("/v1/egresses", json=composite(layout="grid", layout_options={"theme": "light"}))
        assert builtin.status_code == 422 and builtin.json()["error"]["field"] == "layout_options"


def test_a_reconcile_pass_waiting_for_the_database_does_not_stall_the_service(
    sandbox: SandboxThread, tmp_path: Any
) -> None:
    service = ServiceThread(make_settings(f"sqlite:///{tmp_path / 'o.db'}", sandbox, tmp_path / "data")).start()
    sandbox.sandbox.webhook_urls[:] = [f"{service.url}/webhooks/livekit"]
    try:
        start_room(sandbox)
        with service.client() as c:
            egress = c.post("/v1/egresses", json=composite()).json()
        wait_until(lambda: status_of(service, egress["id"]) == "active")
        waited, report = answers_while_the_database_is_held(
            service, lambda: service.call(service.container.reconciler.run_once))
        assert waited < 1.0, f"/healthz took {waited:.2f} s while a reconcile pass waited for the database"
        assert report.checked == 1 and report.errors == []
    finally:
        service.stop()
