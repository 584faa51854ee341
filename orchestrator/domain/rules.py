"""Recording rules: which rooms they match, which participants they take, and the paths they write (pure)."""

from __future__ import annotations

import fnmatch
import json
import re
import string
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .errors import InvalidInput
from .layouts import BUILTIN_LAYOUTS, LAYOUT_NAMES
from .requests import Preset


class ActionKind(StrEnum):
    COMPOSITE = "composite"
    TRACK = "track"
    PARTICIPANT = "participant"


class ParticipantKind(StrEnum):
    """LiveKit's ParticipantInfo.Kind by name."""

    STANDARD = "standard"
    INGRESS = "ingress"
    EGRESS = "egress"
    SIP = "sip"
    AGENT = "agent"
    CONNECTOR = "connector"
    BRIDGE = "bridge"


# Agents and egress bots are recorded only when a rule names them.
DEFAULT_KINDS: frozenset[ParticipantKind] = frozenset(
    {ParticipantKind.STANDARD, ParticipantKind.INGRESS, ParticipantKind.SIP})

# Placeholders a path template may use, per action.
ROOM_PLACEHOLDERS = frozenset({"room_name", "room_sid", "time", "date", "rule", "part"})
TRACK_PLACEHOLDERS = ROOM_PLACEHOLDERS | {"identity", "track_id", "track_type", "track_source", "ext"}
PARTICIPANT_PLACEHOLDERS = ROOM_PLACEHOLDERS | {"identity"}

DEFAULT_COMPOSITE_PATH = "{room_name}/{room_sid}/composite-{time}-part{part}.mp4"
DEFAULT_HLS_PREFIX = "{room_name}/{room_sid}/hls-part{part}/segment"
DEFAULT_TRACK_PATH = "{room_name}/{room_sid}/tracks/{identity}-{track_id}.{ext}"
DEFAULT_PARTICIPANT_PATH = "{room_name}/{room_sid}/participants/{identity}-{time}.mp4"

_FORMATTER = string.Formatter()
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+@-]")


@dataclass(frozen=True)
class RoomMatch:
    """All given fields must match; a match that gives none matches no room unless it says `all_rooms`."""

    name_glob: str = ""
    name_regex: str = ""
    metadata: dict[str, Any] | None = None  # a JSON subset of the room's metadata
    all_rooms: bool = False  # every room, said explicitly (never implied by leaving the fields out)

    @property
    def names_rooms(self) -> bool:  # says which rooms by name or metadata
        return bool(self.name_glob or self.name_regex or self.metadata)


@dataclass(frozen=True)
class ParticipantFilter:
    include: tuple[str, ...] = ()  # identity globs; empty = everybody
    exclude: tuple[str, ...] = ()
    kinds: frozenset[ParticipantKind] = DEFAULT_KINDS


@dataclass(frozen=True)
class CompositeAction:
    layout: str = "grid"
    preset: Preset | None = None
    audio_only: bool = False
    filepath: str | None = DEFAULT_COMPOSITE_PATH  # None: no MP4
    hls_prefix: str | None = None  # None: no HLS


@dataclass(frozen=True)
class TracksAction:
    filepath: str = DEFAULT_TRACK_PATH


@dataclass(frozen=True)
class ParticipantsAction:
    filepath: str = DEFAULT_PARTICIPANT_PATH
    preset: Preset | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    enabled: bool = True
    priority: int = 0
    match: RoomMatch = field(default_factory=RoomMatch)
    composite: CompositeAction | None = None
    tracks: TracksAction | None = None
    participants: ParticipantsAction | None = None
    participant_filter: ParticipantFilter = field(default_factory=ParticipantFilter)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The built-in rule (ORCHESTRATOR_AUTO_RECORD=all): never stored, and it stands back for a room that an
    # explicit rule with a composite already records (see matching_rules).
    builtin: bool = False


@dataclass(frozen=True)
class RoomFacts:
    """What a room says about itself when a trigger fires."""

    name: str
    sid: str
    metadata: str = ""


@dataclass(frozen=True)
class RuleMatch:
    rule_id: str
    rule_name: str
    reason: str


# ---- validation --------------------------------------------------------------------------------------


