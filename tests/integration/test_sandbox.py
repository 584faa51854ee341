"""The sandbox LiveKit driven over real HTTP by the real livekit-api client, with a real webhook receiver."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from livekit import api
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchestrator.sandbox import (
    SandboxFaults,
    SandboxLiveKit,
    SandboxThread,
    SandboxTimings,
    serve_sandbox,
    sign_webhook,
    webhook_body,
)

KEY = "APItestkey"
SECRET = "test-secret-that-is-long-enough-0123456789"
STREAM_KEY = "live_sk_a1b2c3d4e5f6"
S3_SECRET = "s3-very-secret-value"
EGRESS_ID = re.compile(r"^EG_[23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz]{12}$")


def fast_timings(**overrides: float) -> SandboxTimings:
    values: dict[str, float] = {
        "activate_after": 0.05,
        "finalize_after": 0.05,
        "no_worker_after": 0.1,
        "participant_wait": 0.3,
        "empty_timeout": 30.0,
        "departure_timeout": 30.0,
    }
    values.update(overrides)
    return SandboxTimings(**values)


# ---- real HTTP plumbing --------------------------------------------------------------------------


async def serve_app(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn only exposes a flag
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}"


@dataclass
class Received:
    event: api.WebhookEvent
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A webhook endpoint that verifies every delivery with livekit.api.WebhookReceiver."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500

    async def handle(self, request: Request) -> Response:
        if self.fail_next > 0:
            self.fail_next -= 1
            return Response("try again", status_code=self.fail_status)
        body = await request.body()
        auth = request.headers.get("authorization", "")
        try:
            event = api.WebhookReceiver(api.TokenVerifier(KEY, SECRET)).receive(body.decode(), auth)
        except Exception as exc:
            self.errors.append(repr(exc))
            return Response(status_code=401)
        self.received.append(Received(event, body, dict(request.headers)))
        return Response(status_code=200)

    def events(self, name: str | None = None, egress_id: str | None = None) -> list[api.WebhookEvent]:
        return [
            r.event
            for r in self.received
            if (name is None or r.event.event == name)
            and (egress_id is None or r.event.egress_info.egress_id == egress_id)
        ]

    async def wait_for(
        self, name: str, egress_id: str | None = None, count: int = 1, within: float = 5.0
    ) -> list[api.WebhookEvent]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = self.events(name, egress_id)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {name} webhook for {egress_id}: got {[e.event for e in self.events()]}")


@dataclass
class Env:
    sandbox: SandboxLiveKit
    lk: api.LiveKitAPI
    receiver: Receiver
    url: str
    http: httpx.AsyncClient


@pytest.fixture
async def make_env() -> AsyncIterator[Callable[..., Awaitable[Env]]]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def factory(timings: SandboxTimings | None = None, faults: SandboxFaults | None = None) -> Env:
        receiver = Receiver()
        r_server, r_task, receiver.url = await serve_app(
            Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
        )
        receiver.url += "/hook"
        sandbox = SandboxLiveKit(
            KEY, SECRET, [receiver.url], timings=timings or fast_timings(), faults=faults or SandboxFaults()
        )
        s_server, s_task, url = await serve_app(sandbox.app)
        lk = api.LiveKitAPI(url, KEY, SECRET)
        http = httpx.AsyncClient(base_url=url)

        async def cleanup() -> None:
            await lk.aclose()
            await http.aclose()
            await sandbox.aclose()
            for server, task in ((s_server, s_task), (r_server, r_task)):
                server.should_exit = True
                await task

        cleanups.append(cleanup)
        return Env(sandbox, lk, receiver, url, http)

    yield factory
    for cleanup in cleanups:
        await cleanup()


@pytest.fixture
async def env(make_env: Callable[..., Awaitable[Env]]) -> Env:
    return await make_env()


def file_output(path: str = "recordings/{room_name}-{time}") -> api.EncodedFileOutput:
    return api.EncodedFileOutput(
        filepath=path, s3=api.S3Upload(access_key="AKIAEXAMPLE", secret=S3_SECRET, bucket="rec-bucket")
    )


def composite(room: str, *, file: bool = True, urls: tuple[str, ...] = ()) -> api.RoomCompositeEgressRequest:
    request = api.RoomCompositeEgressRequest(room_name=room, layout="grid")
    if file:
        request.file_outputs.append(file_output())
    if urls:
        request.stream_outputs.append(api.StreamOutput(protocol=api.RTMP, urls=list(urls)))
    return request


async def wait_status(
    sandbox: SandboxLiveKit, egress_id: str, status: int, within: float = 5.0
) -> api.EgressInfo:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        info = sandbox.egress_info(egress_id)
        if info is not None and info.status == status:
            return info
        await asyncio.sleep(0.01)
    raise AssertionError(f"{egress_id} never reached {api.EgressStatus.Name(status)}")  # type: ignore[arg-type]


def token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": KEY, "sub": "", "nbf": now, "exp": now + 600, **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


async def server_error(call: Awaitable[Any]) -> api.TwirpError:
    with pytest.raises(api.TwirpError) as caught:
        await call
    return caught.value


# ---- Twirp layer and auth ------------------------------------------------------------------------


async def test_auth_failures(env: Env) -> None:
    path = "/twirp/livekit.Egress/ListEgress"
    headers = {"Content-Type": "application/json"}

    no_header = await env.http.post(path, content=b"{}", headers=headers)
    assert no_header.status_code == 401
    assert no_header.json() == {"code": "unauthenticated", "msg": "permissions denied"}

    cases = {
        "Token abc": "invalid authorization header. Must start with Bearer ",
        "Bearer not-a-jwt": "invalid authorization token",
        "Bearer " + jwt.encode({"iss": "other", "exp": time.time() + 60}, SECRET): "invalid API key",
    }
    for auth, text in cases.items():
        resp = await env.http.post(path, content=b"{}", headers={**headers, "Authorization": auth})
        assert (resp.status_code, resp.text) == (401, text)
        assert resp.headers["content-type"].startswith("text/plain")

    wrong_secret = jwt.encode({"iss": KEY, "exp": time.time() + 60}, "another-secret-0123456789abcdef-xyz")
    resp = await env.http.post(
        path, content=b"{}", headers={**headers, "Authorization": f"Bearer {wrong_secret}"}
    )
    assert resp.status_code == 401
    assert resp.text.startswith("invalid authorization token: ")

    within_leeway = token(exp=int(time.time()) - 30, video={"roomRecord": True})
    resp = await env.http.post(
        path, content=b"{}", headers={**headers, "Authorization": f"Bearer {within_leeway}"}
    )
    assert resp.status_code == 200
    expired = token(exp=int(time.time()) - 120, video={"roomRecord": True})
    resp = await env.http.post(path, content=b"{}", headers={**headers, "Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401
    assert "expired" in resp.text

    no_grant = token(video={"roomCreate": True})
    resp = await env.http.post(
        path, content=b"{}", headers={**headers, "Authorization": f"Bearer {no_grant}"}
    )
    assert resp.status_code == 401
    assert resp.json()["code"] == "unauthenticated"

    # Through the real client: plain-text 401s become code "unknown".
    async with api.LiveKitAPI(env.url, "wrong-key", SECRET) as bad:
        err = await server_error(bad.egress.list_egress(api.ListEgressRequest()))
    assert (err.code, err.status) == ("unknown", 401)
    async with api.LiveKitAPI(env.url, KEY, "wrong-secret-0123456789abcdef0123") as bad:
        err = await server_error(bad.room.list_rooms(api.ListRoomsRequest()))
    assert err.status == 401


async def test_participant_admin_grant_must_name_the_room(env: Env) -> None:
    await env.sandbox.join("room-a", "alice")
    other = token(video={"roomAdmin": True, "room": "room-b"})
    resp = await env.http.post(
        "/twirp/livekit.RoomService/ListParticipants",
        json={"room": "room-a"},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert (resp.status_code, resp.json()["msg"]) == (401, "permissions denied")
    listed = await env.lk.room.list_participants(api.ListParticipantsRequest(room="room-a"))
    assert [p.identity for p in listed.participants] == ["alice"]


async def test_bad_routes_and_codecs(env: Env) -> None:
    auth = {"Authorization": f"Bearer {token(video={'roomRecord': True})}"}
    get = await env.http.get("/twirp/livekit.Egress/ListEgress", headers=auth)
    assert get.status_code == 404
    assert get.json() == {
        "code": "bad_route",
        "msg": 'unsupported method "GET" (only POST is allowed)',
        "meta": {"twirp_invalid_route": "GET /twirp/livekit.Egress/ListEgress"},
    }
    nope = await env.http.post("/twirp/livekit.Egress/Nope", json={}, headers=auth)
    assert nope.json()["msg"] == 'no handler for path "/twirp/livekit.Egress/Nope"'
    text = await env.http.post(
        "/twirp/livekit.Egress/ListEgress", content=b"{}", headers={**auth, "Content-Type": "text/plain"}
    )
    assert (text.status_code, text.json()["msg"]) == (404, 'unexpected Content-Type: "text/plain"')
    bad_json = await env.http.post(
        "/twirp/livekit.Egress/ListEgress",
        content=b"{nope",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert bad_json.json() == {"code": "malformed", "msg": "the json request could not be decoded"}

    # JSON request (camelCase accepted, charset ignored) -> JSON response: snake_case, defaults emitted.
    await env.sandbox.join("json-room", "alice")
    body = {"roomName": "json-room", "fileOutputs": [{"filepath": "out.mp4"}], "unknownField": 1}
    resp = await env.http.post(
        "/twirp/livekit.Egress/StartRoomCompositeEgress",
        content=json.dumps(body).encode(),
        headers={**auth, "Content-Type": "application/json; charset=utf-8"},
    )
    assert resp.status_code == 200
    data = resp.json()
    assert data["status"] == "EGRESS_STARTING"
    assert data["room_name"] == "json-room"
    assert isinstance(data["started_at"], str)
    assert data["ended_at"] == "0"
    assert data["error"] == ""
    assert data["file_results"][0]["filename"] == "out.mp4"

    # Protobuf request through the real client.
    listed = await env.lk.egress.list_egress(api.ListEgressRequest(room_name="json-room"))
    assert [i.egress_id for i in listed.items] == [data["egress_id"]]


# ---- Start* server checks and worker validation --------------------------------------------------


async def test_start_requires_existing_room(env: Env) -> None:
    err = await server_error(env.lk.egress.start_room_composite_egress(composite("missing")))
    assert (err.code, err.status, err.message) == ("not_found", 404, "requested room does not exist")


async def test_no_worker_and_egress_disabled(env: Env) -> None:
    await env.sandbox.create_room("r")
    env.sandbox.faults.no_worker = True
    started = time.monotonic()
    err = await server_error(env.lk.egress.start_room_composite_egress(composite("r")))
    assert (err.code, err.status, err.message) == ("unavailable", 503, "no response from servers")
    assert time.monotonic() - started >= env.sandbox.timings.no_worker_after
    env.sandbox.faults.egress_disabled = True
    err = await server_error(env.lk.egress.start_web_egress(api.WebEgressRequest(url="https://example.com")))
    assert (err.code, err.status, err.message) == ("internal", 500, "egress not connected (redis required)")
    err = await server_error(
        env.lk.room.create_room(api.CreateRoomRequest(name="auto", egress=api.RoomEgress(room=composite(""))))
    )
    assert err.code == "internal"
    assert env.sandbox.egresses() == []


async def test_validation_errors_echo_raw_urls(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await env.sandbox.join("v", "alice")
    bad_scheme = f"http://ingest.example.com/app/{STREAM_KEY}"
    bad_format = f"rtmp://ingest.example.com/{STREAM_KEY}"
    srt_url = f"srt://ingest.example.com:9000?streamid={STREAM_KEY}"
    prefix = "request has missing or invalid field: "
    cases: list[tuple[Callable[[], Awaitable[Any]], str]] = [
        (
            lambda: env.lk.egress.start_room_composite_egress(api.RoomCompositeEgressRequest(room_name="v")),
            prefix + "output",
        ),
        (
            lambda: env.lk.egress.start_room_composite_egress(
                api.RoomCompositeEgressRequest(room_name="v", file_outputs=[file_output(), file_output()])
            ),
            prefix + "multiple file outputs",
        ),
        (
            lambda: env.lk.egress.start_room_composite_egress(
                api.RoomCompositeEgressRequest(
                    room_name="v", audio_only=True, video_only=True, file_outputs=[file_output()]
                )
            ),
            prefix + "audio_only and video_only",
        ),
        (
            lambda: env.lk.egress.start_room_composite_egress(composite("v", file=False, urls=(srt_url,))),
            f"invalid url {srt_url}: invalid scheme",
        ),
        (
            lambda: env.lk.egress.start_room_composite_egress(
                api.RoomCompositeEgressRequest(
                    room_name="v", stream_outputs=[api.StreamOutput(urls=[bad_scheme])]
                )
            ),
            f"invalid url {bad_scheme}: invalid protocol",
        ),
        (
            lambda: env.lk.egress.start_room_composite_egress(composite("v", file=False, urls=(bad_format,))),
            f"invalid url {bad_format}: rtmp urls must be of format "
            "rtmp(s)://{host}(/{path})/{app}/{stream_key}( live=1)",
        ),
        (
            lambda: env.lk.egress.start_participant_egress(
                api.ParticipantEgressRequest(room_name="v", file_outputs=[file_output()])
            ),
            prefix + "identity",
        ),
        (
            lambda: env.lk.egress.start_track_composite_egress(
                api.TrackCompositeEgressRequest(room_name="v", file_outputs=[file_output()])
            ),
            prefix + "audio_track_id or video_track_id",
        ),
        (
            lambda: env.lk.egress.start_track_egress(
                api.TrackEgressRequest(room_name="v", file=api.DirectFileOutput(filepath="x"))
            ),
            prefix + "track_id",
        ),
        (
            lambda: env.lk.egress.start_web_egress(
                api.WebEgressRequest(url="not a url", file_outputs=[file_output()])
            ),
            prefix + "web url",
        ),
        (
            lambda: env.lk.egress.start_room_composite_egress(composite("")),
            prefix + "token or api key/secret",
        ),
    ]
    for call, message in cases:
        err = await server_error(call())
        assert (err.code, err.status, err.message) == ("invalid_argument", 400, message)
    assert env.sandbox.egresses() == []
    # The sandbox itself never logs the raw key or the S3 secret.
    assert STREAM_KEY not in caplog.text
    assert S3_SECRET not in caplog.text


# ---- lifecycle -----------------------------------------------------------------------------------


async def test_full_lifecycle_with_signed_webhooks(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rtmp = f"rtmp://a.rtmp.youtube.com/live2/{STREAM_KEY}"
    await env.lk.room.create_room(api.CreateRoomRequest(name="show"))
    alice = await env.sandbox.join("show", "alice", name="Alice")
    request = composite("show", urls=(rtmp,))
    request.segment_outputs.append(
        api.SegmentedFileOutput(filename_prefix="hls/{room_name}", s3=api.S3Upload(bucket="hls-bucket"))
    )
    info = await env.lk.egress.start_room_composite_egress(request)

    room = (await env.lk.room.list_rooms(api.ListRoomsRequest(names=["show"]))).rooms[0]
    assert EGRESS_ID.match(info.egress_id)
    assert info.status == api.EGRESS_STARTING
    assert (info.room_id, info.room_name) == (room.sid, "show")
    assert info.started_at > 0 and info.updated_at >= info.started_at
    assert info.source_type == api.EGRESS_SOURCE_TYPE_WEB
    assert info.room_composite.file_outputs[0].s3.access_key == "{access_key}"
    assert info.room_composite.file_outputs[0].s3.secret == "{secret}"
    assert info.room_composite.stream_outputs[0].urls == ["rtmp://a.rtmp.youtube.com/live2/{liv...5f6}"]
    assert [(s.url, s.status, s.started_at) for s in info.stream_results] == [
        ("rtmp://a.rtmp.youtube.com/live2/{liv...5f6}", api.StreamInfo.ACTIVE, 0)
    ]
    assert re.fullmatch(r"recordings/show-\d{4}-\d\d-\d\dT\d{6}\.mp4", info.file_results[0].filename)
    assert info.segment_results[0].playlist_name == "hls/show.m3u8"

    active = await wait_status(env.sandbox, info.egress_id, api.EGRESS_ACTIVE)
    assert active.stream_results[0].started_at > 0
    participants = await env.lk.room.list_participants(api.ListParticipantsRequest(room="show"))
    bot = next(p for p in participants.participants if p.identity == info.egress_id)
    assert bot.kind == api.ParticipantInfo.EGRESS and bot.permission.hidden
    assert (await env.lk.room.list_rooms(api.ListRoomsRequest())).rooms[0].active_recording

    await env.receiver.wait_for("egress_updated", info.egress_id, count=2)
    ending = await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id))
    assert ending.status == api.EGRESS_ENDING
    assert ending.details == "End reason: StopEgress API"
    ended = (await env.receiver.wait_for("egress_ended", info.egress_id))[0].egress_info
    assert ended.status == api.EGRESS_COMPLETE
    assert ended.ended_at >= ended.started_at
    result = ended.file_results[0]
    assert result.location == f"https://rec-bucket.s3.amazonaws.com/{result.filename}"
    assert result.size > 0 and result.duration > 0 and result.ended_at > 0
    assert ended.segment_results[0].playlist_location == "https://hls-bucket.s3.amazonaws.com/hls/show.m3u8"
    assert ended.segment_results[0].segment_count >= 1
    assert ended.stream_results[0].status == api.StreamInfo.FINISHED

    await env.receiver.wait_for("participant_left")
    await env.sandbox.webhooks_idle()
    assert env.receiver.errors == []
    egress_events = env.receiver.events(egress_id=info.egress_id)
    assert [(e.event, e.egress_info.status) for e in egress_events] == [
        ("egress_started", api.EGRESS_STARTING),
        ("egress_updated", api.EGRESS_ACTIVE),
        ("egress_updated", api.EGRESS_ACTIVE),  # all streams started
        ("egress_updated", api.EGRESS_ENDING),
        ("egress_ended", api.EGRESS_COMPLETE),
    ]
    for event in egress_events:
        assert event.id.startswith("EV_") and abs(event.created_at - time.time()) < 60
        assert (event.room.sid, event.room.name) == (room.sid, "show")
    raw = next(r for r in env.receiver.received if r.event.event == "egress_started")
    assert raw.headers["content-type"] == "application/webhook+json"
    assert raw.headers["user-agent"] == "LiveKit"
    assert not raw.headers["authorization"].startswith("Bearer")
    decoded = json.loads(raw.body)
    assert "status" not in decoded["egressInfo"] and "egressId" in decoded["egressInfo"]
    assert isinstance(decoded["egressInfo"]["startedAt"], str)

    room_events = [e.event for e in env.receiver.events() if not e.egress_info.egress_id]
    assert room_events[:4] == ["room_started", "participant_joined", "track_published", "track_published"]
    joined = env.receiver.events("participant_joined")
    assert joined[0].participant.sid == alice.sid and joined[0].room.sid == room.sid
    assert any(e.participant.kind == api.ParticipantInfo.EGRESS for e in joined)
    published = env.receiver.events("track_published")
    assert {(e.track.type, e.track.source) for e in published} == {
        (api.VIDEO, api.CAMERA),
        (api.AUDIO, api.MICROPHONE),
    }
    assert STREAM_KEY not in caplog.text and S3_SECRET not in caplog.text and SECRET not in caplog.text

    err = await server_error(env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id)))
    assert (err.code, err.status, err.message) == (
        "failed_precondition",
        412,
        "egress with status EGRESS_COMPLETE cannot be stopped",
    )
    err = await server_error(env.lk.egress.stop_egress(api.StopEgressRequest(egress_id="EG_unknown")))
    assert (err.code, err.status, err.message) == ("not_found", 404, "egress does not exist")


async def test_empty_room_stays_starting_and_stop_aborts(env: Env) -> None:
    await env.sandbox.create_room("empty")
    info = await env.lk.egress.start_room_composite_egress(composite("empty"))
    await asyncio.sleep(0.3)
    assert env.sandbox.egress_info(info.egress_id).status == api.EGRESS_STARTING  # type: ignore[union-attr]
    aborted = await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id))
    assert aborted.status == api.EGRESS_ABORTED
    assert (aborted.error, aborted.error_code) == ("Stop called before pipeline could start", 412)
    assert aborted.ended_at > 0
    err = await server_error(env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id)))
    assert err.message == "egress with status EGRESS_ABORTED cannot be stopped" and err.status == 412
    ended = await env.receiver.wait_for("egress_ended", info.egress_id)
    assert ended[0].egress_info.status == api.EGRESS_ABORTED


async def test_start_signal_fault_and_stop_is_idempotent_while_ending(
    make_env: Callable[..., Awaitable[Env]],
) -> None:
    env = await make_env(timings=fast_timings(finalize_after=0.4), faults=SandboxFaults(start_signal=False))
    await env.sandbox.join("r", "alice")
    info = await env.lk.egress.start_room_composite_egress(composite("r"))
    await asyncio.sleep(0.2)
    assert env.sandbox.egress_info(info.egress_id).status == api.EGRESS_STARTING  # type: ignore[union-attr]
    patched = await env.http.patch("/sandbox/faults", json={"start_signal": True})
    assert patched.json()["start_signal"] is True
    await wait_status(env.sandbox, info.egress_id, api.EGRESS_ACTIVE)
    first = await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id))
    second = await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id))
    assert first.status == second.status == api.EGRESS_ENDING
    await wait_status(env.sandbox, info.egress_id, api.EGRESS_COMPLETE)
    assert len(env.receiver.events("egress_updated", info.egress_id)) == 2  # ACTIVE, ENDING (no extra)


async def test_update_stream(env: Env) -> None:
    await env.sandbox.join("s", "alice")
    first = f"rtmps://live.example.com:443/app/{STREAM_KEY}"
    info = await env.lk.egress.start_room_composite_egress(composite("s", file=False, urls=(first,)))
    await wait_status(env.sandbox, info.egress_id, api.EGRESS_ACTIVE)

    added = await env.lk.egress.update_stream(
        api.UpdateStreamRequest(egress_id=info.egress_id, add_output_urls=["mux://mux-stream-key-123"])
    )
    assert [s.url for s in added.stream_results] == [
        "rtmps://live.example.com:443/app/{liv...5f6}",
        "rtmps://global-live.mux.com:443/app/{mux...123}",
    ]
    assert added.stream_results[1].started_at > 0

    redacted = added.stream_results[0].url
    err = await server_error(
        env.lk.egress.update_stream(
            api.UpdateStreamRequest(egress_id=info.egress_id, remove_output_urls=[redacted])
        )
    )
    assert (err.code, err.status, err.message) == ("not_found", 404, f"stream {redacted} not found")
    bad = "ftp://x/y/z"
    err = await server_error(
        env.lk.egress.update_stream(api.UpdateStreamRequest(egress_id=info.egress_id, add_output_urls=[bad]))
    )
    assert (err.code, err.message) == ("invalid_argument", f"invalid url {bad}: invalid protocol")

    removed = await env.lk.egress.update_stream(
        api.UpdateStreamRequest(egress_id=info.egress_id, remove_output_urls=[first])
    )
    assert [s.status for s in removed.stream_results] == [api.StreamInfo.FINISHED, api.StreamInfo.ACTIVE]
    assert removed.status == api.EGRESS_ACTIVE
    last = await env.lk.egress.update_stream(
        api.UpdateStreamRequest(egress_id=info.egress_id, remove_output_urls=["mux://mux-stream-key-123"])
    )
    assert last.status == api.EGRESS_ENDING
    done = await wait_status(env.sandbox, info.egress_id, api.EGRESS_COMPLETE)
    assert done.details == "End reason: All streams stopped"
    err = await server_error(
        env.lk.egress.update_stream(
            api.UpdateStreamRequest(egress_id=info.egress_id, add_output_urls=[first])
        )
    )
    assert (err.status, err.message) == (412, "egress with status EGRESS_COMPLETE cannot be updated")

    file_only = await env.lk.egress.start_room_composite_egress(composite("s"))
    err = await server_error(
        env.lk.egress.update_stream(
            api.UpdateStreamRequest(egress_id=file_only.egress_id, add_output_urls=[first])
        )
    )
    assert (err.code, err.message) == ("invalid_argument", "UpdateStream called on non-streaming egress")


async def test_update_layout_sets_participant_metadata(env: Env) -> None:
    await env.sandbox.join("l", "alice")
    info = await env.lk.egress.start_room_composite_egress(composite("l"))
    returned = await env.lk.egress.update_layout(
        api.UpdateLayoutRequest(egress_id=info.egress_id, layout="speaker")
    )
    assert returned.egress_id == info.egress_id
    assert returned.room_composite.layout == "grid"  # the stored request is not rewritten
    bot = await env.lk.room.get_participant(api.RoomParticipantIdentity(room="l", identity=info.egress_id))
    assert json.loads(bot.metadata) == {"layout": "speaker"}
    err = await server_error(
        env.lk.egress.update_layout(api.UpdateLayoutRequest(egress_id="EG_nope", layout="x"))
    )
    assert (err.code, err.message) == ("not_found", "egress does not exist")


async def test_list_egress_semantics(env: Env) -> None:
    await env.sandbox.join("a", "alice")
    await env.sandbox.create_room("b")  # nobody publishes: stays STARTING
    in_a = await env.lk.egress.start_room_composite_egress(composite("a"))
    in_b = await env.lk.egress.start_room_composite_egress(composite("b"))
    await env.lk.egress.stop_egress(
        api.StopEgressRequest(egress_id=in_b.egress_id)
    )  # ABORTED at once (never started)

    one = await env.lk.egress.list_egress(api.ListEgressRequest(egress_id=in_b.egress_id))
    assert [i.status for i in one.items] == [api.EGRESS_ABORTED]
    err = await server_error(env.lk.egress.list_egress(api.ListEgressRequest(egress_id="EG_missing1234")))
    assert (err.code, err.message) == ("not_found", "egress does not exist")
    in_room = await env.lk.egress.list_egress(api.ListEgressRequest(room_name="a"))
    assert [i.egress_id for i in in_room.items] == [in_a.egress_id]
    every = await env.lk.egress.list_egress(api.ListEgressRequest())
    assert {i.egress_id for i in every.items} == {in_a.egress_id, in_b.egress_id}
    active = await env.lk.egress.list_egress(api.ListEgressRequest(active=True))
    assert [i.egress_id for i in active.items] == [in_a.egress_id]


async def test_retention_forgets_ended_egresses(make_env: Callable[..., Awaitable[Env]]) -> None:
    env = await make_env(timings=fast_timings(retention=0.1))
    await env.sandbox.create_room("r")
    info = await env.lk.egress.start_room_composite_egress(composite("r"))
    await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id))
    await asyncio.sleep(0.2)
    err = await server_error(env.lk.egress.list_egress(api.ListEgressRequest(egress_id=info.egress_id)))
    assert err.code == "not_found"


async def test_room_close_ends_egresses(env: Env) -> None:
    await env.sandbox.join("c", "alice")
    running = await env.lk.egress.start_room_composite_egress(composite("c"))
    await wait_status(env.sandbox, running.egress_id, api.EGRESS_ACTIVE)
    waiting = await env.lk.egress.start_participant_egress(
        api.ParticipantEgressRequest(room_name="c", identity="nobody", file_outputs=[file_output()])
    )
    await env.lk.room.delete_room(api.DeleteRoomRequest(room="c"))

    finished = await env.receiver.wait_for("room_finished")
    assert finished[0].room.name == "c"
    aborted = await wait_status(env.sandbox, waiting.egress_id, api.EGRESS_ABORTED)
    assert (aborted.error, aborted.error_code) == ("Start signal not received", 412)
    complete = await wait_status(env.sandbox, running.egress_id, api.EGRESS_COMPLETE)
    assert complete.details == "End reason: Source closed"
    assert complete.file_results[0].location.startswith("https://rec-bucket.s3.amazonaws.com/")
    assert (await env.lk.room.list_rooms(api.ListRoomsRequest())).rooms == []
    err = await server_error(env.lk.room.delete_room(api.DeleteRoomRequest(room="c")))
    assert (err.code, err.message) == ("not_found", "requested room does not exist")


async def test_outlive_room_fault_keeps_the_egress_running_until_stopped(env: Env) -> None:
    env.sandbox.faults.outlive_room = True  # a template that never prints END_RECORDING
    await env.sandbox.join("h", "alice")
    running = await env.lk.egress.start_room_composite_egress(composite("h"))
    await wait_status(env.sandbox, running.egress_id, api.EGRESS_ACTIVE)
    await env.lk.room.delete_room(api.DeleteRoomRequest(room="h"))
    await env.receiver.wait_for("room_finished")
    info = env.sandbox.egress_info(running.egress_id)
    assert info is not None and info.status == api.EGRESS_ACTIVE
    stopped = await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=running.egress_id))
    assert stopped.status == api.EGRESS_ENDING
    await wait_status(env.sandbox, running.egress_id, api.EGRESS_COMPLETE)


async def test_departure_timeout_closes_room_despite_egress_bot(
    make_env: Callable[..., Awaitable[Env]],
) -> None:
    env = await make_env(timings=fast_timings(departure_timeout=0.15))
    await env.sandbox.join("d", "alice")
    info = await env.lk.egress.start_room_composite_egress(composite("d"))
    await wait_status(env.sandbox, info.egress_id, api.EGRESS_ACTIVE)
    await env.sandbox.leave("d", "alice")
    await env.receiver.wait_for("room_finished")
    ended = await wait_status(env.sandbox, info.egress_id, api.EGRESS_COMPLETE)
    assert ended.details == "End reason: Source closed"


async def test_create_room_with_auto_egress(env: Env) -> None:
    room = await env.lk.room.create_room(
        api.CreateRoomRequest(name="auto", egress=api.RoomEgress(room=composite("ignored")))
    )
    again = await env.lk.room.create_room(api.CreateRoomRequest(name="auto"))
    assert again.sid == room.sid
    [info] = env.sandbox.egresses()
    assert (info.room_name, info.room_id) == ("auto", room.sid)
    await env.receiver.wait_for("room_started")
    await env.receiver.wait_for("egress_started", info.egress_id)


async def test_auto_participant_and_track_egress(env: Env) -> None:
    s3 = api.S3Upload(access_key="AK", secret=S3_SECRET, bucket="auto-bucket")
    await env.lk.room.create_room(
        api.CreateRoomRequest(
            name="autorec",
            egress=api.RoomEgress(
                participant=api.AutoParticipantEgress(file_outputs=[api.EncodedFileOutput(s3=s3)]),
                tracks=api.AutoTrackEgress(filepath="tracks/{track_id}", s3=s3),
            ),
        )
    )
    alice = await env.sandbox.join("autorec", "alice")
    infos = env.sandbox.egresses()
    kinds = sorted(i.WhichOneof("request") or "" for i in infos)
    assert kinds == ["participant", "track", "track"]
    track_files = sorted(i.file_results[0].filename for i in infos if i.WhichOneof("request") == "track")
    assert track_files == sorted(
        f"tracks/{t.sid}" + (".ogg" if t.type == api.AUDIO else ".mp4") for t in alice.tracks
    )
    assert all(
        i.participant.file_outputs[0].s3.secret == "{secret}" for i in infos if i.HasField("participant")
    )

    await env.lk.room.create_room(
        api.CreateRoomRequest(name="autobad", egress=api.RoomEgress(participant=api.AutoParticipantEgress()))
    )
    await env.sandbox.join("autobad", "bob", publish=("microphone",))
    failed = [e for e in await env.receiver.wait_for("egress_ended") if e.egress_info.room_name == "autobad"]
    assert failed[0].egress_info.egress_id == ""
    assert failed[0].egress_info.status == api.EGRESS_FAILED
    assert failed[0].egress_info.error == "request has missing or invalid field: output"


async def test_web_egress_lifecycle(env: Env) -> None:
    info = await env.lk.egress.start_web_egress(
        api.WebEgressRequest(url="https://example.com/show", file_outputs=[api.EncodedFileOutput()])
    )
    assert (info.room_name, info.room_id, info.source_type) == ("", "", api.EGRESS_SOURCE_TYPE_WEB)
    assert re.fullmatch(r"web-\d{4}-\d\d-\d\dT\d{6}\.mp4", info.file_results[0].filename)
    await wait_status(env.sandbox, info.egress_id, api.EGRESS_ACTIVE)
    await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id))
    ended = (await env.receiver.wait_for("egress_ended", info.egress_id))[0]
    assert ended.egress_info.status == api.EGRESS_COMPLETE
    assert ended.egress_info.file_results[0].location == info.file_results[0].filename  # local file
    assert not ended.HasField("room")


async def test_serve_sandbox_in_current_loop() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    sandbox = SandboxLiveKit(KEY, SECRET, timings=fast_timings())
    task = asyncio.create_task(serve_sandbox(sandbox, "127.0.0.1", port))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    resp = await http.get("/sandbox")
                    break
                await asyncio.sleep(0.02)
            assert resp.json()["rooms"] == {}
            async with api.LiveKitAPI(f"http://127.0.0.1:{port}", KEY, SECRET) as lk:
                room = await lk.room.create_room(api.CreateRoomRequest(name="served"))
            assert room.sid.startswith("RM_") and "served" in sandbox.rooms.rooms
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_participant_egress_target_missing(make_env: Callable[..., Awaitable[Env]]) -> None:
    env = await make_env()
    await env.sandbox.create_room("p")
    info = await env.lk.egress.start_participant_egress(
        api.ParticipantEgressRequest(room_name="p", identity="bob", file_outputs=[file_output()])
    )
    failed = await wait_status(env.sandbox, info.egress_id, api.EGRESS_FAILED)
    assert (failed.error, failed.error_code) == ("participant bob not found", 404)

    alice = await env.sandbox.join("p", "alice", publish=("microphone",))
    track = await env.lk.egress.start_track_egress(
        api.TrackEgressRequest(
            room_name="p", track_id=alice.tracks[0].sid, file=api.DirectFileOutput(filepath="tracks/")
        )
    )
    assert track.file_results[0].filename.endswith(".ogg")
    await wait_status(env.sandbox, track.egress_id, api.EGRESS_ACTIVE)
    await env.sandbox.unpublish("p", "alice", alice.tracks[0].sid)
    ended = await wait_status(env.sandbox, track.egress_id, api.EGRESS_COMPLETE)
    assert ended.details == "End reason: Source closed"


# ---- faults --------------------------------------------------------------------------------------


async def test_rtmp_refuse_with_two_urls_and_with_one(env: Env) -> None:
    await env.sandbox.join("rt", "alice")
    env.sandbox.faults.rtmp_refuse = ["bad-host"]
    good, bad = "rtmp://good-host/app/key123456789", "rtmp://bad-host/app/key987654321"
    two = await env.lk.egress.start_room_composite_egress(composite("rt", file=False, urls=(good, bad)))
    await env.receiver.wait_for("egress_updated", two.egress_id, count=2)
    info = env.sandbox.egress_info(two.egress_id)
    assert info is not None and info.status == api.EGRESS_ACTIVE
    assert [s.status for s in info.stream_results] == [api.StreamInfo.ACTIVE, api.StreamInfo.FAILED]
    assert info.stream_results[1].error and info.stream_results[1].ended_at > 0

    one = await env.lk.egress.start_room_composite_egress(composite("rt", file=False, urls=(bad,)))
    failed = await wait_status(env.sandbox, one.egress_id, api.EGRESS_FAILED)
    assert failed.error_code == 503 and failed.stream_results[0].status == api.StreamInfo.FAILED
    ended = await env.receiver.wait_for("egress_ended", one.egress_id)
    assert ended[0].egress_info.status == api.EGRESS_FAILED

    with_file = await env.lk.egress.start_room_composite_egress(composite("rt", urls=(bad,)))
    await env.receiver.wait_for("egress_updated", with_file.egress_id, count=2)
    assert env.sandbox.egress_info(with_file.egress_id).status == api.EGRESS_ACTIVE  # type: ignore[union-attr]


async def test_session_limit(env: Env) -> None:
    env.sandbox.faults.session_limit = 0.15
    await env.sandbox.create_room("empty")
    never = await env.lk.egress.start_room_composite_egress(composite("empty"))
    await env.sandbox.join("busy", "alice")
    running = await env.lk.egress.start_room_composite_egress(composite("busy"))

    aborted = await wait_status(env.sandbox, never.egress_id, api.EGRESS_ABORTED)
    assert aborted.error == "Session limit reached before start signal"
    ended = (await env.receiver.wait_for("egress_ended", running.egress_id))[0].egress_info
    assert ended.status == api.EGRESS_LIMIT_REACHED
    assert (ended.error, ended.error_code) == ("Session limit reached", 413)
    assert ended.file_results[0].location
    statuses = [e.egress_info.status for e in env.receiver.events("egress_updated", running.egress_id)]
    assert api.EGRESS_ENDING not in statuses


async def test_failures_upload_and_connection(env: Env) -> None:
    await env.sandbox.join("f", "alice")
    env.sandbox.faults.upload_fail = True
    upload = await env.lk.egress.start_room_composite_egress(composite("f"))
    await wait_status(env.sandbox, upload.egress_id, api.EGRESS_ACTIVE)
    await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=upload.egress_id))
    failed = await wait_status(env.sandbox, upload.egress_id, api.EGRESS_FAILED)
    assert failed.error.startswith("S3 upload failed: ") and failed.error_code == 400
    assert failed.file_results[0].location == ""

    env.sandbox.faults.upload_fail = False
    env.sandbox.faults.fail_active_after = 0.1
    dropped = await env.lk.egress.start_room_composite_egress(composite("f"))
    broken = await wait_status(env.sandbox, dropped.egress_id, api.EGRESS_FAILED)
    assert (broken.error, broken.error_code) == ("recording ended early: connection to room failed", 503)
    assert broken.file_results[0].location  # partial output kept
    assert broken.details == "End reason: Failure"


async def test_start_response_delay_still_creates_egress(env: Env) -> None:
    await env.sandbox.join("late", "alice")
    env.sandbox.faults.start_response_delay = 0.3
    task = asyncio.create_task(env.lk.egress.start_room_composite_egress(composite("late")))
    started = await env.receiver.wait_for("egress_started")
    assert not task.done()
    info = await task
    assert info.egress_id == started[0].egress_info.egress_id


async def test_duplicate_and_dropped_webhooks(env: Env) -> None:
    env.sandbox.faults.duplicate_webhooks = True
    await env.sandbox.create_room("dup")
    await env.receiver.wait_for("room_started", count=2)
    first, second = env.receiver.events("room_started")
    assert first.id == second.id
    raw = [r.body for r in env.receiver.received if r.event.event == "room_started"]
    assert raw[0] == raw[1]

    env.sandbox.faults.duplicate_webhooks = False
    env.sandbox.faults.drop_webhook_events = ["egress_ended"]
    await env.sandbox.join("dup", "alice", publish=())  # no publisher: the egress never starts
    info = await env.lk.egress.start_room_composite_egress(composite("dup"))
    await env.lk.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id))
    await env.sandbox.webhooks_idle()
    assert [e.event for e in env.receiver.events(egress_id=info.egress_id)] == ["egress_started"]
    assert [e.event for e in env.sandbox.dropped_webhooks] == ["egress_ended"]

    env.sandbox.faults.drop_webhooks = True
    count = len(env.receiver.received)
    await env.sandbox.create_room("silent")
    await env.sandbox.webhooks_idle()
    assert len(env.receiver.received) == count


async def test_webhook_retry_after_500_but_not_after_400(env: Env) -> None:
    env.receiver.fail_next = 1
    await env.sandbox.create_room("retry")
    [event] = await env.receiver.wait_for("room_started", within=5)
    await env.sandbox.webhooks_idle()  # the sender records an attempt after the receiver has answered
    attempts = [(s.attempt, s.http_status) for s in env.sandbox.sent_webhooks if s.id == event.id]
    assert attempts == [(1, 500), (2, 200)]

    env.receiver.fail_next, env.receiver.fail_status = 1, 400
    await env.sandbox.close_room("retry")
    await env.sandbox.webhooks_idle()
    finished = [s for s in env.sandbox.sent_webhooks if s.event == "room_finished"]
    assert [(s.attempt, s.http_status) for s in finished] == [(1, 400)]
    assert env.receiver.events("room_finished") == []


async def test_webhook_urls_are_read_at_send_time(env: Env) -> None:
    env.sandbox.webhook_urls = []
    await env.sandbox.create_room("quiet")
    await env.sandbox.webhooks_idle()
    assert env.receiver.received == []
    env.sandbox.webhook_urls = [env.receiver.url]
    await env.sandbox.join("quiet", "alice", publish=())
    await env.receiver.wait_for("participant_joined")


def test_sign_webhook_and_body_match_livekit_receiver() -> None:
    event = api.WebhookEvent(event="egress_started", id="EV_abc", created_at=1700000000)
    event.egress_info.egress_id = "EG_abc"
    event.egress_info.started_at = 1700000000123456789
    body = webhook_body(event)
    assert json.loads(body) == {
        "event": "egress_started",
        "id": "EV_abc",
        "createdAt": "1700000000",
        "egressInfo": {"egressId": "EG_abc", "startedAt": "1700000000123456789"},
    }
    now = time.time()
    auth = sign_webhook(body, KEY, SECRET, now=now)
    claims = jwt.decode(auth, SECRET, algorithms=["HS256"], issuer=KEY)
    assert claims["nbf"] == claims["iat"] == int(now) and claims["exp"] == int(now) + 300
    assert claims["sha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    parsed = api.WebhookReceiver(api.TokenVerifier(KEY, SECRET)).receive(body.decode(), auth)
    assert parsed == event


# ---- SandboxThread and /sandbox control routes ---------------------------------------------------


def test_sandbox_thread_and_control_routes() -> None:
    with SandboxThread(api_key=KEY, api_secret=SECRET, timings=fast_timings()) as thread:
        assert thread.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=thread.url) as http:
            assert http.post("/sandbox/rooms", json={"name": "ctl", "metadata": "m"}).status_code == 201
            joined = http.post(
                "/sandbox/rooms/ctl/participants", json={"identity": "alice", "publish": ["camera"]}
            )
            assert joined.status_code == 201 and joined.json()["identity"] == "alice"
            state = http.get("/sandbox").json()
            assert state["rooms"]["ctl"]["room"]["num_participants"] == 1
            assert http.patch("/sandbox/faults", json={"upload_fail": True}).json()["upload_fail"] is True
            assert http.patch("/sandbox/faults", json={"nope": 1}).status_code == 400
            assert http.get("/sandbox/faults").json()["upload_fail"] is True
            assert thread.sandbox.faults.upload_fail is True

            async def start() -> api.EgressInfo:
                async with api.LiveKitAPI(thread.url, KEY, SECRET) as lk:
                    return await lk.egress.start_room_composite_egress(composite("ctl"))

            info = asyncio.run(start())
            assert [e["egress_id"] for e in http.get("/sandbox/egresses").json()] == [info.egress_id]
            track = thread.call(thread.sandbox.publish, "ctl", "alice", "screen_share")
            assert track.source == api.SCREEN_SHARE
            assert thread.call(thread.sandbox.egress_info, info.egress_id).egress_id == info.egress_id
            assert http.delete("/sandbox/rooms/ctl/participants/alice").status_code == 204
            assert http.delete("/sandbox/rooms/ctl").status_code == 204
            assert http.delete("/sandbox/rooms/ctl").status_code == 404
    with contextlib.suppress(httpx.HTTPError), httpx.Client() as http:
        http.get(thread.url + "/sandbox", timeout=0.5)
        pytest.fail("server still listening after stop()")
