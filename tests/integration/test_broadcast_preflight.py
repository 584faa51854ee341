"""A broadcast that requires its preflight, started now over real HTTP against the sandbox: a refused
destination fails the run with the reason instead of starting an egress."""

from __future__ import annotations

from typing import Any

from orchestrator.sandbox import SandboxThread
from tests.harness import wait_until
from tests.integration.s3_server import CALLBACK_SECRET, CallbackReceiver, receiver  # noqa: F401 - fixture
from tests.integration.test_broadcasts import FAST, run_of

REFUSED = "rtmp://127.0.0.1:9/live/refused-key-123"  # the discard port: nothing listens on loopback


def test_start_now_with_a_refused_destination_and_require_preflight_fails(
    service_factory: Any, sandbox: SandboxThread, receiver: CallbackReceiver,  # noqa: F811
) -> None:
    # The default lead: a run created now is well inside it, so only the launch-time preflight can stop it.
    service = service_factory(**{**FAST, "preflight_lead_s": 180}, callback_secret=CALLBACK_SECRET,
                              callback_poll_interval_s=0.1, callback_backoff_s=0.1)
    sandbox.call(sandbox.sandbox.join, "studio", "alice")
    with service.client() as c:
        r = c.post("/v1/broadcasts", json={"room_name": "studio", "layout": "grid", "max_duration_s": 30,
                                           "require_preflight": True, "callback_urls": [receiver.url],
                                           "destinations": [{"type": "rtmp", "url": REFUSED}]})
        assert r.status_code == 201, r.text
        b = r.json()
    run = wait_until(lambda: (r := run_of(service, b["id"]))["status"] == "failed" and r, timeout=15)
    assert run["error"].startswith("preflight failed:") and "refused" in run["error"]
    assert "refused-key-123" not in run["error"]
    assert run["egresses"] == [] and sandbox.call(sandbox.sandbox.egresses) == []
    details = [e["detail"] for e in run["events"]]
    assert any(d.startswith("preflight: ") and "failed: destination" in d for d in details), details
    assert "failed instead of starting" in details[-1]
    failed = wait_until(lambda: receiver.events("broadcast.failed"), timeout=10)
    [noted] = receiver.events("broadcast.preflight_failed")
    assert noted.json["data"]["require_preflight"] is True and noted.json["data"]["reasons"]
    assert failed[0].json["data"]["broadcast_id"] == b["id"] and b"refused-key-123" not in noted.body
