"""Rule intake and claims on the fakes: room_started to recordings exactly once, tracks, retries, ends, parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest

from orchestrator.adapters.memory import StartFailure
from orchestrator.domain.egress import EgressKind, EgressStatus
from orchestrator.domain.events import WebhookNotice
from orchestrator.domain.rules import ActionKind, CompositeAction, RoomFacts, RoomMatch, Rule, TracksAction
from orchestrator.domain.sessions import ClaimState, RecordingClaim, RoomSession, SessionSource

from .world import World, build_world, settle


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = build_world()
    yield w
    await w.aclose()


def add_rule(world: World, name: str = "record-all", glob: str = "*", **actions: object) -> Rule:
    composite = actions.pop("composite", CompositeAction())
    return world.recorder.create_rule(Rule(id="", name=name, match=RoomMatch(name_glob=glob),
                                           composite=composite, **actions))  # type: ignore[arg-type]


def claims_of(world: World, room: str) -> list[RecordingClaim]:
    sids = [s.room_sid for s in world.sessions.sessions(room_name=room)]
    return world.sessions.claims_of(sids)


async def test_room_started_starts_one_composite_per_matching_rule_exactly_once(world: World) -> None:
    everything = add_rule(world, "everything")
    studios = add_rule(world, "studios", glob="studio-*")
    add_rule(world, "others", glob="lobby-*")
    world.livekit.add_room("studio-1")
    [room_started] = world.livekit.notices
    [answer] = await world.deliver()
    assert not answer.duplicate
    claims = claims_of(world, "studio-1")
    assert sorted(c.rule_id for c in claims) == sorted([everything.id, studios.id])
    assert {c.state for c in claims} == {ClaimState.STARTED} and {c.action for c in claims} == {ActionKind.COMPOSITE}
    assert world.livekit.calls.count("StartRoomCompositeEgress") == 2
    [session] = world.sessions.sessions(room_name="studio-1")
    assert session.source == SessionSource.ROOM_STARTED and len(session.matches) == 2
    # LiveKit delivers the same room_started again: nothing more happens
    [again] = await world.submit(room_started)
    assert again.duplicate
    await world.deliver()  # the egresses' own webhooks
    assert world.livekit.calls.count("StartRoomCompositeEgress") == 2
    assert len(world.ledger.find(room_name="studio-1")) == 2
    assert [e.state_after for e in world.sessions.claim_history(claims[0].key)] == [ClaimState.CLAIMED,
                                                                                   ClaimState.STARTED]


async def test_a_room_started_seen_by_the_sweep_first_is_recorded_once(world: World) -> None:
    add_rule(world)
    world.livekit.add_room("late-room")
    notices = world.livekit.take_notices()  # delayed
    report = await world.recorder.sweep()
    assert report.recovered == 1
    await world.submit(*notices)  # room_started arrives after all: the session exists
    [claim] = claims_of(world, "late-room")
    assert claim.state == ClaimState.STARTED and world.livekit.calls.count("StartRoomCompositeEgress") == 1
    [session] = world.sessions.sessions(room_name="late-room")
    assert session.source == SessionSource.RECONCILE


async def test_track_published_claims_each_track_once(world: World) -> None:
    add_rule(world, "tracks", composite=None, tracks=TracksAction())
    room = world.livekit.add_room("podcast")
    await world.deliver()
    assert claims_of(world, "podcast") == []
    payload = {"room": {"name": "podcast", "sid": room.sid},
               "participant": {"identity": "alice", "kind": "STANDARD"},
               "track": {"sid": "TR_audio1", "type": "AUDIO", "mime_type": "audio/opus"}}
    published = WebhookNotice(id="EV_track1", event="track_published", created_at=world.clock(), room_name="podcast",
                              room_sid=room.sid, participant_identity="alice", track_sid="TR_audio1", payload=payload)
    await world.submit(published)
    await world.submit(WebhookNotice(**{**published.__dict__, "id": "EV_track1-again"}))  # a second event
    [claim] = claims_of(world, "podcast")
    assert (claim.action, claim.subject, claim.state) == (ActionKind.TRACK, "TR_audio1", ClaimState.STARTED)
    [request] = world.livekit.started
    assert request.kind == EgressKind.TRACK and request.track_id == "TR_audio1"


async def test_a_failed_start_is_retried_with_backoff_by_the_sweep(world: World) -> None:
    add_rule(world)
    world.livekit.fail_next_start(StartFailure.REJECTED)
    world.livekit.add_room("flaky")
    await world.deliver()
    [claim] = claims_of(world, "flaky")
    assert claim.state == ClaimState.FAILED and claim.retry_at is not None
    assert (claim.retry_at - world.clock()).total_seconds() == 5  # the first retry waits the base
    assert (await world.recorder.sweep()).retried == 0  # not due yet
    world.clock.advance(5)
    assert (await world.recorder.sweep()).retried == 1
    [claim] = claims_of(world, "flaky")
    assert claim.state == ClaimState.STARTED and claim.attempts == 1
    assert world.livekit.calls.count("StartRoomCompositeEgress") == 2
    assert [e.state_after for e in world.sessions.claim_history(claim.key)] == [
        ClaimState.CLAIMED, ClaimState.FAILED, ClaimState.CLAIMED, ClaimState.STARTED]


async def test_retries_back_off_and_stop_after_the_last_attempt(world: World) -> None:
    add_rule(world)
    world.livekit.fail_next_start(StartFailure.REJECTED, times=5)
    world.livekit.add_room("broken")
    await world.deliver()
    waits = []
    for _ in range(4):
        [claim] = claims_of(world, "broken")
        assert claim.retry_at is not None
        waits.append((claim.retry_at - world.clock()).total_seconds())
        world.clock.set(claim.retry_at)
        await world.recorder.sweep()
    [claim] = claims_of(world, "broken")
    assert waits == [5, 10, 20, 40]
    assert claim.state == ClaimState.FAILED and claim.retry_at is None  # five attempts: given up


async def test_room_finished_stops_its_recordings_and_cancels_pending_claims(world: World) -> None:
    add_rule(world, "a")
    add_rule(world, "b")
    world.livekit.fail_next_start(StartFailure.REJECTED)  # one of the two waits for a retry
    world.livekit.add_room("meeting")
    await world.deliver()
    states = sorted(c.state for c in claims_of(world, "meeting"))
    assert states == [ClaimState.FAILED, ClaimState.STARTED]
    world.livekit.remove_room("meeting")
    await world.deliver()
    claims = claims_of(world, "meeting")
    assert sorted(c.state for c in claims) == [ClaimState.CANCELLED, ClaimState.STARTED]
    [started] = [c for c in claims if c.state == ClaimState.STARTED]
    assert started.egress_pk is not None
    assert world.ledger.get(started.egress_pk).status == EgressStatus.ABORTED  # type: ignore[union-attr]
    world.clock.advance(60)
    assert (await world.recorder.sweep()).retried == 0


async def test_a_long_composite_rolls_over_to_part_two(world: World) -> None:
    add_rule(world)
    world.livekit.add_room("marathon")
    await world.deliver()
    [part1] = claims_of(world, "marathon")
    assert part1.egress_pk is not None
    record = world.ledger.get(part1.egress_pk)
    assert record is not None and record.egress_id is not None
    world.livekit.activate(record.egress_id)
    await world.deliver()
    world.clock.advance(9 * 60)
    assert (await world.recorder.sweep()).rolled_over == 0
    world.clock.advance(31)  # within the margin of the 10-minute cap
    assert (await world.recorder.sweep()).rolled_over == 1
    await world.deliver()
    parts = sorted(claims_of(world, "marathon"), key=lambda c: c.part)
    assert [(c.part, c.state) for c in parts] == [(1, ClaimState.STARTED), (2, ClaimState.STARTED)]
    assert world.ledger.get(part1.egress_pk).status == EgressStatus.ENDING  # type: ignore[union-attr]
    assert "part002" in str(parts[1].request["filepath"])
    assert (await world.recorder.sweep()).rolled_over == 0  # part 2 is young


async def test_an_egress_stopped_at_livekits_limit_rolls_over_at_once(world: World) -> None:
    add_rule(world)
    world.livekit.add_room("limit")
    await world.deliver()
    [part1] = claims_of(world, "limit")
    record = world.ledger.get(part1.egress_pk or "")
    assert record is not None and record.egress_id is not None
    world.livekit.activate(record.egress_id)
    world.livekit.end(record.egress_id, EgressStatus.LIMIT_REACHED)
    await world.deliver()
    await world.deliver()
    assert sorted((c.part, c.state) for c in claims_of(world, "limit")) == [(1, ClaimState.STARTED),
                                                                           (2, ClaimState.STARTED)]


async def test_a_created_room_delegates_its_composite_to_livekit(world: World) -> None:
    rule = add_rule(world, "webinars", glob="webinar-*")
    created, used = await world.recorder.create_room("webinar-1")
    assert used is not None and used.id == rule.id
    assert len(world.livekit.started) == 1  # LiveKit's auto egress, not a start call of ours
    await world.deliver()  # room_started and the auto egress's egress_started, in one batch
    await world.deliver()
    [claim] = claims_of(world, "webinar-1")
    assert claim.state == ClaimState.STARTED and claim.egress_pk is not None
    record = world.ledger.get(claim.egress_pk)
    assert record is not None and record.room_id == created.sid
    assert "StartRoomCompositeEgress" not in world.livekit.calls
    assert ClaimState.DELEGATED in [e.state_after for e in world.sessions.claim_history(claim.key)]


async def test_room_started_is_recorded_the_slow_way_when_planning_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_rule(world)

    def broken(*_: object) -> None:
        raise RuntimeError("planner broke")

    monkeypatch.setattr(world.recorder.intake, "plan", broken)
    world.livekit.add_room("fallback")
    [answer] = await world.deliver()
    assert not answer.duplicate
    await settle()
    [claim] = claims_of(world, "fallback")
    assert claim.state == ClaimState.STARTED and world.livekit.calls.count("StartRoomCompositeEgress") == 1


async def test_rules_stored_before_storage_was_removed_fail_their_claims_for_good() -> None:
    """A real LiveKit and no storage any more: what writes files never reaches LiveKit; each claim is FAILED,
    never retried, with a reason naming the settings, on every path (webhook, sweep, tracks, retries)."""
    world = build_world(can_record=False)
    try:
        now = world.clock()
        for rule in (Rule(id="rul_mp4", name="classes", match=RoomMatch(name_glob="class-*"),
                          composite=CompositeAction()),
                     Rule(id="rul_tracks", name="tracks", match=RoomMatch(name_glob="class-*"),
                          tracks=TracksAction())):
            world.rules.create(replace(rule, created_at=now, updated_at=now))  # stored while there was storage
        hint = ("ORCHESTRATOR_S3_BUCKET", "ORCHESTRATOR_RECORDINGS_DIR")

        def refused(claim: RecordingClaim) -> bool:
            return (claim.state == ClaimState.FAILED and claim.retry_at is None and claim.egress_pk is None
                    and all(h in claim.error for h in hint))

        room = world.livekit.add_room("class-1")  # room_started on the webhook fast path
        await world.deliver()
        [composite] = claims_of(world, "class-1")
        assert refused(composite)
        await world.submit(WebhookNotice(
            id="EV_mic", event="track_published", created_at=now, room_name="class-1", room_sid=room.sid,
            participant_identity="teacher", track_sid="TR_mic", payload={
                "room": {"name": "class-1", "sid": room.sid}, "participant": {"identity": "teacher"},
                "track": {"sid": "TR_mic", "type": "AUDIO", "mime_type": "audio/opus"}}))
        assert len(claims_of(world, "class-1")) == 2 and all(refused(c) for c in claims_of(world, "class-1"))
        world.livekit.add_room("class-2")
        world.livekit.take_notices()  # its room_started is lost: the sweep finds the room
        assert (await world.recorder.sweep()).recovered == 1
        assert all(refused(c) for c in claims_of(world, "class-2"))
        # a claim left to retry from before (its start had failed): the retry refuses it for good
        late = world.livekit.add_room("class-3")
        world.livekit.take_notices()
        rule = world.rules.get("rul_mp4")
        assert rule is not None
        claim = world.recorder.claims.composite(rule, RoomFacts("class-3", late.sid), part=1)
        world.sessions.open_sessions([(RoomSession(late.sid, "class-3", now, SessionSource.ROOM_STARTED),
                                       [claim], None)])
        world.sessions.fail_claim(claim.key, "LiveKit was unavailable", now + timedelta(seconds=5), now)
        world.clock.advance(5)
        assert (await world.recorder.sweep()).retried == 1
        assert refused(claims_of(world, "class-3")[0]) and claims_of(world, "class-3")[0].attempts == 1
        world.clock.advance(3600)
        assert (await world.recorder.sweep()).retried == 0  # never retried
        assert not [c for c in world.livekit.calls if c.startswith("Start")] and world.ledger.find() == []
        [view] = world.recorder.sessions(room_name="class-1")  # what GET /v1/sessions shows
        assert all(h in c.error for c in view.claims for h in hint)
        assert room.sid == view.session.room_sid
    finally:
        await world.aclose()


async def test_a_rules_egress_names_its_rule_so_its_recordings_can_be_found_by_it(world: World) -> None:
    rule = add_rule(world, "studios", glob="studio-*")
    world.livekit.add_room("studio-9")
    await world.deliver()
    [record] = world.ledger.find(room_name="studio-9")
    assert record.request["rule_id"] == rule.id
    assert "broadcast_id" not in record.request  # empty provenance is not stored
