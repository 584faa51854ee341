"""Two replicas on one database receiving the same webhooks keep one exact ledger."""

from __future__ import annotations

from collections import Counter
from typing import Any

from orchestrator.sandbox import SandboxThread
from tests.harness import wait_until
from tests.integration.test_egress_api import composite, start_room, status_of


def test_two_replicas_same_webhooks_one_ledger(service_factory: Any, sandbox: SandboxThread) -> None:
    a = service_factory()
    b = service_factory()
    sandbox.sandbox.webhook_urls[:] = [f"{a.url}/webhooks/livekit", f"{b.url}/webhooks/livekit"]
    sandbox.sandbox.faults.duplicate_webhooks = True  # and every delivery twice
    start_room(sandbox)
    with a.client() as c:
        eg = c.post("/v1/egresses", json=composite()).json()
    wait_until(lambda: status_of(b, eg["id"]) == "active")
    with b.client() as c:
        c.post(f"/v1/egresses/{eg['id']}/stop")
    wait_until(lambda: status_of(a, eg["id"]) == "complete")
    sandbox.call(sandbox.sandbox.webhooks_idle)
    with a.client() as c:
        items = c.get("/v1/egresses").json()["items"]
        events = c.get(f"/v1/egresses/{eg['id']}").json()["events"]
    assert [e["id"] for e in items] == [eg["id"]]
    per_event = Counter(e["event_id"] for e in events if e["source"] == "webhook")
    assert per_event and set(per_event.values()) == {1}, per_event
    delivered = {w.id for w in sandbox.sandbox.sent_webhooks if w.egress_id == eg["egress_id"]}
    assert set(per_event) == delivered
