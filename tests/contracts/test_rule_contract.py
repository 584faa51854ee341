"""The RuleStore contract: rules stored whole, found by id or name, listed by priority, names unique."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.domain.errors import Conflict
from orchestrator.domain.requests import Preset
from orchestrator.domain.rules import (
    CompositeAction,
    ParticipantFilter,
    ParticipantKind,
    ParticipantsAction,
    RoomMatch,
    TracksAction,
)
from tests.contracts.conftest import Backend
from tests.contracts.rows import T0, at, rule


def test_a_rule_comes_back_as_it_was_stored(backend: Backend) -> None:
    full = replace(
        rule("rul_full", "everything", priority=7),
        match=RoomMatch(name_regex="^class-", metadata={"recording": True, "tags": {"course": "math"}}),
        composite=CompositeAction(layout="grid", preset=Preset.P1080_30, audio_only=False, filepath=None,
                                  hls_prefix="{room_name}/hls"),
        tracks=TracksAction(filepath="{room_name}/{identity}-{track_id}.{ext}"),
        participants=ParticipantsAction(preset=Preset.P720_30),
        participant_filter=ParticipantFilter(include=("host-*",), exclude=("bot-*",),
                                             kinds=frozenset({ParticipantKind.STANDARD, ParticipantKind.AGENT})))
    assert backend.rules.create(full) == full
    assert backend.rules.get("rul_full") == full
    assert backend.rules.get("everything") == full
    assert backend.rules.get("nothing") is None


def test_rules_are_listed_by_priority_then_name(backend: Backend) -> None:
    for rule_id, name, priority, enabled in [("rul_1", "b", 0, True), ("rul_2", "a", 0, False),
                                             ("rul_3", "c", 5, True), ("rul_4", "d", -3, True)]:
        backend.rules.create(rule(rule_id, name, priority=priority, enabled=enabled))
    assert [r.name for r in backend.rules.list()] == ["c", "a", "b", "d"]
    assert [r.name for r in backend.rules.list(enabled_only=True)] == ["c", "b", "d"]


def test_names_are_unique(backend: Backend) -> None:
    backend.rules.create(rule("rul_1", "lectures"))
    backend.rules.create(rule("rul_2", "meetings"))
    with pytest.raises(Conflict, match="lectures"):
        backend.rules.create(rule("rul_3", "lectures"))
    with pytest.raises(Conflict, match="meetings"):
        backend.rules.update(replace(rule("rul_1", "meetings"), updated_at=at(1)))
    assert [r.id for r in backend.rules.list()] == ["rul_1", "rul_2"]
    assert backend.rules.get("lectures") == rule("rul_1", "lectures")


def test_update_and_delete(backend: Backend) -> None:
    backend.rules.create(rule("rul_1", "lectures"))
    changed = replace(rule("rul_1", "classes", priority=3, glob="class-*"), created_at=at(50), updated_at=at(60))
    assert backend.rules.update(changed) == changed
    stored = backend.rules.get("classes")
    assert stored is not None and stored.priority == 3 and stored.match.name_glob == "class-*"
    assert stored.created_at == T0 and stored.updated_at == at(60)  # created_at never changes
    assert backend.rules.get("lectures") is None
    assert backend.rules.delete("rul_1") and not backend.rules.delete("rul_1")
    with pytest.raises(Conflict, match="deleted"):
        backend.rules.update(changed)
    assert backend.rules.list() == []
