"""The built-in rule (ORCHESTRATOR_AUTO_RECORD=all) on the fakes: one composite per room, visible, not editable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from orchestrator.domain.errors import Conflict, InvalidInput
from orchestrator.domain.rules import BUILTIN_RULE_NAME, CompositeAction, RoomMatch, Rule, TracksAction

from .world import World, build_world


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = build_world(record_all=True)
    yield w
    await w.aclose()


def composites_by_rule(world: World, room: str) -> list[str]:
    sids = [s.room_sid for s in world.sessions.sessions(room_name=room)]
    return sorted(c.rule_id for c in world.sessions.claims_of(sids) if c.action == "composite")


async def test_a_room_an_explicit_rule_records_gets_one_composite_the_others_get_the_builtin(world: World) -> None:
    classes = world.recorder.create_rule(Rule(id="", name="classes", match=RoomMatch(name_glob="class-*"),
                                              composite=CompositeAction(layout="speaker")))
    world.recorder.create_rule(Rule(id="", name="tracks", match=RoomMatch(all_rooms=True), tracks=TracksAction()))
    world.livekit.add_room("class-1")
    world.livekit.add_room("lobby")
    await world.deliver()
    assert composites_by_rule(world, "class-1") == [classes.id]
    assert composites_by_rule(world, "lobby") == [BUILTIN_RULE_NAME]  # a tracks-only rule records no composite
    assert world.livekit.calls.count("StartRoomCompositeEgress") == 2


async def test_the_builtin_rule_is_listed_and_cannot_be_changed_or_deleted(world: World) -> None:
    world.recorder.create_rule(Rule(id="", name="classes", match=RoomMatch(name_glob="class-*"),
                                    composite=CompositeAction()))
    listed = world.recorder.list_rules()
    assert [(r.name, r.builtin) for r in listed] == [("classes", False), (BUILTIN_RULE_NAME, True)]
    builtin = world.recorder.rule(BUILTIN_RULE_NAME)
    with pytest.raises(Conflict):
        world.recorder.update_rule(replace(builtin, builtin=False, enabled=False))
    with pytest.raises(Conflict):
        world.recorder.delete_rule(BUILTIN_RULE_NAME)
    with pytest.raises(InvalidInput) as taken:
        world.recorder.create_rule(Rule(id="", name=BUILTIN_RULE_NAME, match=RoomMatch(all_rooms=True),
                                        composite=CompositeAction()))
    assert taken.value.field == "name"


async def test_a_rule_must_say_which_rooms(world: World) -> None:
    with pytest.raises(InvalidInput) as empty:
        world.recorder.create_rule(Rule(id="", name="vague", composite=CompositeAction()))
    assert empty.value.field == "match"
    every = world.recorder.create_rule(Rule(id="", name="every", match=RoomMatch(all_rooms=True),
                                            composite=CompositeAction()))
    world.livekit.add_room("anything")
    await world.deliver()
    assert composites_by_rule(world, "anything") == [every.id]
