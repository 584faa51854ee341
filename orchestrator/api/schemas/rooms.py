"""Bodies of the rooms API (`/v1/rooms`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .common import Strict


class RoomCreate(Strict):
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
