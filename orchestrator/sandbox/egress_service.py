"""Twirp ``livekit.Egress`` handlers: LiveKit's server-side checks in front of the simulated worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from livekit import api

from . import outputs
from .config import SandboxFaults, SandboxTimings
from .redact import redact_text
from .rooms import RoomRegistry
from .twirp import Grants, Method, TwirpError
from .worker import EgressWorker

logger = logging.getLogger(__name__)

EGRESS_NOT_CONNECTED = "egress not connected (redis required)"


class EgressService:
    """Start*/Update*/List/Stop as the LiveKit server answers them."""

    def __init__(
        self,
        rooms: RoomRegistry,
        worker: EgressWorker,
        timings: Callable[[], SandboxTimings],
        faults: Callable[[], SandboxFaults],
    ) -> None:
        self._rooms = rooms
        self._worker = worker
        self._timings = timings
        self._faults = faults

    def methods(self) -> dict[str, Method]:
        return {
            "StartRoomCompositeEgress": Method(
                api.RoomCompositeEgressRequest, partial(self._start, "room_composite")
            ),
            "StartWebEgress": Method(api.WebEgressRequest, partial(self._start, "web")),
            "StartParticipantEgress": Method(
                api.ParticipantEgressRequest, partial(self._start, "participant")
            ),
            "StartTrackCompositeEgress": Method(
                api.TrackCompositeEgressRequest, partial(self._start, "track_composite")
            ),
            "StartTrackEgress": Method(api.TrackEgressRequest, partial(self._start, "track")),
            "StartEgress": Method(api.StartEgressRequest, self._start_v2),
            "UpdateLayout": Method(api.UpdateLayoutRequest, self._update_layout),
            "UpdateStream": Method(api.UpdateStreamRequest, self._update_stream),
            "ListEgress": Method(api.ListEgressRequest, self._list),
            "StopEgress": Method(api.StopEgressRequest, self._stop),
        }

    async def start(self, kind: str, request: Any) -> api.EgressInfo:
        """The server-side Start* flow after the grant check (also used by CreateRoom auto egress)."""
        faults = self._faults()
        if faults.egress_disabled:
            raise TwirpError("internal", EGRESS_NOT_CONNECTED)
        if kind != "web" and request.room_name:
            self._rooms.get(request.room_name)
        if faults.no_worker:
            await asyncio.sleep(self._timings().no_worker_after)
            raise TwirpError("unavailable", "no response from servers")
        try:
            plan = outputs.validate(kind, request)
        except TwirpError as exc:
            logger.info("start %s rejected: %s", kind, redact_text(exc.msg))
            raise
        job = self._worker.launch(kind, request, plan)
        info = job.snapshot()
        delay = self._faults().start_response_delay
        if delay > 0:
            await asyncio.sleep(delay)
        return info

    async def _start(self, kind: str, request: Any, grants: Grants) -> api.EgressInfo:
        grants.require("roomRecord")
        return await self.start(kind, request)

    async def _start_v2(self, request: api.StartEgressRequest, grants: Grants) -> api.EgressInfo:
        grants.require("roomRecord")
        if self._faults().egress_disabled:
            raise TwirpError("internal", EGRESS_NOT_CONNECTED)
        raise TwirpError(
            "unimplemented", "StartEgress (v2) is not emulated by the sandbox; use the Start*Egress RPCs"
        )

    async def _update_layout(self, request: api.UpdateLayoutRequest, grants: Grants) -> api.EgressInfo:
        grants.require("roomRecord")
        return self._worker.update_layout(self._worker.find(request.egress_id), request.layout)

    async def _update_stream(self, request: api.UpdateStreamRequest, grants: Grants) -> api.EgressInfo:
        grants.require("roomRecord")
        job = self._worker.find(request.egress_id)
        add = list(request.add_output_urls) + [d.url for d in request.add_destinations]
        return self._worker.update_stream(job, add, list(request.remove_output_urls))

    async def _list(self, request: api.ListEgressRequest, grants: Grants) -> api.ListEgressResponse:
        grants.require("roomRecord")
        if request.egress_id:
            return api.ListEgressResponse(items=[self._worker.find(request.egress_id).snapshot()])
        self._worker.purge()
        items = [
            job.snapshot()
            for job in self._worker.jobs.values()
            if (not request.room_name or job.info.room_name == request.room_name)
            and (not request.active or job.info.status < api.EGRESS_COMPLETE)
        ]
        return api.ListEgressResponse(items=items)

    async def _stop(self, request: api.StopEgressRequest, grants: Grants) -> api.EgressInfo:
        grants.require("roomRecord")
        return self._worker.stop(self._worker.find(request.egress_id))
