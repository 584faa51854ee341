"""Sandbox media: real ffmpeg pushes from sandbox egresses to a real nginx-rtmp, driven by livekit-api."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from livekit import api

from orchestrator.sandbox import SandboxMedia, SandboxThread, SandboxTimings, rtmp_push
from tests.integration.rtmp_server import RtmpServer, nginx_rtmp, refused_url

__all__ = ["nginx_rtmp"]  # the fixture, imported for the tests below

KEY, SECRET = "APImediakey", "media-secret-that-is-long-enough-0123456789"
TIMINGS = dict(activate_after=0.05, finalize_after=0.05, no_worker_after=0.1, participant_wait=1.0)

pytestmark = pytest.mark.skipif(
    rtmp_push.find_ffmpeg() is None and not os.environ.get("CI"), reason="ffmpeg is not installed"
)


class Hooks:
    """A plain HTTP endpoint that keeps every webhook body (JSON) the sandbox sends."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers.get("content-length", 0)))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def egress_updates(self, egress_id: str) -> list[dict[str, Any]]:
        return [
            h["egressInfo"]
            for h in self.received
            if h["event"] == "egress_updated" and h["egressInfo"]["egressId"] == egress_id
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    yield server
    server.close()


@pytest.fixture
def make_sandbox(hooks: Hooks) -> Iterator[Callable[..., SandboxThread]]:
    started: list[SandboxThread] = []

    def start(media: SandboxMedia | bool = True) -> SandboxThread:
        thread = SandboxThread(
            api_key=KEY, api_secret=SECRET, timings=SandboxTimings(**TIMINGS), media=media,
            webhook_urls=[hooks.url],
        ).start()
        thread.call(thread.sandbox.join, "studio", "alice")
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


@pytest.fixture
async def lk_for() -> AsyncIterator[Callable[[SandboxThread], api.LiveKitAPI]]:
    clients: list[api.LiveKitAPI] = []

    def make(thread: SandboxThread) -> api.LiveKitAPI:
        clients.append(api.LiveKitAPI(thread.url, KEY, SECRET))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


def request(*urls: str) -> api.RoomCompositeEgressRequest:
    return api.RoomCompositeEgressRequest(
        room_name="studio", layout="grid", stream_outputs=[api.StreamOutput(protocol=api.RTMP, urls=list(urls))]
    )


async def info_of(lk: api.LiveKitAPI, egress_id: str) -> api.EgressInfo:
    [info] = (await lk.egress.list_egress(api.ListEgressRequest(egress_id=egress_id))).items
    return info


async def until(lk: api.LiveKitAPI, egress_id: str, check: Callable[[api.EgressInfo], bool]) -> api.EgressInfo:
    deadline = time.monotonic() + 10
    while True:
        info = await info_of(lk, egress_id)
        if check(info):
            return info
        assert time.monotonic() < deadline, f"condition never met: {info}"
        await asyncio.sleep(0.05)


async def pushing(thread: SandboxThread, egress_id: str, count: int) -> None:
    """Wait until ``count`` ffmpeg pushes of the egress are connected to their destinations."""
    deadline = time.monotonic() + 10
    while len(thread.call(thread.sandbox.rtmp.pushing, egress_id, connected=True)) < count:
        assert time.monotonic() < deadline, "the pushes never connected"
        await asyncio.sleep(0.05)


def seconds(stream: api.StreamInfo) -> float:
    return stream.duration / 1e9


async def test_recording_lasts_as_long_as_the_stream(
    nginx_rtmp: RtmpServer, make_sandbox: Callable[..., SandboxThread], lk_for: Any
) -> None:
    thread = make_sandbox()
    lk = lk_for(thread)
    egress = await lk.egress.start_room_composite_egress(request(nginx_rtmp.url("main")))
    await until(lk, egress.egress_id, lambda i: i.status == api.EGRESS_ACTIVE)
    await pushing(thread, egress.egress_id, 1)
    await asyncio.sleep(3)
    await lk.egress.stop_egress(api.StopEgressRequest(egress_id=egress.egress_id))
    done = await until(lk, egress.egress_id, lambda i: i.status == api.EGRESS_COMPLETE)
    thread.call(thread.sandbox.rtmp.idle)
    assert thread.call(thread.sandbox.rtmp.pushing) == []

    [recording] = nginx_rtmp.wait_recordings("main")
    assert seconds(done.stream_results[0]) >= 3
    assert abs(nginx_rtmp.duration(recording) - seconds(done.stream_results[0])) <= 1.5


async def test_update_stream_adds_and_removes_a_push(
    nginx_rtmp: RtmpServer, make_sandbox: Callable[..., SandboxThread], lk_for: Any
) -> None:
    thread = make_sandbox()
    lk = lk_for(thread)
    first, second = nginx_rtmp.url("first"), nginx_rtmp.url("second")
    egress = await lk.egress.start_room_composite_egress(request(first))
    await until(lk, egress.egress_id, lambda i: i.status == api.EGRESS_ACTIVE)
    await pushing(thread, egress.egress_id, 1)
    await asyncio.sleep(1)

    await lk.egress.update_stream(api.UpdateStreamRequest(egress_id=egress.egress_id, add_output_urls=[second]))
    await pushing(thread, egress.egress_id, 2)
    assert sorted(thread.call(thread.sandbox.rtmp.pushing, egress.egress_id)) == sorted([first, second])
    growing = nginx_rtmp.recordings("first")[0].stat().st_size
    await asyncio.sleep(1.5)
    assert nginx_rtmp.recordings("first")[0].stat().st_size > growing, "the first push was interrupted"

    await lk.egress.update_stream(api.UpdateStreamRequest(egress_id=egress.egress_id, remove_output_urls=[first]))
    await asyncio.sleep(1)
    assert thread.call(thread.sandbox.rtmp.pushing, egress.egress_id) == [second]
    await lk.egress.stop_egress(api.StopEgressRequest(egress_id=egress.egress_id))
    done = await until(lk, egress.egress_id, lambda i: i.status == api.EGRESS_COMPLETE)
    thread.call(thread.sandbox.rtmp.idle)

    by_key = {key: nginx_rtmp.wait_recordings(key) for key in ("first", "second")}
    for key, stream in zip(("first", "second"), done.stream_results, strict=True):
        [recording] = by_key[key]
        assert stream.status == api.StreamInfo.FINISHED
        assert abs(nginx_rtmp.duration(recording) - seconds(stream)) <= 1.5, key


async def test_refused_destination_fails_its_stream_like_livekit(
    nginx_rtmp: RtmpServer,
    make_sandbox: Callable[..., SandboxThread],
    lk_for: Any,
    hooks: Hooks,
) -> None:
    thread = make_sandbox(SandboxMedia(fail_refused=True))
    thread.sandbox.faults.rtmp_refuse = ["faulted"]  # the injected fault still works, and wins
    lk = lk_for(thread)
    refused = refused_url("nope-key-123")
    two = await lk.egress.start_room_composite_egress(
        request(nginx_rtmp.url("good"), refused, nginx_rtmp.url("faulted"))
    )
    info = await until(lk, two.egress_id, lambda i: i.stream_results[1].status == api.StreamInfo.FAILED)
    assert info.status == api.EGRESS_ACTIVE
    good, bad, faulted = info.stream_results
    assert good.status == api.StreamInfo.ACTIVE and good.started_at > 0
    assert bad.error and bad.ended_at > 0 and not bad.started_at
    assert faulted.status == api.StreamInfo.FAILED
    assert thread.call(thread.sandbox.rtmp.pushing, two.egress_id) == [nginx_rtmp.url("good")]
    await pushing(thread, two.egress_id, 1)  # the good destination gets media before the stop
    thread.call(thread.sandbox.webhooks_idle)
    updates = hooks.egress_updates(two.egress_id)
    assert updates[-1]["status"] == "EGRESS_ACTIVE" and updates[-1]["streamResults"][1]["status"] == "FAILED"

    one = await lk.egress.start_room_composite_egress(request(refused))
    failed = await until(lk, one.egress_id, lambda i: i.status == api.EGRESS_FAILED)
    assert failed.error_code == 503 and failed.error and failed.ended_at > 0
    assert failed.stream_results[0].status == api.StreamInfo.FAILED

    await lk.egress.stop_egress(api.StopEgressRequest(egress_id=two.egress_id))
    await until(lk, two.egress_id, lambda i: i.status == api.EGRESS_COMPLETE)
    thread.call(thread.sandbox.rtmp.idle)
    assert nginx_rtmp.wait_recordings("good") and nginx_rtmp.recordings("faulted") == []


async def test_refusals_are_ignored_unless_opted_in(
    make_sandbox: Callable[..., SandboxThread], lk_for: Any
) -> None:
    thread = make_sandbox()  # the default: push, but a missing destination does not fail the stream
    lk = lk_for(thread)
    egress = await lk.egress.start_room_composite_egress(request(refused_url("nobody-home-1")))
    await until(lk, egress.egress_id, lambda i: i.status == api.EGRESS_ACTIVE)
    await asyncio.sleep(1)  # ffmpeg has long given up
    assert thread.call(thread.sandbox.rtmp.pushing, egress.egress_id) == []
    info = await info_of(lk, egress.egress_id)
    assert info.status == api.EGRESS_ACTIVE and info.stream_results[0].status == api.StreamInfo.ACTIVE


async def test_without_ffmpeg_nothing_is_pushed(
    nginx_rtmp: RtmpServer,
    make_sandbox: Callable[..., SandboxThread],
    lk_for: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rtmp_push, "find_ffmpeg", lambda: None)
    thread = make_sandbox(SandboxMedia(fail_refused=True))
    lk = lk_for(thread)
    egress = await lk.egress.start_room_composite_egress(request(nginx_rtmp.url("silent")))
    await until(lk, egress.egress_id, lambda i: i.status == api.EGRESS_ACTIVE)
    await asyncio.sleep(0.5)
    assert thread.call(thread.sandbox.rtmp.pushing) == []
    await lk.egress.stop_egress(api.StopEgressRequest(egress_id=egress.egress_id))
    done = await until(lk, egress.egress_id, lambda i: i.status == api.EGRESS_COMPLETE)
    assert done.stream_results[0].status == api.StreamInfo.FINISHED
    assert nginx_rtmp.recordings() == []