def validate_rule(rule: Rule) -> Rule:
    """Check a rule before it is stored; raise InvalidInput naming the field."""
    if not rule.name.strip():
        raise InvalidInput("name", "must not be empty")
    if rule.name.strip() == BUILTIN_RULE_NAME and not rule.builtin:
        raise InvalidInput("name", f"{BUILTIN_RULE_NAME} is the built-in rule's name; choose another")
    if not rule.match.all_rooms and not rule.match.names_rooms:
        raise InvalidInput("match", "say which rooms: room_name_glob, room_name_regex or metadata, "
                                    "or all_rooms: true for every room")
    if rule.match.all_rooms and rule.match.names_rooms:
        raise InvalidInput("match.all_rooms", "all_rooms matches every room; leave room_name_glob, "
                                              "room_name_regex and metadata out, or drop all_rooms")
    if rule.match.name_glob and rule.match.name_regex:
        raise InvalidInput("match.room_name_regex", "give room_name_glob or room_name_regex, not both")
    if rule.match.name_regex:
        try:
            re.compile(rule.match.name_regex)
        except re.error as exc:
            raise InvalidInput("match.room_name_regex", f"is not a valid regular expression: {exc}") from None
    if rule.match.metadata is not None and not isinstance(rule.match.metadata, dict):
        raise InvalidInput("match.metadata", "must be a JSON object, e.g. {\"recording\": true}")
    if rule.composite is None and rule.tracks is None and rule.participants is None:
        raise InvalidInput("actions", "a rule needs at least one action: composite, tracks or participants")
    if rule.composite is not None:
        c = rule.composite
        if c.layout and c.layout not in LAYOUT_NAMES and c.layout not in BUILTIN_LAYOUTS:
            names = ", ".join(sorted({*LAYOUT_NAMES, *BUILTIN_LAYOUTS}))
            raise InvalidInput("actions.composite.layout", f"unknown layout; use one of {names}")
        if c.filepath is None and c.hls_prefix is None:
            raise InvalidInput("actions.composite.outputs", "a composite needs an MP4 file or HLS output")
        if c.filepath is not None:
            check_template(c.filepath, ROOM_PLACEHOLDERS, "actions.composite.outputs.filepath")
        if c.hls_prefix is not None:
            check_template(c.hls_prefix, ROOM_PLACEHOLDERS, "actions.composite.outputs.filename_prefix")
    if rule.tracks is not None:
        check_template(rule.tracks.filepath, TRACK_PLACEHOLDERS, "actions.tracks.filepath")
    if rule.participants is not None:
        check_template(rule.participants.filepath, PARTICIPANT_PLACEHOLDERS, "actions.participants.filepath")
    for i, pattern in enumerate(rule.participant_filter.include):
        if not pattern:
            raise InvalidInput(f"participants_filter.include.{i}", "must not be empty")
    return rule


