"""Rule matching, participant selection, path templates, rollover and gaps: pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.parts import PartSpan, gaps_between, rollover_due
from orchestrator.domain.rules import (
    ActionKind,
    CompositeAction,
    ParticipantFilter,
    ParticipantKind,
    RoomFacts,
    RoomMatch,
    Rule,
    TracksAction,
    all_rooms_rule,
    is_subset,
    kind_of,
    match_room,
    matching_rules,
    participant_selected,
    render_path,
    stored_match,
    track_extension,
    validate_rule,
)
from orchestrator.domain.sessions import ClaimState, claim_key, retry_delay

T0 = datetime(2026, 11, 28, 9, 30, 5, tzinfo=UTC)


def rule(name: str = "r", **kw: object) -> Rule:
    kw.setdefault("composite", CompositeAction())
    kw.setdefault("match", RoomMatch(all_rooms=True))
    return Rule(id=f"id-{name}", name=name, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("match", "room", "expected"), [
    (RoomMatch(), "anything", False),  # a match that says nothing records nothing
    (RoomMatch(all_rooms=True), "anything", True),
    (RoomMatch(name_glob="class-*"), "class-1", True),
    (RoomMatch(name_glob="class-*"), "Class-1", False),  # case-sensitive, like room names
    (RoomMatch(name_glob="class-?"), "class-12", False),
    (RoomMatch(name_regex=r"^team-\d+$"), "team-42", True),
    (RoomMatch(name_regex=r"^team-\d+$"), "team-42x", False),
    (RoomMatch(name_regex="sales"), "eu-sales-weekly", True),  # searched, anchors when you want them
])
def test_room_name_glob_and_regex(match: RoomMatch, room: str, expected: bool) -> None:
    assert (match_room(rule(match=match), RoomFacts(room, "RM_1")) is not None) is expected


@pytest.mark.parametrize(("wanted", "metadata", "expected"), [
    ({"recording": True}, '{"recording": true, "x": 1}', True),
    ({"recording": True}, '{"recording": 1}', False),  # JSON types are compared, true is not 1
    ({"recording": 1}, '{"recording": true}', False),
    ({"n": 1}, '{"n": 1.0}', True),
    ({"a": {"b": "c"}}, '{"a": {"b": "c", "d": 2}}', True),
    ({"a": {"b": "c"}}, '{"a": {"b": "x"}}', False),
    ({"tags": ["x"]}, '{"tags": ["x", "y"]}', False),  # lists must be equal
    ({"recording": True}, "not json", False),
    ({"recording": True}, '["recording"]', False),
    ({"recording": True}, "", False),
])
def test_metadata_subset(wanted: dict[str, object], metadata: str, expected: bool) -> None:
    found = match_room(rule(match=RoomMatch(metadata=wanted)), RoomFacts("r", "RM_1", metadata))
    assert (found is not None) is expected


def test_is_subset_none_and_strings() -> None:
    assert is_subset({"a": None}, {"a": None}) and not is_subset({"a": None}, {"a": 0})
    assert not is_subset({"a": "1"}, {"a": 1})


def test_disabled_rules_never_match_and_order_is_priority_then_name() -> None:
    rules = [rule("b", priority=1), rule("a", priority=1), rule("z", priority=9), rule("off", enabled=False)]
    found = matching_rules(rules, RoomFacts("room", "RM_1"))
    assert [r.name for r, _ in found] == ["z", "a", "b"]
    assert found[0][1].reason == "matches every room"


def test_match_reason_names_what_matched() -> None:
    found = match_room(rule(match=RoomMatch(name_glob="c-*", metadata={"rec": True})),
                       RoomFacts("c-1", "RM_1", '{"rec": true}'))
    assert found is not None and "c-*" in found.reason and '"rec": true' in found.reason


def test_participant_filter_skips_agents_and_egress_by_default() -> None:
    f = ParticipantFilter()
    assert participant_selected(f, "alice", ParticipantKind.STANDARD)
    assert participant_selected(f, "phone", ParticipantKind.SIP)
    assert not participant_selected(f, "bot", ParticipantKind.AGENT)
    assert not participant_selected(f, "EG_1", ParticipantKind.EGRESS)
    named = ParticipantFilter(include=("host-*", "guest-*"), exclude=("guest-muted*",),
                              kinds=frozenset({ParticipantKind.STANDARD, ParticipantKind.AGENT}))
    assert participant_selected(named, "host-1", ParticipantKind.STANDARD)
    assert participant_selected(named, "host-ai", ParticipantKind.AGENT)
    assert not participant_selected(named, "guest-muted-2", ParticipantKind.STANDARD)
    assert not participant_selected(named, "viewer", ParticipantKind.STANDARD)


def test_kind_of_numbers_names_and_absent() -> None:
    assert kind_of(None) == ParticipantKind.STANDARD and kind_of("AGENT") == ParticipantKind.AGENT
    assert kind_of(2) == ParticipantKind.EGRESS and kind_of("WHATEVER") == ParticipantKind.STANDARD


@pytest.mark.parametrize(("change", "field"), [
    ({"match": RoomMatch(name_regex="(")}, "match.room_name_regex"),
    ({"match": RoomMatch(metadata=[1])}, "match.metadata"),  # type: ignore[arg-type]
    ({"match": RoomMatch(metadata="x")}, "match.metadata"),  # type: ignore[arg-type]
    ({"match": RoomMatch(name_glob="a*", name_regex="a")}, "match.room_name_regex"),
    ({"composite": None}, "actions"),
    ({"composite": CompositeAction(layout="mosaic")}, "actions.composite.layout"),
    ({"composite": CompositeAction(filepath=None)}, "actions.composite.outputs"),
    ({"composite": CompositeAction(filepath="{room_name}/{track_id}.mp4")}, "actions.composite.outputs.filepath"),
    ({"composite": CompositeAction(hls_prefix="{bogus}")}, "actions.composite.outputs.filename_prefix"),
    ({"tracks": TracksAction(filepath="{room_name}/{track_id:>5}")}, "actions.tracks.filepath"),
    ({"tracks": TracksAction(filepath="{room_name")}, "actions.tracks.filepath"),
    ({"name": "  "}, "name"),
    ({"name": "auto-record-all"}, "name"),  # the built-in rule's
    ({"match": RoomMatch()}, "match"),  # every room only when said
    ({"match": RoomMatch(all_rooms=True, name_glob="a*")}, "match.all_rooms"),
])
def test_validation_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_rule(rule(**change))
    assert caught.value.field == field


def test_valid_rules_pass() -> None:
    validate_rule(rule(composite=CompositeAction(layout="active-speaker", hls_prefix="{room_name}/{date}/hls")))
    validate_rule(rule(composite=None, tracks=TracksAction("{rule}/{identity}/{track_type}-{track_id}.{ext}")))


def test_render_path_fills_and_sanitises() -> None:
    r = rule("nightly class")
    room = RoomFacts("maths/101 ../x", "RM_abc")
    path = render_path("{rule}/{room_name}/{room_sid}/{date}/{time}-p{part}-{identity}-{track_id}.{ext}",
                       room=room, at=T0, rule=r, part=2, identity="bob smith", track_id="TR_1", ext="ogg")
    assert path == "nightly_class/maths_101_.._x/RM_abc/2026-11-28/20261128T093005Z-p002-bob_smith-TR_1.ogg"
    assert "/" not in render_path("{room_name}", room=RoomFacts("a/b", "s"), at=T0, rule=r)


def test_track_extension() -> None:
    assert track_extension("AUDIO", "audio/opus") == "ogg"
    assert track_extension("VIDEO", "video/H264") == "mp4"
    assert track_extension("VIDEO", "video/VP8") == "webm"


def test_rollover_and_gaps() -> None:
    cap, margin = timedelta(hours=3), timedelta(minutes=1)
    assert not rollover_due(T0, T0 + timedelta(hours=2, minutes=58), cap, margin)
    assert rollover_due(T0, T0 + timedelta(hours=2, minutes=59), cap, margin)
    parts = [PartSpan(2, T0 + timedelta(seconds=100), T0 + timedelta(seconds=200)),
             PartSpan(1, T0, T0 + timedelta(seconds=101)),  # overlaps part 2: no gap
             PartSpan(3, T0 + timedelta(seconds=202.5), None)]
    gaps = gaps_between(parts)
    assert [(g.after_part, g.seconds) for g in gaps] == [(2, 2.5)]
    assert gaps_between([PartSpan(1, T0, None), PartSpan(2, T0, None)]) == []


def test_claim_keys_and_retry_delay() -> None:
    assert claim_key("RM_1", "r", ActionKind.COMPOSITE, part=2) == "RM_1/r/composite/2"
    assert claim_key("RM_1", "r", ActionKind.TRACK, "TR_1") == "RM_1/r/track/TR_1"
    assert [retry_delay(n, timedelta(seconds=5)).total_seconds() for n in (1, 2, 3, 9)] == [5, 10, 20, 160]
    assert ClaimState("delegated") == ClaimState.DELEGATED


def test_the_builtin_rule_stands_back_for_a_room_an_explicit_composite_records() -> None:
    builtin = all_rooms_rule()
    classes = rule("classes", match=RoomMatch(name_glob="class-*"))
    tracks_only = rule("tracks", composite=None, tracks=TracksAction())
    assert builtin.builtin and builtin.match.all_rooms

    def names(room: str) -> list[str]:
        return [r.name for r, _ in matching_rules([classes, tracks_only, builtin], RoomFacts(room, "RM"))]

    assert names("class-1") == ["classes", "tracks"]
    assert names("lobby") == ["tracks", "auto-record-all"]  # a tracks-only rule records no composite
    off = rule("classes", enabled=False, match=RoomMatch(name_glob="class-*"))
    assert [r.name for r, _ in matching_rules([off, builtin], RoomFacts("class-1", "RM"))] == ["auto-record-all"]


def test_a_rule_stored_before_all_rooms_with_no_match_keeps_matching_every_room() -> None:
    assert stored_match("", "", None, None) == RoomMatch(all_rooms=True)
    assert stored_match("class-*", "", None, None) == RoomMatch(name_glob="class-*")
    assert stored_match("", "", {"rec": True}, False) == RoomMatch(metadata={"rec": True})
