"""Trying rules on a room name and metadata (AutoRecorder.try_rules): the intake's matching, nothing started."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orchestrator.domain.rules import BUILTIN_RULE_NAME, CompositeAction, RoomMatch, Rule, TracksAction

from .world import World, build_world


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = build_world(record_all=True)
    yield w
    await w.aclose()


async def test_trying_a_room_names_the_rules_that_match_why_and_what_they_would_write(world: World) -> None:
    world.recorder.create_rule(Rule(id="", name="classes", priority=5, match=RoomMatch(name_glob="class-*"),
                                    composite=CompositeAction(layout="speaker", filepath="{room_name}/{rule}.mp4")))
    world.recorder.create_rule(Rule(id="", name="flagged", match=RoomMatch(metadata={"record": True}),
                                    tracks=TracksAction()))
    world.recorder.create_rule(Rule(id="", name="off", enabled=False, match=RoomMatch(all_rooms=True),
                                    tracks=TracksAction()))

    trials = world.recorder.try_rules("class-1", '{"record": true, "teacher": "ann"}')
    assert [(t.rule.name, t.match.reason) for t in trials] == [
        ("classes", "room name matches 'class-*'"), ("flagged", 'metadata contains {"record": true}')]
    assert trials[0].records == ("composite, speaker layout: MP4 class-1/classes.mp4",)
    assert trials[1].records[0].startswith("each published track: ")
    # A room no explicit composite records falls to the built-in rule, as the intake decides.
    assert [t.rule.name for t in world.recorder.try_rules("lobby")] == [BUILTIN_RULE_NAME]
    assert [t.rule.name for t in world.recorder.try_rules("lobby", '{"record": true}')] == [
        "flagged", BUILTIN_RULE_NAME]
    assert world.livekit.calls == [] and world.sessions.sessions() == []
