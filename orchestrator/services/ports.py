"""The ports the services need; the adapters implement them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from orchestrator.domain.egress import Observation, RoomSnapshot
from orchestrator.domain.requests import EgressRequest
from orchestrator.domain.sessions import CreatedRoom, ParticipantSnapshot

Clock = Callable[[], datetime]


class EgressGateway(Protocol):
    """LiveKit's Egress and Room APIs as the services see them."""

    async def start(self, request: EgressRequest, on_sent: Callable[[], None] | None = None) -> Observation: ...
    async def stop(self, egress_id: str) -> Observation: ...
    async def update_layout(self, egress_id: str, layout: str) -> Observation: ...
    async def update_stream(self, egress_id: str, add: list[str], remove: list[str]) -> Observation: ...
    async def list_egresses(self, *, room_name: str = "", egress_id: str = "", active: bool = False
                   ) -> list[Observation]: ...
    async def list_rooms(self, names: list[str] | None = None) -> list[RoomSnapshot]: ...
    async def check_access(self) -> None: ...


class RoomGateway(Protocol):
    """LiveKit's RoomService calls automatic recording needs."""

    async def list_rooms(self, names: list[str] | None = None) -> list[RoomSnapshot]: ...
    async def list_participants(self, room_name: str) -> list[ParticipantSnapshot]: ...
    async def create_room(self, name: str, *, metadata: str = "", empty_timeout: int = 0,
                          departure_timeout: int = 0, composite: EgressRequest | None = None) -> CreatedRoom: ...
