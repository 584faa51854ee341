"""`/v1/rooms`: CreateRoom with LiveKit's auto egress filled from a recording rule (idempotent)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from orchestrator.api.auth import ProducerDep, require
from orchestrator.api.deps import AutoRecorderDep
from orchestrator.api.schemas.common import ErrorOut
from orchestrator.api.schemas.rooms import RoomCreate, RoomOut
from orchestrator.domain.identity import Role

router = APIRouter(prefix="/v1/rooms", tags=["rooms"], dependencies=[Depends(require(Role.VIEWER))],
                   responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 422: {"model": ErrorOut}})


@router.post("", response_model=RoomOut,
             responses={404: {"model": ErrorOut}, 502: {"model": ErrorOut}, 503: {"model": ErrorOut}})
async def create_room(body: RoomCreate, recorder: AutoRecorderDep, who: ProducerDep) -> RoomOut:
    """Create the room now (like CreateRoom: an existing room is returned as is, with no second egress)."""
    room, rule = await recorder.create_room(body.name, metadata=body.metadata, rule_ref=body.rule,
                                            empty_timeout=body.empty_timeout,
                                            departure_timeout=body.departure_timeout)
    return RoomOut(name=room.name, sid=room.sid, metadata=room.metadata, rule_id=rule.id if rule else None,
                   rule_name=rule.name if rule else None, auto_egress=rule is not None)
