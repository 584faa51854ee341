"""LiveKit misbehaving: timeouts, lost/duplicated/reordered webhooks, stuck starts, restarts, no worker."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
from livekit import api

from orchestrator.domain.egress import EgressRecord, EgressStatus, Origin
from orchestrator.sandbox import SandboxThread, sign_webhook, webhook_body
from tests.conftest import LK_KEY, LK_SECRET
from tests.harness import ServiceThread, wait_until
from tests.integration.test_egress_api import composite, start_room, status_of


def sandbox_egresses(sandbox: SandboxThread) -> list[api.EgressInfo]:
    return list(sandbox.call(sandbox.sandbox.egresses))


def test_start_times_out_but_egress_started_gives_exactly_one(
    service_factory: Any, sandbox: SandboxThread
) -> None:
    service = service_factory(livekit_start_timeout_s=0.5)
    start_room(sandbox)
    sandbox.sandbox.faults.start_response_delay = 2.0  # LiveKit starts it, but answers too late
    with service.client() as c:
        r = c.post("/v1/egresses", json=composite())
        assert r.status_code == 201, r.text
        eg = r.json()
        infos = sandbox_egresses(sandbox)
        assert len(infos) == 1, "a retry must never make a second recording"
        assert eg["egress_id"] == infos[0].egress_id
        time.sleep(2.5)  # let the late answer and the webhooks land
        assert len(sandbox_egresses(sandbox)) == 1
        ledger = c.get("/v1/egresses").json()["items"]
        assert [e["egress_id"] for e in ledger] == [eg["egress_id"]]
        assert wait_until(lambda: status_of(service, eg["id"]) == "active")
        events = c.get(f"/v1/egresses/{eg['id']}").json()["events"]
    assert any("did not complete" in e["detail"] and "adopted" in e["detail"] for e in events), events


def test_webhook_before_start_response_is_merged_into_one_row(
    service: ServiceThread, sandbox: SandboxThread
) -> None:
    start_room(sandbox)
    sandbox.sandbox.faults.start_response_delay = 0.5  # egress_started arrives first
    with service.client() as c:
        eg = c.post("/v1/egresses", json=composite()).json()
        wait_until(lambda: status_of(service, eg["id"]) == "active")
        items = c.get("/v1/egresses").json()["items"]
        assert len(items) == 1 and items[0]["id"] == eg["id"] and items[0]["origin"] == "api"
        events = c.get(f"/v1/egresses/{eg['id']}").json()["events"]
    assert any("merged" in e["detail"] for e in events) or any(e["source"] == "webhook" for e in events)


def test_lost_webhooks_are_repaired_by_the_reconciler(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(reconcile_interval_s=1.0)
    start_room(sandbox)
    sandbox.sandbox.faults.drop_webhooks = True
    with service.client() as c:
        eg = c.post("/v1/egresses", json=composite()).json()
        assert eg["status"] == "starting"
        wait_until(lambda: status_of(service, eg["id"]) == "active", timeout=4)
        sandbox.call(sandbox.sandbox.close_room, "studio")  # ends the egress; egress_ended is lost
        wait_until(lambda: status_of(service, eg["id"]) == "complete", timeout=4)
        events = c.get(f"/v1/egresses/{eg['id']}").json()["events"]
    assert not any(e["source"] == "webhook" for e in events)
    assert any(e["source"] == "reconcile" and e["status_after"] == "complete" for e in events)
    with httpx.Client() as raw:
        metrics = raw.get(f"{service.url}/metrics").text
    assert 'orchestrator_reconcile_repairs_total{kind="missed_update"}' in metrics


def test_duplicated_webhooks_change_nothing_twice(service: ServiceThread, sandbox: SandboxThread) -> None:
    start_room(sandbox)
    sandbox.sandbox.faults.duplicate_webhooks = True
    with service.client() as c:
        eg = c.post("/v1/egresses", json=composite()).json()
        wait_until(lambda: status_of(service, eg["id"]) == "active")
        c.post(f"/v1/egresses/{eg['id']}/stop")
        wait_until(lambda: status_of(service, eg["id"]) == "complete")
        sandbox.call(sandbox.sandbox.webhooks_idle)
        events = c.get(f"/v1/egresses/{eg['id']}").json()["events"]
    webhook_ids = [e["event_id"] for e in events if e["source"] == "webhook"]
    assert webhook_ids and len(webhook_ids) == len(set(webhook_ids))
    with httpx.Client() as raw:
        metrics = raw.get(f"{service.url}/metrics").text
    duplicates = float(next(line.split()[-1] for line in metrics.splitlines()
                            if line.startswith("orchestrator_webhooks_duplicate_total")))
    assert duplicates >= len(webhook_ids)


def _post_event(service: ServiceThread, event: api.WebhookEvent) -> httpx.Response:
    body = webhook_body(event)
    return httpx.post(f"{service.url}/webhooks/livekit", content=body,
                      headers={"Authorization": sign_webhook(body, LK_KEY, LK_SECRET),
                               "Content-Type": "application/webhook+json"})


def _egress_event(event_id: str, name: str, status: int, updated_ns: int) -> api.WebhookEvent:
    info = api.EgressInfo(egress_id="EG_reorder1234", room_name="studio", room_id="RM_x", status=status,
                          started_at=1_700_000_000_000_000_000, updated_at=updated_ns)
    return api.WebhookEvent(event=name, id=event_id, created_at=int(time.time()), egress_info=info,
                            room=api.Room(name="studio", sid="RM_x"))


def test_reordered_webhooks_never_move_backwards(service: ServiceThread) -> None:
    t = 1_700_000_000_000_000_000
    sequence = [
        _egress_event("EV_a", "egress_started", api.EGRESS_STARTING, t),
        _egress_event("EV_d", "egress_ended", api.EGRESS_COMPLETE, t + 4),
        _egress_event("EV_b", "egress_updated", api.EGRESS_ACTIVE, t + 2),  # late
        _egress_event("EV_c", "egress_updated", api.EGRESS_ENDING, t + 3),  # late
        _egress_event("EV_d", "egress_ended", api.EGRESS_COMPLETE, t + 4),  # retried duplicate
    ]
    for event in sequence:
        assert _post_event(service, event).status_code == 200
    with service.client() as c:
        eg = c.get("/v1/egresses/EG_reorder1234").json()
    assert eg["status"] == "complete" and eg["origin"] == "adopted"
    outcomes = [(e["event_id"], e["outcome"], e["status_after"]) for e in eg["events"]]
    assert outcomes == [
        ("EV_a", "created", "starting"),
        ("EV_d", "applied", "complete"),
        ("EV_b", "ignored_terminal", "complete"),
        ("EV_c", "ignored_terminal", "complete"),
    ]


def test_stuck_in_starting_is_stopped_at_the_deadline(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(start_deadline_s=1.0, reconcile_interval_s=0.5)
    sandbox.call(sandbox.sandbox.create_room, "empty")  # nobody publishes: no start signal, ever
    with service.client() as c:
        eg = c.post("/v1/egresses", json=composite("empty")).json()
        assert eg["status"] == "starting"
        wait_until(lambda: status_of(service, eg["id"]) == "failed", timeout=6)
        shown = c.get(f"/v1/egresses/{eg['id']}").json()
    assert "did not start within 1 s" in shown["error"] and "START_RECORDING" in shown["error"]
    info = wait_until(lambda: [i for i in sandbox_egresses(sandbox) if i.status == api.EGRESS_ABORTED])
    assert info[0].egress_id == eg["egress_id"]


def test_service_restart_while_egress_runs(service_factory: Any, sandbox: SandboxThread) -> None:
    first = service_factory()
    start_room(sandbox)
    with first.client() as c:
        eg = c.post("/v1/egresses", json=composite()).json()
        wait_until(lambda: status_of(first, eg["id"]) == "active")
    first.stop()
    sandbox.sandbox.faults.drop_webhooks = True  # the service is down: its webhooks go nowhere
    sandbox.call(sandbox.sandbox.close_room, "studio")
    wait_until(lambda: sandbox.call(sandbox.sandbox.egress_info, eg["egress_id"]).status
               == api.EGRESS_COMPLETE)
    second = service_factory()  # same database; reconciles at start-up
    wait_until(lambda: status_of(second, eg["id"]) == "complete", timeout=5)
    with second.client() as c:
        shown = c.get(f"/v1/egresses/{eg['id']}").json()
    assert shown["files"] and shown["ended_at"]


def test_no_worker_gives_503_and_a_failed_row(service: ServiceThread, sandbox: SandboxThread) -> None:
    start_room(sandbox)
    sandbox.sandbox.faults.no_worker = True
    with service.client() as c:
        r = c.post("/v1/egresses", json=composite())
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "livekit_unavailable"
        failed = c.get("/v1/egresses", params={"status": "failed"}).json()["items"]
    assert len(failed) == 1 and "no response from servers" in failed[0]["error"]
    assert sandbox_egresses(sandbox) == []


def test_egress_livekit_forgot_is_marked_failed(service: ServiceThread) -> None:
    now = datetime.now(UTC)
    service.container.ledger.create_many([EgressRecord(
        id="egr_forgotten", egress_id="EG_forgotten123", kind=None, room_name="x", status=EgressStatus.ACTIVE,
        origin=Origin.API, created_at=now, updated_at=now)])
    report = service.call(service.container.reconciler.run_once)
    assert report.lost == 1
    with service.client() as c:
        shown = c.get("/v1/egresses/egr_forgotten").json()
    assert shown["status"] == "failed" and "no longer knows" in shown["error"]


def test_crash_during_start_is_recovered_by_the_reconciler(service_factory: Any, sandbox: SandboxThread) -> None:
    """The service wrote its row and called LiveKit, then died before the answer: no orphan, no duplicate."""
    from orchestrator.api.schemas import EgressCreate

    service = service_factory(start_deadline_s=0.5)
    start_room(sandbox)
    sandbox.sandbox.faults.drop_webhooks = True  # the adopting webhook is lost too
    request = EgressCreate.model_validate(composite()).to_request(service.container.storage, service.url)
    now = datetime.now(UTC)
    service.container.ledger.create_many([EgressRecord(
        id="egr_crashed", egress_id=None, kind=request.kind, room_name="studio", status=EgressStatus.STARTING,
        origin=Origin.API, created_at=now, updated_at=now, request=request.redacted(),
        fingerprint=request.fingerprint())])
    started = service.call(service.container.gateway.start, request)  # LiveKit started it; we "crashed"
    time.sleep(0.6)
    report = service.call(service.container.reconciler.run_once)
    assert report.repaired == 1 and report.adopted == 0
    with service.client() as c:
        items = c.get("/v1/egresses").json()["items"]
    assert [(e["id"], e["egress_id"]) for e in items] == [("egr_crashed", started.egress_id)]
    assert items[0]["status"] in ("starting", "active")
