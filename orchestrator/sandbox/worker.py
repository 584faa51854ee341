"""Simulated egress worker: per-egress handler state, transitions, timers and egress webhooks."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livekit import api

from . import events, ids, media, outputs
from .config import SandboxFaults, SandboxTimings
from .redact import redact_request, redact_text
from .rooms import DEPENDENT_KINDS, RoomRegistry, RoomState
from .rtmp_push import RtmpPusher, wanted_streams
from .twirp import TwirpError

logger = logging.getLogger(__name__)

ROOM_SCOPED = frozenset({"room_composite", "participant", "track_composite", "track"})
TARGETED = frozenset({"participant", "track_composite", "track"})
RTMP_REFUSED = "stream failed: could not connect to RTMP server"
ROOM_CONNECTION_FAILED = "recording ended early: connection to room failed"
UPLOAD_FAILED = "S3 upload failed: operation error S3: PutObject, api error AccessDenied: Access Denied"


def status_name(status: int) -> str:
    return api.EgressStatus.Name(status)


@dataclass
class EgressJob:
    """One egress: the stored info plus what only the handler process knows."""

    kind: str
    request: Any
    plan: outputs.OutputPlan
    info: api.EgressInfo
    stream_raw: list[str]
    audio_only: bool
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    alive: bool = True
    active_since_ns: int = 0
    ended_mono: float | None = None

    @property
    def egress_id(self) -> str:
        return self.info.egress_id

    def snapshot(self) -> api.EgressInfo:
        copy = api.EgressInfo()
        copy.CopyFrom(self.info)
        return copy


class EgressWorker:
    """Runs every egress of the sandbox; all methods are synchronous and run on the sandbox loop."""

    def __init__(
        self,
        rooms: RoomRegistry,
        notify: Callable[[api.WebhookEvent, str], None],
        timings: Callable[[], SandboxTimings],
        faults: Callable[[], SandboxFaults],
        pusher: RtmpPusher | None = None,
        files_dir: Callable[[], str] = lambda: "",
    ) -> None:
        self._rooms = rooms
        self._files_dir = files_dir  # the worker's disk for outputs without upload config (SandboxMedia)
        self._notify = notify
        self._timings = timings
        self._faults = faults
        self._pusher = pusher
        self.jobs: dict[str, EgressJob] = {}

    # ---- lookup ----------------------------------------------------------------------------

    def purge(self) -> None:
        """Forget ended egresses older than the retention period."""
        horizon = time.monotonic() - self._timings().retention
        for egress_id, job in list(self.jobs.items()):
            if job.ended_mono is not None and job.ended_mono < horizon:
                del self.jobs[egress_id]

    def find(self, egress_id: str) -> EgressJob:
        self.purge()
        job = self.jobs.get(egress_id)
        if job is None:
            raise TwirpError("not_found", "egress does not exist")
        return job

    # ---- launch -----------------------------------------------------------------------------

    def launch(self, kind: str, request: Any, plan: outputs.OutputPlan) -> EgressJob:
        """Store a validated request as STARTING, send egress_started and start the handler."""
        room: RoomState | None = None
        if kind in ROOM_SCOPED:
            room = self._rooms.get(request.room_name)
        now_ns = time.time_ns()
        info = api.EgressInfo(
            egress_id=ids.new_id(ids.EGRESS),
            room_id=room.room.sid if room else "",
            room_name=request.room_name if room else "",
            status=api.EGRESS_STARTING,
            started_at=now_ns,
            updated_at=now_ns,
            source_type=self._source_type(kind, request),  # type: ignore[arg-type]
        )
        getattr(info, kind).CopyFrom(redact_request(request))
        audio_only = self._audio_only(kind, request, room)
        raw = outputs.prefill(info, plan, audio_only=audio_only, now=outputs.utc_now(now_ns))
        job = EgressJob(
            kind=kind, request=request, plan=plan, info=info, stream_raw=raw, audio_only=audio_only
        )
        self.jobs[job.egress_id] = job
        logger.info(
            "egress %s starting (%s) room=%r streams=[%s]",
            job.egress_id,
            kind,
            info.room_name,
            redact_text(", ".join(s.url for s in info.stream_results)),
        )
        self._emit(job)
        limit = self._faults().session_limit
        if limit is not None:
            self._later(job, "limit", limit, self._session_limit)
        if room is not None:
            self._rooms.join(info.room_name, job.egress_id, kind="egress", hidden=True)
        self.evaluate(job)
        return job

    @staticmethod
    def _source_type(kind: str, request: Any) -> int:
        if kind == "web":
            return api.EGRESS_SOURCE_TYPE_WEB
        if kind == "room_composite":
            default_layout = request.layout in ("", "grid", "speaker")
            if request.audio_only and default_layout and not request.custom_base_url:
                return api.EGRESS_SOURCE_TYPE_SDK
            return api.EGRESS_SOURCE_TYPE_WEB
        return api.EGRESS_SOURCE_TYPE_SDK

    @staticmethod
    def _audio_only(kind: str, request: Any, room: RoomState | None) -> bool:
        if kind in ("room_composite", "web"):
            return bool(request.audio_only)
        if kind == "track_composite":
            return not request.video_track_id
        if kind == "track" and room is not None:
            found = room.find_track(request.track_id)
            return found is not None and found[1].type == api.AUDIO
        return False

    # ---- reactions --------------------------------------------------------------------------

    def on_room_change(self, room_name: str) -> None:
        for job in list(self.jobs.values()):
            if job.alive and job.info.room_name == room_name:
                self.evaluate(job)

    def on_room_closed(self, room_name: str) -> None:
        for job in list(self.jobs.values()):
            if not job.alive or job.info.room_name != room_name:
                continue
            if job.info.status == api.EGRESS_STARTING:
                self._abort(job, "Start signal not received", "Source closed")
            elif job.info.status == api.EGRESS_ACTIVE and not self._outlives_room(job):
                self.end(job, "Source closed")

    def reevaluate_all(self) -> None:
        """Re-check start conditions (after faults were changed)."""
        for job in list(self.jobs.values()):
            if job.alive:
                self.evaluate(job)

    def evaluate(self, job: EgressJob) -> None:
        """Schedule activation, a target-missing failure, or a source-closed end as the room dictates."""
        if not job.alive:
            return
        room = self._rooms.rooms.get(job.info.room_name) if job.kind in ROOM_SCOPED else None
        bot_gone = job.kind in ROOM_SCOPED and (room is None or job.egress_id not in room.participants)
        status = job.info.status
        if status == api.EGRESS_STARTING:
            if bot_gone:
                self._abort(job, "Start signal not received", "Source closed")
            elif job.kind in TARGETED:
                missing = self._missing_target(job, room)
                if missing is None:
                    self._cancel(job, "wait")
                    self._schedule_activation(job)
                elif "wait" not in job.timers:
                    self._later(job, "wait", self._timings().participant_wait, self._target_timeout)
            elif self._start_signal(job, room):
                self._schedule_activation(job)
        elif status == api.EGRESS_ACTIVE and (
            (bot_gone and not self._outlives_room(job))
            or (job.kind in TARGETED and self._missing_target(job, room) is not None)
        ):
            self.end(job, "Source closed")

    def _outlives_room(self, job: EgressJob) -> bool:
        return self._faults().outlive_room and job.kind in ("room_composite", "web")

    def _start_signal(self, job: EgressJob, room: RoomState | None) -> bool:
        if not self._faults().start_signal:
            return False
        if job.kind == "web":
            return True
        return room is not None and any(
            p.tracks for p in room.participants.values() if p.kind not in DEPENDENT_KINDS
        )

    @staticmethod
    def _missing_target(job: EgressJob, room: RoomState | None) -> str | None:
        request = job.request
        if job.kind == "participant":
            present = room is not None and request.identity in room.participants
            return None if present else f"participant {request.identity} not found"
        wanted = (
            [request.track_id] if job.kind == "track" else [request.audio_track_id, request.video_track_id]
        )
        for track_sid in wanted:
            if track_sid and (room is None or room.find_track(track_sid) is None):
                return f"track {track_sid} not found"
        return None

    def _schedule_activation(self, job: EgressJob) -> None:
        if "activate" not in job.timers:
            self._later(job, "activate", self._timings().activate_after, self._activate)

    def _target_timeout(self, job: EgressJob) -> None:
        room = self._rooms.rooms.get(job.info.room_name)
        missing = self._missing_target(job, room)
        if job.info.status == api.EGRESS_STARTING and missing is not None:
            self._fail(job, missing, 404)

    # ---- transitions ------------------------------------------------------------------------

    def _activate(self, job: EgressJob) -> None:
        if not job.alive or job.info.status != api.EGRESS_STARTING:
            return
        room = self._rooms.rooms.get(job.info.room_name)
        ready = (
            self._missing_target(job, room) is None if job.kind in TARGETED else self._start_signal(job, room)
        )
        if not ready:
            self.evaluate(job)
            return
        now_ns = time.time_ns()
        job.info.status = api.EGRESS_ACTIVE
        job.info.updated_at = now_ns
        job.active_since_ns = now_ns
        logger.info("egress %s active", job.egress_id)
        self._emit(job)
        faults = self._faults()
        if faults.session_limit is not None:
            self._later(job, "limit", faults.session_limit, self._session_limit)
        if faults.fail_active_after is not None:
            self._later(job, "fail", faults.fail_active_after, self._connection_failed)
        if job.info.stream_results:
            self._connect_streams(job)

    def _connect_streams(self, job: EgressJob) -> None:
        """Connect every not-yet-started stream; a refused first connect fails that stream."""
        now_ns = time.time_ns()
        refuse = self._faults().rtmp_refuse
        changed = False
        for stream, raw in zip(job.info.stream_results, job.stream_raw, strict=True):
            if stream.status != api.StreamInfo.ACTIVE or stream.started_at:
                continue
            changed = True
            if any(part and part in raw for part in refuse):
                stream.status = api.StreamInfo.FAILED
                stream.error = RTMP_REFUSED
                stream.ended_at = now_ns
                logger.info("egress %s stream %s refused", job.egress_id, redact_text(stream.url))
            else:
                stream.started_at = now_ns
        if not changed:
            return
        if not self._outputs_remain(job):
            self._fail(job, RTMP_REFUSED, 503)
            return
        job.info.updated_at = now_ns
        self._emit(job)

    @staticmethod
    def _outputs_remain(job: EgressJob) -> bool:
        streaming = any(s.status == api.StreamInfo.ACTIVE for s in job.info.stream_results)
        return streaming or job.plan.has_storage_output

    def end(self, job: EgressJob, reason: str) -> None:
        """EOS: ACTIVE -> ENDING (egress_updated) -> COMPLETE after finalize_after."""
        if job.info.status == api.EGRESS_STARTING:
            self._abort(job, "Stop called before pipeline could start", reason)
            return
        if job.info.status != api.EGRESS_ACTIVE:
            return
        for name in ("fail", "limit"):
            self._cancel(job, name)
        job.info.status = api.EGRESS_ENDING
        job.info.updated_at = time.time_ns()
        job.info.details = f"End reason: {reason}"
        logger.info("egress %s ending (%s)", job.egress_id, reason)
        self._emit(job)
        self._later(job, "finalize", self._timings().finalize_after, self._complete)

    def _complete(self, job: EgressJob) -> None:
        now_ns = time.time_ns()
        if self._faults().upload_fail and (job.plan.file is not None or job.plan.segments is not None):
            outputs.finalize(
                job.info, job.plan, active_since_ns=job.active_since_ns, now_ns=now_ns, uploaded=False
            )
            self._fail(job, UPLOAD_FAILED, 400)
            return
        outputs.finalize(
            job.info, job.plan, active_since_ns=job.active_since_ns, now_ns=now_ns, uploaded=True
        )
        finish = lambda: self._terminate(job, api.EGRESS_COMPLETE, now_ns)  # noqa: E731
        if media.write_then(job.info, job.plan, finish, self._files_dir()):
            return  # COMPLETE once the media is uploaded, as a real worker does
        self._terminate(job, api.EGRESS_COMPLETE, now_ns)

    def _abort(self, job: EgressJob, error: str, reason: str) -> None:
        job.info.error = error
        job.info.error_code = 412
        job.info.details = f"End reason: {reason}"
        self._terminate(job, api.EGRESS_ABORTED, time.time_ns())

    def _fail(self, job: EgressJob, error: str, code: int) -> None:
        if not job.alive:
            return
        now_ns = time.time_ns()
        for stream in job.info.stream_results:
            if stream.status == api.StreamInfo.ACTIVE:
                stream.status = api.StreamInfo.FAILED
                stream.ended_at = now_ns
                if stream.started_at:
                    stream.duration = now_ns - stream.started_at
        job.info.error = error
        job.info.error_code = code
        if not job.info.details:
            job.info.details = "End reason: Failure"
        logger.info("egress %s failed: %s", job.egress_id, redact_text(error))
        self._terminate(job, api.EGRESS_FAILED, now_ns)

    def _connection_failed(self, job: EgressJob) -> None:
        if job.info.status != api.EGRESS_ACTIVE:
            return
        now_ns = time.time_ns()
        outputs.finalize(
            job.info, job.plan, active_since_ns=job.active_since_ns, now_ns=now_ns, uploaded=True
        )
        self._fail(job, ROOM_CONNECTION_FAILED, 503)

    def _session_limit(self, job: EgressJob) -> None:
        if job.info.status == api.EGRESS_STARTING:
            self._abort(job, "Session limit reached before start signal", "Session limit reached")
            return
        if job.info.status != api.EGRESS_ACTIVE:
            return
        self._cancel(job, "fail")
        now_ns = time.time_ns()
        job.info.status = api.EGRESS_LIMIT_REACHED
        job.info.error = "Session limit reached"
        job.info.error_code = 413
        job.info.details = "End reason: Session limit reached"
        job.info.ended_at = now_ns
        job.info.updated_at = now_ns
        logger.info("egress %s reached its session limit", job.egress_id)
        self._sync_media(job)
        self._later(job, "finalize", self._timings().finalize_after, self._finish_limit)

    def _finish_limit(self, job: EgressJob) -> None:
        ended = job.info.ended_at
        outputs.finalize(job.info, job.plan, active_since_ns=job.active_since_ns, now_ns=ended, uploaded=True)
        self._terminate(job, api.EGRESS_LIMIT_REACHED, ended)

    def _terminate(self, job: EgressJob, status: int, now_ns: int) -> None:
        for handle in job.timers.values():
            handle.cancel()
        job.timers.clear()
        job.info.status = status  # type: ignore[assignment]
        job.info.ended_at = job.info.ended_at or now_ns
        job.info.updated_at = time.time_ns()
        job.alive = False
        job.ended_mono = time.monotonic()
        logger.info("egress %s ended: %s", job.egress_id, status_name(status))
        self._emit(job)
        room = self._rooms.rooms.get(job.info.room_name) if job.kind in ROOM_SCOPED else None
        if room is not None and job.egress_id in room.participants:
            self._rooms.leave(job.info.room_name, job.egress_id)

    # ---- RPC operations ---------------------------------------------------------------------

    def stop(self, job: EgressJob) -> api.EgressInfo:
        if not job.alive:
            raise TwirpError(
                "failed_precondition", f"egress with status {status_name(job.info.status)} cannot be stopped"
            )
        if job.info.status == api.EGRESS_STARTING:
            self._abort(job, "Stop called before pipeline could start", "StopEgress API")
        elif job.info.status == api.EGRESS_ACTIVE:
            self.end(job, "StopEgress API")
        return job.snapshot()

    def update_stream(self, job: EgressJob, add: list[str], remove: list[str]) -> api.EgressInfo:
        if not job.alive:
            raise TwirpError(
                "failed_precondition", f"egress with status {status_name(job.info.status)} cannot be updated"
            )
        if not job.plan.has_stream:
            raise TwirpError("invalid_argument", "UpdateStream called on non-streaming egress")
        kind = "websocket" if job.kind == "track" else "rtmp"
        if job.stream_raw:
            kind = outputs.stream_kind(job.plan.stream_protocol, job.stream_raw)
        errors: list[TwirpError] = []
        changed = False
        for url in add:
            try:
                job.stream_raw.append(outputs.add_stream(job.info, url, kind))
                changed = True
            except TwirpError as exc:
                errors.append(exc)
        now_ns = time.time_ns()
        for url in remove:
            try:
                wanted = outputs.normalize_stream_url(url, kind)
            except TwirpError:
                wanted = url
            for stream, raw in zip(job.info.stream_results, job.stream_raw, strict=True):
                if raw == wanted and stream.status == api.StreamInfo.ACTIVE:
                    stream.status = api.StreamInfo.FINISHED
                    stream.ended_at = now_ns
                    if stream.started_at:
                        stream.duration = now_ns - stream.started_at
                    changed = True
                    break
            else:
                errors.append(TwirpError("not_found", f"stream {url} not found"))
        if changed:
            self._after_stream_change(job)
        if errors:
            raise TwirpError(errors[0].code, "\n".join(e.msg for e in errors))
        return job.snapshot()

    def _after_stream_change(self, job: EgressJob) -> None:
        job.info.updated_at = time.time_ns()
        if job.info.status == api.EGRESS_ACTIVE and any(
            s.status == api.StreamInfo.ACTIVE and not s.started_at for s in job.info.stream_results
        ):
            self._connect_streams(job)
            if not job.alive:
                return
        elif job.info.status == api.EGRESS_ACTIVE:
            self._emit(job)
        if job.info.status == api.EGRESS_ACTIVE and not self._outputs_remain(job):
            self.end(job, "All streams stopped")

    def update_layout(self, job: EgressJob, layout: str) -> api.EgressInfo:
        metadata = json.dumps({"layout": layout}, separators=(",", ":"))
        self._rooms.update_participant(job.info.room_name, job.egress_id, metadata=metadata)
        return job.snapshot()

    # ---- helpers ----------------------------------------------------------------------------

    def _emit(self, job: EgressJob) -> None:
        self._notify(events.egress_event(job.snapshot()), job.egress_id)
        self._sync_media(job)

    def _sync_media(self, job: EgressJob) -> None:
        """Start/stop the ffmpeg pushes so that exactly the connected RTMP streams of an ACTIVE egress get media."""
        if self._pusher is not None:
            wanted = wanted_streams(job.info, job.stream_raw) if job.alive else {}
            self._pusher.sync(
                job.egress_id, wanted, audio_only=job.audio_only, on_refused=lambda i: self._stream_refused(job, i)
            )

    def _stream_refused(self, job: EgressJob, index: int) -> None:
        """A real destination refused the first connect: fail that stream (and the egress if it was the last output)."""
        stream = job.info.stream_results[index]
        if not job.alive or job.info.status != api.EGRESS_ACTIVE or stream.status != api.StreamInfo.ACTIVE:
            return
        now_ns = time.time_ns()
        stream.status = api.StreamInfo.FAILED
        stream.error = RTMP_REFUSED
        stream.started_at = 0  # never connected, as with the rtmp_refuse fault
        stream.ended_at = now_ns
        if not self._outputs_remain(job):
            self._fail(job, RTMP_REFUSED, 503)
            return
        job.info.updated_at = now_ns
        self._emit(job)

    def _later(self, job: EgressJob, name: str, delay: float, fn: Callable[[EgressJob], None]) -> None:
        self._cancel(job, name)

        def fire() -> None:
            job.timers.pop(name, None)
            if job.alive:
                fn(job)

        job.timers[name] = asyncio.get_running_loop().call_later(max(0.0, delay), fire)

    @staticmethod
    def _cancel(job: EgressJob, name: str) -> None:
        handle = job.timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def cancel_timers(self) -> None:
        for job in self.jobs.values():
            for handle in job.timers.values():
                handle.cancel()
            job.timers.clear()
