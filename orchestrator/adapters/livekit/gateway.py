"""LiveKitEgressGateway: LiveKit's Egress and Room APIs through livekit-api (calls, retries, error translation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
from livekit import api
from livekit.api.egress_service import EgressService
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from orchestrator.domain.backoff import backoff_s
from orchestrator.domain.egress import Observation, RoomSnapshot
from orchestrator.domain.errors import (
    EgressAlreadyEnded,
    EgressUnknownToLiveKit,
    LiveKitRejected,
    LiveKitUnavailable,
)
from orchestrator.domain.redact import redact_text
from orchestrator.domain.requests import EgressRequest, normalise_stream_url
from orchestrator.domain.sessions import CreatedRoom, ParticipantSnapshot
from orchestrator.metrics import Metrics

from .mapping import (
    create_room_request,
    created_room,
    observation_of,
    participant_snapshot,
    room_snapshot,
    start_call,
)
from .pool import ConnectionPool, forget_written, when_written

T = TypeVar("T")

_EGRESS_TOKEN_TTL = timedelta(minutes=10)
_TRANSIENT_CODES = frozenset({"unavailable", "deadline_exceeded"})


class LiveKitEgressGateway:
    """Every call this service makes to LiveKit goes through here (the EgressGateway and RoomGateway ports).

    Errors come out as the domain's LiveKit errors, with stream keys and storage secrets redacted.
    Idempotent calls (list, stop, layout) are retried on transient failures; starts are not retried
    here, because a blind retry could make a second recording: the egress service decides.
    `on_start_written(room_name)` is told when a Start*Egress request for a room is written to LiveKit's
    connection (the metrics' latency probe).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout_s: float = 10.0,
        start_timeout_s: float = 35.0,
        attempts: int = 3,
        backoff_s: float = 1.0,
        metrics: Metrics | None = None,
        on_start_written: Callable[[str], None] | None = None,
    ) -> None:
        self._url, self._key, self._secret = url, api_key, api_secret
        self._timeout_s, self._start_timeout_s = timeout_s, start_timeout_s
        self._attempts, self._backoff_s = attempts, backoff_s
        self._metrics = metrics
        self._on_start_written = on_start_written
        self._pool = ConnectionPool(url, timeout_s)
        self._api: api.LiveKitAPI | None = None
        self._egress_api: api.LiveKitAPI | None = None
        self._egress_renew_at = 0.0

    # LiveKitAPI must be built inside a running event loop, so build it on first use.
    def _client(self) -> api.LiveKitAPI:
        """Room calls: livekit-api signs a token per call (their grants name the room)."""
        if self._api is None:
            self._api = api.LiveKitAPI(self._url, self._key, self._secret, session=self._pool.session())
        return self._api

    def _egress(self) -> EgressService:
        """Egress calls all need the same grant (roomRecord): one token, signed again halfway through its
        life, instead of one per call (signing was 40% of a start call's CPU)."""
        now = time.monotonic()
        if self._egress_api is None or now >= self._egress_renew_at:
            token = (api.AccessToken(self._key, self._secret).with_grants(api.VideoGrants(room_record=True))
                     .with_ttl(_EGRESS_TOKEN_TTL).to_jwt())
            self._egress_api = api.LiveKitAPI.with_token(token, self._url, session=self._pool.session())
            self._egress_renew_at = now + _EGRESS_TOKEN_TTL.total_seconds() / 2
        return self._egress_api.egress

    async def aclose(self) -> None:
        for client in (self._api, self._egress_api):
            if client is not None:
                await client.aclose()
        await self._pool.aclose()
        self._api = self._egress_api = None

    async def keep_warm(self, connections: int) -> int:
        """Connections open ahead of a burst of calls (see ConnectionPool.keep_warm); how many are ready."""
        return await self._pool.keep_warm(connections)

    # ---- egress ------------------------------------------------------------------------------

    async def start(self, request: EgressRequest) -> Observation:
        """One start call, never retried here. May raise LiveKitUnavailable even though it started."""
        room_name, probe = request.room_name, self._on_start_written
        token = when_written((lambda: probe(room_name)) if probe is not None and room_name else None)
        try:
            method, call = start_call(self._egress(), request)
            info = await self._call(method, lambda: call, secrets=request.secrets(), retry=False,
                                    timeout_s=self._start_timeout_s)
        finally:
            forget_written(token)
        return observation_of(info)

    async def stop(self, egress_id: str) -> Observation:
        info = await self._call("StopEgress", lambda: self._egress().stop_egress(
            api.StopEgressRequest(egress_id=egress_id)))
        return observation_of(info)

    async def update_layout(self, egress_id: str, layout: str) -> Observation:
        info = await self._call("UpdateLayout", lambda: self._egress().update_layout(
            api.UpdateLayoutRequest(egress_id=egress_id, layout=layout)))
        return observation_of(info)

    async def update_stream(self, egress_id: str, add: list[str], remove: list[str]) -> Observation:
        add = [normalise_stream_url(u) for u in add]
        remove = [normalise_stream_url(u) for u in remove]
        secrets = frozenset(add + remove)
        info = await self._call("UpdateStream", lambda: self._egress().update_stream(
            api.UpdateStreamRequest(egress_id=egress_id, add_output_urls=add, remove_output_urls=remove)),
            secrets=secrets, retry=False)
        return observation_of(info)

    async def list_egresses(
        self, *, room_name: str = "", egress_id: str = "", active: bool = False
    ) -> list[Observation]:
        response = await self._call("ListEgress", lambda: self._egress().list_egress(
            api.ListEgressRequest(room_name=room_name, egress_id=egress_id, active=active)))
        return [observation_of(info) for info in response.items]

    async def check_access(self) -> None:
        """Reachable, and our credentials may record (ListEgress needs the roomRecord grant)."""
        await self._call("ListEgress", lambda: self._egress().list_egress(
            api.ListEgressRequest(room_name="orchestrator-access-check", active=True)))

    # ---- rooms -------------------------------------------------------------------------------

    async def list_rooms(self, names: list[str] | None = None) -> list[RoomSnapshot]:
        response = await self._call("ListRooms", lambda: self._client().room.list_rooms(
            api.ListRoomsRequest(names=names or [])))
        return [room_snapshot(r) for r in response.rooms]

    async def list_participants(self, room_name: str) -> list[ParticipantSnapshot]:
        """ListParticipants: who is in the room and what each publishes (empty if the room is gone)."""
        try:
            response = await self._call("ListParticipants", lambda: self._client().room.list_participants(
                api.ListParticipantsRequest(room=room_name)))
        except LiveKitRejected as exc:
            if exc.twirp_code == "not_found":
                return []
            raise
        return [participant_snapshot(p) for p in response.participants]

    async def create_room(
        self, name: str, *, metadata: str = "", empty_timeout: int = 0, departure_timeout: int = 0,
        composite: EgressRequest | None = None,
    ) -> CreatedRoom:
        """CreateRoom (idempotent), with a room-composite auto egress when `composite` is given."""
        request = create_room_request(name, metadata, empty_timeout, departure_timeout, composite)
        secrets = composite.secrets() if composite is not None else frozenset()
        room = await self._call("CreateRoom", lambda: self._client().room.create_room(request),
                                secrets=secrets, retry=composite is None)
        return created_room(room)

    # ---- plumbing ----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        make: Callable[[], Awaitable[T]],
        *,
        secrets: frozenset[str] = frozenset(),
        retry: bool = True,
        timeout_s: float | None = None,
    ) -> T:
        if not retry:
            return await self._once(method, make, secrets, timeout_s or self._timeout_s)
        base, cap = self._backoff_s, 10 * max(self._backoff_s, 0.1)

        def wait(state: RetryCallState) -> float:
            return backoff_s(state.attempt_number, base, cap)

        retrying = AsyncRetrying(stop=stop_after_attempt(self._attempts), wait=wait,
                                 retry=retry_if_exception_type(LiveKitUnavailable), reraise=True)
        async for attempt in retrying:
            with attempt:
                return await self._once(method, make, secrets, timeout_s or self._timeout_s)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self, method: str, make: Callable[[], Awaitable[T]], secrets: frozenset[str], timeout_s: float
    ) -> T:
        began = time.perf_counter()
        code = ""
        self._pool.call_began()
        try:
            # Our own deadline: livekit-api 1.2.2 passes timeout=None per request, which makes aiohttp
            # ignore the session's timeout, so without this a hung LiveKit would hang us forever.
            async with asyncio.timeout(timeout_s):
                return await make()
        except api.ServerError as exc:
            code = exc.code
            raise translate(exc, secrets) from None
        except TimeoutError:
            code = "timeout"
            raise LiveKitUnavailable(f"LiveKit did not answer {method} in time") from None
        except aiohttp.ClientError as exc:
            code = "connection"
            raise LiveKitUnavailable(
                f"LiveKit is unreachable: {redact_text(type(exc).__name__ + ': ' + str(exc), secrets)}"
            ) from None
        finally:
            self._pool.call_ended()
            if self._metrics is not None:
                self._metrics.livekit_latency.labels(method).observe(time.perf_counter() - began)
                if code:
                    self._metrics.livekit_errors.labels(method, code).inc()


def translate(exc: Any, secrets: frozenset[str] = frozenset()) -> Exception:
    """A livekit-api ServerError as one of our errors, its message redacted."""
    message = redact_text(exc.message or f"HTTP {exc.status}", secrets)
    if exc.code in _TRANSIENT_CODES or exc.status >= 500 or exc.status == 408:
        return LiveKitUnavailable(f"LiveKit is unavailable ({exc.code}): {message}")
    if exc.status == 401:
        # LiveKit's auth layer answers in plain text, so the client only sees code "unknown".
        return LiveKitRejected("unauthenticated", 401,
                               "LiveKit refused our credentials: check LIVEKIT_API_KEY and LIVEKIT_API_SECRET")
    if exc.code == "not_found" and "egress" in message:
        return EgressUnknownToLiveKit(exc.code, exc.status, message)
    if exc.code == "failed_precondition":
        return EgressAlreadyEnded(exc.code, exc.status, message)
    return LiveKitRejected(exc.code, exc.status, message)
