"""Auto egress from CreateRoom's ``egress`` field: per-participant and per-track recordings on publish."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit import api

from . import events, ids, outputs
from .config import SandboxFaults, SandboxTimings
from .redact import redact_text
from .rooms import DEPENDENT_KINDS
from .twirp import TwirpError
from .worker import EgressWorker

logger = logging.getLogger(__name__)


class AutoEgress:
    """Starts AutoParticipantEgress on a participant's first publish and AutoTrackEgress per track."""

    def __init__(
        self,
        worker: EgressWorker,
        notify: Callable[[api.WebhookEvent, str], None],
        timings: Callable[[], SandboxTimings],
        faults: Callable[[], SandboxFaults],
    ) -> None:
        self._worker = worker
        self._notify = notify
        self._timings = timings
        self._faults = faults
        self.configs: dict[str, api.RoomEgress] = {}

    def configure(self, room_name: str, egress: api.RoomEgress) -> None:
        if egress.HasField("participant") or egress.HasField("tracks"):
            self.configs[room_name] = egress

    def forget(self, room_name: str) -> None:
        self.configs.pop(room_name, None)

    def on_publish(self, room_name: str, participant: api.ParticipantInfo, track: api.TrackInfo) -> None:
        config = self.configs.get(room_name)
        if config is None or participant.kind in DEPENDENT_KINDS:
            return
        if config.HasField("participant") and len(participant.tracks) == 1:
            auto = config.participant
            request = api.ParticipantEgressRequest(
                room_name=room_name,
                identity=participant.identity,
                file_outputs=list(auto.file_outputs),
                segment_outputs=list(auto.segment_outputs),
            )
            if auto.HasField("advanced"):
                request.advanced.CopyFrom(auto.advanced)
            elif auto.HasField("preset"):
                request.preset = auto.preset
            self._launch("participant", request)
        if config.HasField("tracks"):
            auto_track = config.tracks
            filepath = (auto_track.filepath or "{track_id}-{time}").replace("{track_id}", track.sid)
            filepath = filepath.replace("{publisher_identity}", participant.identity)
            filepath = filepath.replace("{track_type}", api.TrackType.Name(track.type))
            filepath = filepath.replace("{track_source}", api.TrackSource.Name(track.source))
            output = api.DirectFileOutput(filepath=filepath, disable_manifest=auto_track.disable_manifest)
            storage = auto_track.WhichOneof("output")
            if storage:
                getattr(output, storage).CopyFrom(getattr(auto_track, storage))
            self._launch(
                "track", api.TrackEgressRequest(room_name=room_name, track_id=track.sid, file=output)
            )

    def _launch(self, kind: str, request: Any) -> None:
        faults = self._faults()
        if faults.egress_disabled:
            self._failed(request.room_name, "egress not connected (redis required)")
            return
        if faults.no_worker:
            loop = asyncio.get_running_loop()
            loop.call_later(
                self._timings().no_worker_after, self._failed, request.room_name, "no response from servers"
            )
            return
        try:
            self._worker.launch(kind, request, outputs.validate(kind, request))
        except TwirpError as exc:
            self._failed(request.room_name, exc.msg)

    def _failed(self, room_name: str, error: str) -> None:
        """LiveKit reports a failed auto egress launch as egress_ended FAILED with an empty egress_id."""
        logger.info("auto egress in %s failed to launch: %s", room_name, redact_text(error))
        info = api.EgressInfo(
            room_name=room_name, status=api.EGRESS_FAILED, error=error, updated_at=time.time_ns()
        )
        self._notify(events.egress_event(info), ids.new_id(ids.EVENT))
