"""FakeLiveKit against the real gateway talking to the sandbox LiveKit: the same answers and the same errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from orchestrator.adapters.livekit import LiveKitEgressGateway
from orchestrator.adapters.memory import FakeLiveKit
from orchestrator.domain.egress import EgressKind, EgressStatus
from orchestrator.domain.errors import EgressAlreadyEnded, EgressUnknownToLiveKit, LiveKitRejected
from orchestrator.domain.requests import EgressRequest, FileOutput, S3Target, StreamOutput
from orchestrator.domain.sessions import TrackSnapshot
from orchestrator.sandbox import SandboxThread, SandboxTimings
from orchestrator.services.ports import EgressGateway, RoomGateway

KEY, SECRET = "contract-key", "contract-secret-that-is-long-enough-0123"
STREAM_KEY = "sk-contract-0123456789"
S3 = S3Target(bucket="recordings", region="us-east-1", access_key="AKIACONTRACT0000", secret="s3-secret-contract")


@dataclass
class LiveKit:
    egress: EgressGateway
    rooms: RoomGateway
    add_room: Callable[[str], Awaitable[None]]
    join: Callable[[str, str], Awaitable[None]]  # one participant publishing a camera


@pytest.fixture(params=["fake", "sandbox"])
async def livekit(request: pytest.FixtureRequest) -> AsyncIterator[LiveKit]:
    if request.param == "fake":
        fake = FakeLiveKit()

        async def add_fake(name: str) -> None:
            fake.add_room(name)

        async def join_fake(room: str, identity: str) -> None:
            fake.join(room, identity, tracks=(TrackSnapshot("TR_cam", "VIDEO", "CAMERA", "video/H264"),))

        yield LiveKit(fake, fake, add_fake, join_fake)
        return
    # Slow timings: an egress stays STARTING unless a test moves it, as in the fake.
    timings = SandboxTimings(activate_after=600, finalize_after=600, no_worker_after=0.1, participant_wait=600)
    thread = SandboxThread(api_key=KEY, api_secret=SECRET, timings=timings).start()
    gateway = LiveKitEgressGateway(thread.url, KEY, SECRET, timeout_s=5, start_timeout_s=5, attempts=1)

    async def add_sandbox(name: str) -> None:
        thread.call(thread.sandbox.create_room, name)

    async def join_sandbox(room: str, identity: str) -> None:
        thread.call(thread.sandbox.join, room, identity, publish=("camera",))

    yield LiveKit(gateway, gateway, add_sandbox, join_sandbox)
    await gateway.aclose()
    thread.stop()


def _composite(room: str, *, stream: bool = True) -> EgressRequest:
    if stream:
        return EgressRequest(kind=EgressKind.ROOM_COMPOSITE, room_name=room, layout="grid",
                             stream=StreamOutput((f"rtmp://127.0.0.1:9/live/{STREAM_KEY}",)))
    return EgressRequest(kind=EgressKind.ROOM_COMPOSITE, room_name=room, layout="grid",
                         file=FileOutput(filepath=f"{room}/composite.mp4"), storage=S3)


async def test_a_start_answers_starting_with_a_livekit_id_and_our_fingerprint(livekit: LiveKit) -> None:
    await livekit.add_room("lk-a")
    request = _composite("lk-a")
    started = await livekit.egress.start(request)
    assert started.egress_id.startswith("EG_") and started.status == EgressStatus.STARTING
    assert (started.room_name, started.kind) == ("lk-a", EgressKind.ROOM_COMPOSITE) and started.room_id
    assert started.fingerprint == request.fingerprint()
    assert started.updated_at_ns > 0 and started.started_at is not None
    [stream] = started.results.streams
    assert STREAM_KEY not in stream.url and stream.url.startswith("rtmp://127.0.0.1:9/live/")
    [listed] = await livekit.egress.list_egresses(egress_id=started.egress_id)
    assert listed.egress_id == started.egress_id and listed.status == EgressStatus.STARTING


async def test_a_start_in_a_room_that_does_not_exist_is_rejected(livekit: LiveKit) -> None:
    with pytest.raises(LiveKitRejected) as caught:
        await livekit.egress.start(_composite("lk-nowhere"))
    assert caught.value.twirp_code == "not_found" and not isinstance(caught.value, EgressUnknownToLiveKit)
    assert await livekit.egress.list_egresses(room_name="lk-nowhere") == []


async def test_an_unknown_egress_is_unknown_to_every_call(livekit: LiveKit) -> None:
    for call in (livekit.egress.stop("EG_nosuchegress"), livekit.egress.update_layout("EG_nosuchegress", "grid"),
                 livekit.egress.list_egresses(egress_id="EG_nosuchegress")):
        with pytest.raises(EgressUnknownToLiveKit):
            await call


async def test_stopping_a_starting_egress_aborts_it_and_an_ended_one_cannot_be_changed(livekit: LiveKit) -> None:
    await livekit.add_room("lk-b")
    started = await livekit.egress.start(_composite("lk-b"))
    stopped = await livekit.egress.stop(started.egress_id)
    assert stopped.status == EgressStatus.ABORTED and stopped.updated_at_ns > started.updated_at_ns
    with pytest.raises(EgressAlreadyEnded):
        await livekit.egress.stop(started.egress_id)
    with pytest.raises(EgressAlreadyEnded):
        await livekit.egress.update_stream(started.egress_id, ["rtmp://127.0.0.1:9/live/other-key-123"], [])


async def test_update_stream_needs_a_streaming_egress(livekit: LiveKit) -> None:
    await livekit.add_room("lk-c")
    started = await livekit.egress.start(_composite("lk-c", stream=False))
    with pytest.raises(LiveKitRejected) as caught:
        await livekit.egress.update_stream(started.egress_id, ["rtmp://127.0.0.1:9/live/other-key-123"], [])
    assert caught.value.twirp_code == "invalid_argument"
    assert (await livekit.egress.update_layout(started.egress_id, "speaker")).egress_id == started.egress_id


async def test_egresses_are_listed_by_room_and_activity(livekit: LiveKit) -> None:
    await livekit.add_room("lk-d")
    await livekit.add_room("lk-e")
    first = await livekit.egress.start(_composite("lk-d"))
    second = await livekit.egress.start(_composite("lk-d", stream=False))
    other = await livekit.egress.start(_composite("lk-e"))
    await livekit.egress.stop(first.egress_id)
    in_d = {o.egress_id: o.status for o in await livekit.egress.list_egresses(room_name="lk-d")}
    assert in_d == {first.egress_id: EgressStatus.ABORTED, second.egress_id: EgressStatus.STARTING}
    assert [o.egress_id for o in await livekit.egress.list_egresses(room_name="lk-d", active=True)] == \
        [second.egress_id]
    everywhere = {o.egress_id for o in await livekit.egress.list_egresses(active=True)}
    assert {second.egress_id, other.egress_id} <= everywhere and first.egress_id not in everywhere


async def test_rooms_are_created_once_and_list_their_participants(livekit: LiveKit) -> None:
    created = await livekit.rooms.create_room("lk-f", metadata='{"recording": true}')
    again = await livekit.rooms.create_room("lk-f", metadata="ignored")
    assert created.sid.startswith("RM_") and again.sid == created.sid and again.metadata == '{"recording": true}'
    assert again.creation_time_ms == created.creation_time_ms > 0
    await livekit.join("lk-f", "alice")
    [room] = await livekit.rooms.list_rooms(["lk-f"])
    assert (room.name, room.sid, room.num_participants, room.num_publishers) == ("lk-f", created.sid, 1, 1)
    assert not room.active_recording
    [alice] = await livekit.rooms.list_participants("lk-f")
    assert alice.identity == "alice" and alice.kind == "standard"
    assert [(t.type, t.source) for t in alice.tracks] == [("VIDEO", "CAMERA")]
    assert await livekit.rooms.list_participants("lk-nowhere") == []
    assert await livekit.egress.list_rooms(["lk-nowhere"]) == []
    await livekit.egress.check_access()
