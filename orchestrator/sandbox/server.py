"""The SandboxLiveKit facade: wires rooms, worker, webhooks and the Twirp/control ASGI app."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from livekit import api
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import control, twirp
from .auto_egress import AutoEgress
from .config import SandboxFaults, SandboxMedia, SandboxTimings
from .egress_service import EgressService
from .room_service import RoomService
from .rooms import RoomRegistry
from .rtmp_push import RtmpPusher
from .webhooks import SentWebhook, WebhookSender
from .worker import EgressWorker

logger = logging.getLogger(__name__)

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class SandboxLiveKit:
    """An in-process LiveKit server + egress worker speaking real Twirp and sending signed webhooks."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        webhook_urls: Sequence[str] = (),
        *,
        timings: SandboxTimings | None = None,
        faults: SandboxFaults | None = None,
        media: SandboxMedia | bool = True,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.webhook_urls: list[str] = list(webhook_urls)
        self.timings = timings or SandboxTimings()
        self.faults = faults or SandboxFaults()
        self.media = media if isinstance(media, SandboxMedia) else SandboxMedia(push_rtmp=media)
        self.rtmp = RtmpPusher(lambda: self.media)
        self._webhooks = WebhookSender(api_key, api_secret, lambda: self.webhook_urls, lambda: self.faults)
        self.rooms = RoomRegistry(self._webhooks.notify, lambda: self.timings)
        self.worker = EgressWorker(
            self.rooms, self._webhooks.notify, lambda: self.timings, lambda: self.faults, self.rtmp,
            lambda: self.media.files_dir,
        )
        self.rooms.on_change = self.worker.on_room_change
        self.auto_egress = AutoEgress(
            self.worker, self._webhooks.notify, lambda: self.timings, lambda: self.faults
        )
        self.rooms.on_close = self._on_room_closed
        self.rooms.on_publish = self.auto_egress.on_publish
        self._egress_service = EgressService(
            self.rooms, self.worker, lambda: self.timings, lambda: self.faults
        )
        self._room_service = RoomService(
            self.rooms, self._egress_service, self.auto_egress, lambda: self.faults
        )
        self._services = {
            "livekit.Egress": self._egress_service.methods(),
            "livekit.RoomService": self._room_service.methods(),
        }
        self.app = Starlette(
            routes=[
                Route("/twirp/{rest:path}", self._twirp, methods=_ALL_METHODS),
                *control.routes(self),
            ],
            exception_handlers=control.EXCEPTION_HANDLERS,
        )

    def _on_room_closed(self, room_name: str) -> None:
        self.auto_egress.forget(room_name)
        self.worker.on_room_closed(room_name)

    async def _twirp(self, request: Request) -> Response:
        return await twirp.serve(request, self._services, self.api_key, self.api_secret)

    @property
    def sent_webhooks(self) -> list[SentWebhook]:
        """Every webhook delivery attempt so far, in order."""
        return self._webhooks.sent

    @property
    def dropped_webhooks(self) -> list[api.WebhookEvent]:
        """Events suppressed by the drop faults."""
        return self._webhooks.dropped

    # ---- control API (run inside the loop serving ``app``) -----------------------------------

    async def create_room(
        self, name: str, metadata: str = "", *, empty_timeout: int = 0, departure_timeout: int = 0
    ) -> api.Room:
        state, _ = self.rooms.create(
            name, metadata, empty_timeout=empty_timeout, departure_timeout=departure_timeout
        )
        return state.snapshot()

    async def join(
        self,
        room: str,
        identity: str,
        *,
        kind: str = "standard",
        name: str = "",
        metadata: str = "",
        publish: Sequence[str] = ("camera", "microphone"),
    ) -> api.ParticipantInfo:
        return self.rooms.join(room, identity, kind=kind, name=name, metadata=metadata, publish=publish)

    async def publish(self, room: str, identity: str, source: str) -> api.TrackInfo:
        return self.rooms.publish(room, identity, source)

    async def unpublish(self, room: str, identity: str, track_sid: str) -> None:
        self.rooms.unpublish(room, identity, track_sid)

    async def leave(self, room: str, identity: str) -> None:
        self.rooms.leave(room, identity)

    async def close_room(self, name: str) -> None:
        self.rooms.close(name)

    def egress_info(self, egress_id: str) -> api.EgressInfo | None:
        """A copy of the stored info, or None if unknown/forgotten."""
        self.worker.purge()
        job = self.worker.jobs.get(egress_id)
        return job.snapshot() if job else None

    def egresses(self) -> list[api.EgressInfo]:
        self.worker.purge()
        return [job.snapshot() for job in self.worker.jobs.values()]

    def reevaluate(self) -> None:
        """Re-check egress start conditions, e.g. after ``faults.start_signal`` was switched on."""
        self.worker.reevaluate_all()

    def hold_webhooks(self) -> None:
        """Keep webhooks queued (in order) until `release_webhooks()`: the receiver is not listening yet."""
        self._webhooks.hold()

    def release_webhooks(self) -> None:
        self._webhooks.release()

    async def webhooks_idle(self) -> None:
        """Wait until every queued webhook was delivered or given up."""
        await self._webhooks.idle()

    async def aclose(self) -> None:
        """Cancel all timers, stop the RTMP pushes and close the webhook HTTP client."""
        self.worker.cancel_timers()
        self.rooms.cancel_timers()
        await self.rtmp.aclose()
        await self._webhooks.aclose()
