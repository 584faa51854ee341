"""`/v1/rules`: recording rules (create, list, show, update, delete)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import ContainerDep, require_token
from orchestrator.api.schemas import ErrorOut
from orchestrator.bootstrap import Container
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
from orchestrator.services.autorecord import AutoRecorder

router = APIRouter(prefix="/v1/rules", tags=["rules"], dependencies=[Depends(require_token)],
                   responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatchIn(_Strict):
    room_name_glob: str = Field("", max_length=256, description="e.g. class-*")
    room_name_regex: str = Field("", max_length=512, description="Python regular expression, searched")
    metadata: Any = Field(None, description="A JSON object the room's metadata must contain")


class CompositeS3(_Strict):
    type: Literal["s3"]
    filepath: str = Field(DEFAULT_COMPOSITE_PATH, max_length=1024)


class CompositeHls(_Strict):
    type: Literal["hls"]
    filename_prefix: str = Field(DEFAULT_HLS_PREFIX, max_length=1024)


CompositeOutput = Annotated[CompositeS3 | CompositeHls, Field(discriminator="type")]


def _default_outputs() -> list[CompositeS3 | CompositeHls]:
    return [CompositeS3(type="s3")]


class CompositeIn(_Strict):
    layout: str = Field("grid", max_length=64)
    preset: Preset | None = None
    audio_only: bool = False
    outputs: list[CompositeOutput] = Field(default_factory=lambda: _default_outputs(), max_length=2)


class TracksIn(_Strict):
    filepath: str = Field(DEFAULT_TRACK_PATH, max_length=1024)


class ParticipantsIn(_Strict):
    filepath: str = Field(DEFAULT_PARTICIPANT_PATH, max_length=1024)
    preset: Preset | None = None


class ActionsIn(_Strict):
    composite: CompositeIn | None = None
    tracks: TracksIn | None = None
    participants: ParticipantsIn | None = None


class FilterIn(_Strict):
    include: list[str] = Field(default_factory=list, max_length=50, description="identity globs")
    exclude: list[str] = Field(default_factory=list, max_length=50, description="identity globs")
    kinds: list[ParticipantKind] = Field(default_factory=lambda: sorted(DEFAULT_KINDS))


class RuleIn(_Strict):
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
                            metadata=self.match.metadata),
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
                          metadata=rule.match.metadata),
            actions=ActionsIn(composite=composite,
                              tracks=TracksIn(filepath=rule.tracks.filepath) if rule.tracks else None,
                              participants=ParticipantsIn(filepath=rule.participants.filepath,
                                                          preset=rule.participants.preset)
                              if rule.participants else None),
            participants_filter=FilterIn(include=list(f.include), exclude=list(f.exclude),
                                         kinds=sorted(f.kinds)))


class RulePatch(_Strict):
    name: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    priority: int | None = Field(None, ge=-1000, le=1000)
    match: MatchIn | None = None
    actions: ActionsIn | None = None
    participants_filter: FilterIn | None = None


class RuleOut(RuleIn):
    model_config = ConfigDict(extra="ignore")

    id: str
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of_rule(cls, rule: Rule) -> RuleOut:
        return cls(id=rule.id, created_at=rule.created_at, updated_at=rule.updated_at,
                   **RuleIn.of(rule).model_dump())


class RuleList(BaseModel):
    items: list[RuleOut]


def recorder(c: Container) -> AutoRecorder:
    assert c.autorecord is not None
    return c.autorecord


@router.post("", status_code=201, response_model=RuleOut, responses={409: {"model": ErrorOut}})
async def create_rule(body: RuleIn, c: ContainerDep) -> RuleOut:
    """A rule that records matching rooms as they start (composite, each track, each participant)."""
    rule = await run_in_threadpool(recorder(c).create_rule, body.to_rule())
    return RuleOut.of_rule(rule)


@router.get("", response_model=RuleList)
async def list_rules(c: ContainerDep) -> RuleList:
    """Every rule, highest priority first."""
    rules = await run_in_threadpool(recorder(c).list_rules)
    return RuleList(items=[RuleOut.of_rule(r) for r in rules])


@router.get("/{ref}", response_model=RuleOut, responses={404: {"model": ErrorOut}})
async def show_rule(ref: str, c: ContainerDep) -> RuleOut:
    """One rule by id or name."""
    return RuleOut.of_rule(await run_in_threadpool(recorder(c).rule, ref))


@router.patch("/{ref}", response_model=RuleOut, responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
async def update_rule(ref: str, body: RulePatch, c: ContainerDep) -> RuleOut:
    """Change some fields; `match`, `actions` and `participants_filter` are replaced as a whole."""
    service = recorder(c)
    current = await run_in_threadpool(service.rule, ref)
    merged = RuleIn.of(current).model_dump() | body.model_dump(exclude_unset=True)
    updated = RuleIn.model_validate(merged).to_rule(current.id, current.created_at)
    return RuleOut.of_rule(await run_in_threadpool(service.update_rule, updated))


@router.delete("/{ref}", status_code=204, response_class=Response, responses={404: {"model": ErrorOut}})
async def delete_rule(ref: str, c: ContainerDep) -> Response:
    """Delete a rule; recordings it already started go on until their room ends."""
    await run_in_threadpool(recorder(c).delete_rule, ref)
    return Response(status_code=204)
