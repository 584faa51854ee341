"""`/v1/rooms`: CreateRoom with LiveKit's auto egress filled from a recording rule (idempotent)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.api.deps import ContainerDep, require_token
from orchestrator.api.routes.rules import recorder
from orchestrator.api.schemas import ErrorOut

router = APIRouter(prefix="/v1/rooms", tags=["rooms"], dependencies=[Depends(require_token)],
                   responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}})


class RoomCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    metadata: str = Field("", max_length=65_536)
    rule: str | None = Field(None, description="Rule id or name; default: the best matching rule with a composite")
    empty_timeout: int = Field(0, ge=0, le=86_400)
    departure_timeout: int = Field(0, ge=0, le=86_400)


class RoomOut(BaseModel):
    name: str
    sid: str
    metadata: str
    rule_id: str | None
    rule_name: str | None
    auto_egress: bool


@router.post("", response_model=RoomOut,
             responses={404: {"model": ErrorOut}, 502: {"model": ErrorOut}, 503: {"model": ErrorOut}})
async def create_room(body: RoomCreate, c: ContainerDep) -> RoomOut:
    """Create the room now (like CreateRoom: an existing room is returned as is, with no second egress)."""
    room, rule = await recorder(c).create_room(body.name, metadata=body.metadata, rule_ref=body.rule,
                                               empty_timeout=body.empty_timeout,
                                               departure_timeout=body.departure_timeout)
    return RoomOut(name=room.name, sid=room.sid, metadata=room.metadata, rule_id=rule.id if rule else None,
                   rule_name=rule.name if rule else None, auto_egress=rule is not None)