def check_template(template: str, allowed: frozenset[str], field_name: str) -> None:
    """A path template may only use the placeholders its action knows."""
    if not template.strip():
        raise InvalidInput(field_name, "must not be empty")
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise InvalidInput(field_name, f"is not a valid template: {exc}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            known = ", ".join("{" + p + "}" for p in sorted(allowed))
            raise InvalidInput(field_name, f"unknown placeholder {{{name}}}; use {known}")


# ---- matching ----------------------------------------------------------------------------------------


def room_metadata(raw: str) -> dict[str, Any] | None:
    """The room's metadata as a JSON object, or None when it is empty or not an object."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def is_subset(wanted: Any, actual: Any) -> bool:
    """JSON subset: objects recursively, everything else equal with the same JSON type."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(k in actual and is_subset(v, actual[k]) for k, v in wanted.items())
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return isinstance(wanted, bool) and isinstance(actual, bool) and wanted == actual
    if isinstance(wanted, int | float) and isinstance(actual, int | float):
        return wanted == actual
    return type(wanted) is type(actual) and bool(wanted == actual)


def match_room(rule: Rule, room: RoomFacts) -> RuleMatch | None:
    """Why this rule records this room, or None when it does not."""
    if not rule.enabled:
        return None
    m = rule.match
    if m.all_rooms:
        return RuleMatch(rule.id, rule.name, "built-in: every room" if rule.builtin else "matches every room")
    if not m.names_rooms:
        return None  # refused when stored (validate_rule); a match that says nothing records nothing
    reasons: list[str] = []
    if m.name_glob:
        if not fnmatch.fnmatchcase(room.name, m.name_glob):
            return None
        reasons.append(f"room name matches {m.name_glob!r}")
    if m.name_regex:
        if re.search(m.name_regex, room.name) is None:
            return None
        reasons.append(f"room name matches /{m.name_regex}/")
    if m.metadata:
        if not is_subset(m.metadata, room_metadata(room.metadata)):
            return None
        reasons.append(f"metadata contains {json.dumps(m.metadata, sort_keys=True)}")
    return RuleMatch(rule.id, rule.name, "; ".join(reasons))


def matching_rules(rules: list[Rule], room: RoomFacts) -> list[tuple[Rule, RuleMatch]]:
    """Every enabled rule that matches, highest priority first (then by name). The built-in rule applies only
    to a room that no explicit rule with a composite matches: one composite per room, not two."""
    found = [(r, m) for r in rules if (m := match_room(r, room)) is not None]
    if any(r.composite is not None and not r.builtin for r, _ in found):
        found = [(r, m) for r, m in found if not r.builtin]
    return sorted(found, key=lambda pair: (-pair[0].priority, pair[0].name, pair[0].id))


def participant_selected(flt: ParticipantFilter, identity: str, kind: ParticipantKind) -> bool:
    if kind not in flt.kinds:
        return False
    if flt.include and not any(fnmatch.fnmatchcase(identity, p) for p in flt.include):
        return False
    return not any(fnmatch.fnmatchcase(identity, p) for p in flt.exclude)


def kind_of(value: int | str | None) -> ParticipantKind:
    """LiveKit's kind as a number or protojson name (absent = STANDARD) in our terms."""
    numbers = {0: "standard", 1: "ingress", 2: "egress", 3: "sip", 4: "agent", 7: "connector", 8: "bridge"}
    if value is None or value == "":
        return ParticipantKind.STANDARD
    name = numbers.get(value, "standard") if isinstance(value, int) else str(value).lower()
    try:
        return ParticipantKind(name)
    except ValueError:
        return ParticipantKind.STANDARD


# ---- paths -------------------------------------------------------------------------------------------


def safe_segment(value: str) -> str:
    """A value made safe to sit inside one S3 key segment."""
    cleaned = _UNSAFE.sub("_", value).strip(".") or "_"
    return cleaned[:200]


def render_path(template: str, *, room: RoomFacts, at: datetime, rule: Rule, part: int = 1,
                identity: str = "", track_id: str = "", track_type: str = "", track_source: str = "",
                ext: str = "") -> str:
    """The object key for one recording; values are sanitised, the clock is passed in."""
    values = {
        "room_name": safe_segment(room.name), "room_sid": safe_segment(room.sid),
        "time": at.strftime("%Y%m%dT%H%M%SZ"), "date": at.strftime("%Y-%m-%d"),
        "rule": safe_segment(rule.name), "part": f"{part:03d}", "identity": safe_segment(identity),
        "track_id": safe_segment(track_id), "track_type": track_type.lower(),
        "track_source": track_source.lower(), "ext": ext,
    }
    return template.format_map(values)


def track_extension(track_type: str, mime_type: str) -> str:
    """Track egress writes audio as OGG, H.264 video as MP4 and VP8/VP9/AV1 video as WebM."""
    if track_type.upper() == "AUDIO" or mime_type.lower().startswith("audio/"):
        return "ogg"
    return "mp4" if "h264" in mime_type.lower() else "webm"


BUILTIN_RULE_NAME = "auto-record-all"


def all_rooms_rule() -> Rule:
    """ORCHESTRATOR_AUTO_RECORD=all: every room that no explicit rule records as a composite, as a composite."""
    return Rule(id=BUILTIN_RULE_NAME, name=BUILTIN_RULE_NAME, priority=-1000, match=RoomMatch(all_rooms=True),
                composite=CompositeAction(), builtin=True)


def stored_match(name_glob: str, name_regex: str, metadata: dict[str, Any] | None,
                 all_rooms: bool | None) -> RoomMatch:
    """A match read back from storage. A rule stored before `all_rooms` existed (None here) with no field
    matched every room then; it keeps doing so, and says so, rather than silently stop recording."""
    everything = not (name_glob or name_regex or metadata) if all_rooms is None else all_rooms
    return RoomMatch(name_glob=name_glob, name_regex=name_regex, metadata=metadata, all_rooms=everything)
