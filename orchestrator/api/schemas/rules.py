"""Bodies of the rules API (`/v1/rules`) and their translation to and from the domain's rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.domain.requests import Preset
from orchestrator.domain.rules import (
    DEFAULT_COMPOSITE_PATH,
    DEFAULT_HLS_PREFIX,
    DEFAULT_KINDS,
    DEFAULT_PARTICIPANT_PATH,
    DEFAULT_TRACK_PATH,
    CompositeAction,
    ParticipantFilter,
    ParticipantKind,
    ParticipantsAction,
    RoomMatch,
    Rule,
    TracksAction,
)

from .common import Strict


class MatchIn(Strict):
    room_name_glob: str = Field("", max_length=256, description="e.g. class-*")
    room_name_regex: str = Field("", max_length=512, description="Python regular expression, searched")
    metadata: Any = Field(None, description="A JSON object the room's metadata must contain")
    all_rooms: bool = Field(False, description="Every room (then give no other field); a match must give one")


class CompositeS3(Strict):
    type: Literal["s3"]
    filepath: str = Field(DEFAULT_COMPOSITE_PATH, max_length=1024)


class CompositeHls(Strict):
    type: Literal["hls"]
    filename_prefix: str = Field(DEFAULT_HLS_PREFIX, max_length=1024)


CompositeOutput = Annotated[CompositeS3 | CompositeHls, Field(discriminator="type")]


def _default_outputs() -> list[CompositeS3 | CompositeHls]:
    return [CompositeS3(type="s3")]


class CompositeIn(Strict):
    layout: str = Field("grid", max_length=64)
    preset: Preset | None = None
    audio_only: bool = False
    outputs: list[CompositeOutput] = Field(default_factory=lambda: _default_outputs(), max_length=2)


class TracksIn(Strict):
    filepath: str = Field(DEFAULT_TRACK_PATH, max_length=1024)


class ParticipantsIn(Strict):
    filepath: str = Field(DEFAULT_PARTICIPANT_PATH, max_length=1024)
    preset: Preset | None = None


class ActionsIn(Strict):
    composite: CompositeIn | None = None
    tracks: TracksIn | None = None
    participants: ParticipantsIn | None = None


class FilterIn(Strict):
    include: list[str] = Field(default_factory=list, max_length=50, description="identity globs")
    exclude: list[str] = Field(default_factory=list, max_length=50, description="identity globs")
    kinds: list[ParticipantKind] = Field(default_factory=lambda: sorted(DEFAULT_KINDS))


class RuleIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    priority: int = Field(0, ge=-1000, le=1000)
    match: MatchIn = Field(default_factory=MatchIn)
    actions: ActionsIn = Field(default_factory=ActionsIn)
    participants_filter: FilterIn = Field(default_factory=FilterIn)

    def to_rule(self, rule_id: str = "", created_at: datetime | None = None) -> Rule:
        composite = None
        if self.actions.composite is not None:
            c = self.actions.composite
            files = [o.filepath for o in c.outputs if isinstance(o, CompositeS3)]
            hls = [o.filename_prefix for o in c.outputs if isinstance(o, CompositeHls)]
            composite = CompositeAction(layout=c.layout, preset=c.preset, audio_only=c.audio_only,
                                        filepath=files[0] if files else None, hls_prefix=hls[0] if hls else None)
        t, p, f = self.actions.tracks, self.actions.participants, self.participants_filter
        return Rule(
            id=rule_id, name=self.name.strip(), enabled=self.enabled, priority=self.priority,
            match=RoomMatch(name_glob=self.match.room_name_glob, name_regex=self.match.room_name_regex,
                            metadata=self.match.metadata, all_rooms=self.match.all_rooms),
            composite=composite, tracks=TracksAction(t.filepath) if t else None,
            participants=ParticipantsAction(p.filepath, p.preset) if p else None,
            participant_filter=ParticipantFilter(tuple(f.include), tuple(f.exclude), frozenset(f.kinds)),
            created_at=created_at)

    @classmethod
    def of(cls, rule: Rule) -> RuleIn:
        composite = None
        if rule.composite is not None:
            c = rule.composite
            outputs: list[CompositeS3 | CompositeHls] = []
            if c.filepath is not None:
                outputs.append(CompositeS3(type="s3", filepath=c.filepath))
            if c.hls_prefix is not None:
                outputs.append(CompositeHls(type="hls", filename_prefix=c.hls_prefix))
            composite = CompositeIn(layout=c.layout, preset=c.preset, audio_only=c.audio_only, outputs=outputs)
        f = rule.participant_filter
        return cls(
            name=rule.name, enabled=rule.enabled, priority=rule.priority,
            match=MatchIn(room_name_glob=rule.match.name_glob, room_name_regex=rule.match.name_regex,
                          metadata=rule.match.metadata, all_rooms=rule.match.all_rooms),
            actions=ActionsIn(composite=composite,
                              tracks=TracksIn(filepath=rule.tracks.filepath) if rule.tracks else None,
                              participants=ParticipantsIn(filepath=rule.participants.filepath,
                                                          preset=rule.participants.preset)
                              if rule.participants else None),
            participants_filter=FilterIn(include=list(f.include), exclude=list(f.exclude),
                                         kinds=sorted(f.kinds)))


class RulePatch(Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    priority: int | None = Field(None, ge=-1000, le=1000)
    match: MatchIn | None = None
    actions: ActionsIn | None = None
    participants_filter: FilterIn | None = None


class RuleOut(RuleIn):
    model_config = ConfigDict(extra="ignore")

    id: str
    builtin: bool = Field(False, description="ORCHESTRATOR_AUTO_RECORD=all's rule: shown, not editable; it "
                                             "records only rooms that no rule with a composite records")
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of_rule(cls, rule: Rule) -> RuleOut:
        return cls(id=rule.id, builtin=rule.builtin, created_at=rule.created_at, updated_at=rule.updated_at,
                   **RuleIn.of(rule).model_dump())


class RuleList(BaseModel):
    items: list[RuleOut]
