"""Twirp ``livekit.RoomService`` handlers over the room registry."""

from __future__ import annotations

from collections.abc import Callable

from livekit import api

from .auto_egress import AutoEgress
from .config import SandboxFaults
from .egress_service import EGRESS_NOT_CONNECTED, EgressService
from .rooms import RoomRegistry, participant_not_found
from .twirp import Grants, Method, TwirpError


class RoomService:
    """CreateRoom/ListRooms/DeleteRoom and the participant admin calls, with LiveKit's grant checks."""

    def __init__(
        self,
        rooms: RoomRegistry,
        egress: EgressService,
        auto_egress: AutoEgress,
        faults: Callable[[], SandboxFaults],
    ) -> None:
        self._rooms = rooms
        self._egress = egress
        self._auto_egress = auto_egress
        self._faults = faults

    def methods(self) -> dict[str, Method]:
        return {
            "CreateRoom": Method(api.CreateRoomRequest, self._create_room),
            "ListRooms": Method(api.ListRoomsRequest, self._list_rooms),
            "DeleteRoom": Method(api.DeleteRoomRequest, self._delete_room),
            "ListParticipants": Method(api.ListParticipantsRequest, self._list_participants),
            "GetParticipant": Method(api.RoomParticipantIdentity, self._get_participant),
            "RemoveParticipant": Method(api.RoomParticipantIdentity, self._remove_participant),
            "UpdateParticipant": Method(api.UpdateParticipantRequest, self._update_participant),
            "UpdateRoomMetadata": Method(api.UpdateRoomMetadataRequest, self._update_room_metadata),
        }

    async def create_room(self, request: api.CreateRoomRequest) -> api.Room:
        """CreateRoom after the grant check; a new room with ``egress.room`` starts a room composite."""
        wants_egress = request.HasField("egress") and (
            request.egress.HasField("room")
            or request.egress.HasField("participant")
            or request.egress.HasField("tracks")
        )
        if wants_egress and self._faults().egress_disabled:
            raise TwirpError("internal", EGRESS_NOT_CONNECTED)
        state, created = self._rooms.create(
            request.name,
            request.metadata,
            empty_timeout=request.empty_timeout,
            departure_timeout=request.departure_timeout,
            max_participants=request.max_participants,
        )
        if created and wants_egress:
            self._auto_egress.configure(request.name, request.egress)
        if created and request.egress.HasField("room"):
            composite = api.RoomCompositeEgressRequest()
            composite.CopyFrom(request.egress.room)
            composite.room_name = request.name
            await self._egress.start("room_composite", composite)
        return state.snapshot()

    async def _create_room(self, request: api.CreateRoomRequest, grants: Grants) -> api.Room:
        grants.require("roomCreate")
        return await self.create_room(request)

    async def _list_rooms(self, request: api.ListRoomsRequest, grants: Grants) -> api.ListRoomsResponse:
        grants.require("roomList")
        names = set(request.names)
        rooms = [s.snapshot() for n, s in self._rooms.rooms.items() if not names or n in names]
        return api.ListRoomsResponse(rooms=rooms)

    async def _delete_room(self, request: api.DeleteRoomRequest, grants: Grants) -> api.DeleteRoomResponse:
        grants.require("roomCreate")
        self._rooms.close(request.room)
        return api.DeleteRoomResponse()

    async def _list_participants(
        self, request: api.ListParticipantsRequest, grants: Grants
    ) -> api.ListParticipantsResponse:
        grants.require_room_admin(request.room)
        state = self._rooms.get(request.room)
        return api.ListParticipantsResponse(participants=list(state.participants.values()))

    async def _get_participant(
        self, request: api.RoomParticipantIdentity, grants: Grants
    ) -> api.ParticipantInfo:
        grants.require_room_admin(request.room)
        participant = self._rooms.get(request.room).participants.get(request.identity)
        if participant is None:
            raise participant_not_found()
        return participant

    async def _remove_participant(
        self, request: api.RoomParticipantIdentity, grants: Grants
    ) -> api.RemoveParticipantResponse:
        grants.require_room_admin(request.room)
        self._rooms.leave(request.room, request.identity)
        return api.RemoveParticipantResponse()

    async def _update_participant(
        self, request: api.UpdateParticipantRequest, grants: Grants
    ) -> api.ParticipantInfo:
        grants.require_room_admin(request.room)
        return self._rooms.update_participant(
            request.room, request.identity, metadata=request.metadata or None, name=request.name or None
        )

    async def _update_room_metadata(self, request: api.UpdateRoomMetadataRequest, grants: Grants) -> api.Room:
        grants.require_room_admin(request.room)
        state = self._rooms.get(request.room)
        state.room.metadata = request.metadata
        return state.snapshot()
