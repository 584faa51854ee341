"""`POST /webhooks/livekit` rejects anything LiveKit did not sign, and changes nothing when it does."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import httpx
import jwt
import pytest
from livekit import api

from orchestrator.adapters.sql.webhook_store import SqlWebhookStore
from orchestrator.sandbox import sign_webhook, webhook_body
from tests.conftest import LK_KEY, LK_SECRET
from tests.harness import ServiceThread


def _event(event_id: str = "EV_sec0000001") -> bytes:
    info = api.EgressInfo(egress_id="EG_security001", room_name="r", status=api.EGRESS_ACTIVE,
                          started_at=time.time_ns(), updated_at=time.time_ns())
    return webhook_body(api.WebhookEvent(event="egress_updated", id=event_id, created_at=int(time.time()),
                                         egress_info=info, room=api.Room(name="r", sid="RM_r")))


def _token(body: bytes, *, key: str = LK_KEY, secret: str = LK_SECRET, exp_offset: float = 300) -> str:
    now = int(time.time())
    claims = {"iss": key, "nbf": now - 10, "iat": now - 10, "exp": now + exp_offset,
              "sha256": base64.b64encode(hashlib.sha256(body).digest()).decode()}
    return jwt.encode(claims, secret, algorithm="HS256")


def _post(service: ServiceThread, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{service.url}/webhooks/livekit", content=body,
                      headers={"Content-Type": "application/webhook+json", **headers})


def _ledger_is_empty(service: ServiceThread) -> bool:
    ledger, webhooks = service.container.ledger, SqlWebhookStore(service.container.db)
    return ledger.get("EG_security001") is None and webhooks.recent() == [] and ledger.find() == []


def test_genuine_webhook_is_applied_once(service: ServiceThread) -> None:
    body = _event()
    auth = sign_webhook(body, LK_KEY, LK_SECRET)
    first = _post(service, body, {"Authorization": auth})
    assert first.status_code == 200 and first.json() == {"ok": True, "duplicate": False}
    again = _post(service, body, {"Authorization": auth})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    with service.client() as c:
        eg = c.get("/v1/egresses/EG_security001").json()
    assert eg["status"] == "active" and eg["origin"] == "adopted"
    assert [e["event_id"] for e in eg["events"]] == ["EV_sec0000001"]


def _forged(body: bytes) -> dict[str, str]:
    return {"Authorization": _token(body, secret="not-the-secret-of-this-service-0123456789")}


def _wrong_key(body: bytes) -> dict[str, str]:
    return {"Authorization": _token(body, key="someone-else")}


def _expired(body: bytes) -> dict[str, str]:
    return {"Authorization": _token(body, exp_offset=-600)}  # beyond the 60 s leeway


def _missing(body: bytes) -> dict[str, str]:
    return {}


def _bearer_prefixed(body: bytes) -> dict[str, str]:
    return {"Authorization": "Bearer " + sign_webhook(body, LK_KEY, LK_SECRET)}


def _no_hash_claim(body: bytes) -> dict[str, str]:
    now = int(time.time())
    return {"Authorization": jwt.encode({"iss": LK_KEY, "nbf": now, "exp": now + 300}, LK_SECRET,
                                        algorithm="HS256")}


def _garbage(body: bytes) -> dict[str, str]:
    return {"Authorization": "not-a-jwt"}


@pytest.mark.parametrize("headers_for", [_forged, _wrong_key, _expired, _missing, _bearer_prefixed,
                                         _no_hash_claim, _garbage])
def test_unsigned_or_forged_requests_get_401_and_change_nothing(service: ServiceThread, headers_for: Any) -> None:
    body = _event()
    response = _post(service, body, headers_for(body))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert _ledger_is_empty(service)


def test_tampered_body_is_rejected(service: ServiceThread) -> None:
    body = _event()
    auth = sign_webhook(body, LK_KEY, LK_SECRET)
    tampered = body.replace(b"EGRESS_ACTIVE", b"EGRESS_FAILED")
    assert tampered != body
    assert _post(service, tampered, {"Authorization": auth}).status_code == 401
    assert _ledger_is_empty(service)


def test_oversized_body_gets_413(service_factory: Any) -> None:
    service = service_factory(webhook_max_bytes=2048)
    body = _event()[:-1] + b', "padding": "' + b"x" * 4096 + b'"}'
    response = _post(service, body, {"Authorization": sign_webhook(body, LK_KEY, LK_SECRET)})
    assert response.status_code == 413
    # Chunked, without a Content-Length, is cut off while reading too.
    chunked = httpx.post(f"{service.url}/webhooks/livekit", content=iter([body[:1000], body[1000:]]),
                         headers={"Authorization": sign_webhook(body, LK_KEY, LK_SECRET)})
    assert chunked.status_code == 413
    assert _ledger_is_empty(service)
    metrics = httpx.get(f"{service.url}/metrics").text
    assert 'orchestrator_webhooks_rejected_total{reason="too_large"} 2.0' in metrics


def test_room_and_track_events_are_stored_for_later_features(service: ServiceThread) -> None:
    event = api.WebhookEvent(event="track_published", id="EV_track000001", created_at=int(time.time()),
                             room=api.Room(name="r", sid="RM_r"),
                             participant=api.ParticipantInfo(identity="alice", sid="PA_a"),
                             track=api.TrackInfo(sid="TR_t", type=api.TrackType.VIDEO))
    body = webhook_body(event)
    assert _post(service, body, {"Authorization": sign_webhook(body, LK_KEY, LK_SECRET)}).status_code == 200
    stored = SqlWebhookStore(service.container.db).recent(room_name="r")
    assert [(w.event, w.participant_identity, w.track_sid) for w in stored] == [
        ("track_published", "alice", "TR_t")]
