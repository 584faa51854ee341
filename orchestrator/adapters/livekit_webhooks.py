"""Verifies LiveKit's signed webhooks with livekit-api's WebhookReceiver and translates them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from livekit import api

from orchestrator.domain.events import WebhookNotice, WebhookRejected
from orchestrator.domain.redact import redact_text

from .livekit.mapping import observation_of

__all__ = ["LiveKitWebhookVerifier", "WebhookRejected", "notice_of"]


class LiveKitWebhookVerifier:
    """Checks the raw `Authorization` header (a JWT, no `Bearer`) against the raw body bytes."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self._receiver = api.WebhookReceiver(api.TokenVerifier(api_key, api_secret))

    def verify(self, body: bytes, authorization: str | None) -> WebhookNotice:
        if not authorization:
            raise WebhookRejected("missing Authorization header")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookRejected("body is not UTF-8") from None
        try:
            event = self._receiver.receive(text, authorization)
        except Exception as exc:  # livekit-api raises jwt errors and bare Exceptions
            raise WebhookRejected(f"signature check failed: {type(exc).__name__}") from None
        return notice_of(event)


def notice_of(event: api.WebhookEvent) -> WebhookNotice:
    egress = observation_of(event.egress_info) if event.HasField("egress_info") else None
    payload: dict[str, Any]
    if egress is not None:
        # The ledger keeps the egress itself; the stored event only needs to say what it was.
        payload = {"event": event.event, "id": event.id, "created_at": event.created_at,
                   "egress_info": {"egress_id": egress.egress_id, "status": egress.status.value,
                                   "room_name": egress.room_name, "error": egress.error}}
    else:
        payload = _redact_payload(MessageToDict(event, preserving_proto_field_name=True))
    return WebhookNotice(
        id=event.id or f"noid:{event.event}:{event.created_at}:{egress.egress_id if egress else ''}",
        event=event.event,
        created_at=datetime.fromtimestamp(event.created_at, tz=UTC) if event.created_at else None,
        room_name=event.room.name or (egress.room_name if egress else ""),
        room_sid=event.room.sid,
        participant_identity=event.participant.identity,
        track_sid=event.track.sid,
        egress=egress,
        payload=payload,
    )


def _redact_payload(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact_payload(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_payload(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
