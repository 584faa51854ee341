"""Builders for the WebhookEvent messages LiveKit sends."""

from __future__ import annotations

import time

from livekit import api

from . import ids

ROOM_STARTED = "room_started"
ROOM_FINISHED = "room_finished"
PARTICIPANT_JOINED = "participant_joined"
PARTICIPANT_LEFT = "participant_left"
TRACK_PUBLISHED = "track_published"
TRACK_UNPUBLISHED = "track_unpublished"
EGRESS_STARTED = "egress_started"
EGRESS_UPDATED = "egress_updated"
EGRESS_ENDED = "egress_ended"


def room_event(
    name: str,
    room: api.Room,
    participant: api.ParticipantInfo | None = None,
    track: api.TrackInfo | None = None,
) -> api.WebhookEvent:
    """A room/participant/track event carrying full copies of the payloads."""
    event = api.WebhookEvent(event=name, id=ids.new_id(ids.EVENT), created_at=int(time.time()))
    event.room.CopyFrom(room)
    if participant is not None:
        event.participant.CopyFrom(participant)
    if track is not None:
        event.track.CopyFrom(track)
    return event


def egress_event(info: api.EgressInfo) -> api.WebhookEvent:
    """egress_started/updated/ended chosen from the status, with a minimal room ``{sid, name}``."""
    if info.status in (api.EGRESS_ACTIVE, api.EGRESS_ENDING):
        name = EGRESS_UPDATED
    elif info.status == api.EGRESS_STARTING:
        name = EGRESS_STARTED
    else:
        name = EGRESS_ENDED
    event = api.WebhookEvent(event=name, id=ids.new_id(ids.EVENT), created_at=int(time.time()))
    event.egress_info.CopyFrom(info)
    if info.room_id or info.room_name:
        event.room.sid = info.room_id
        event.room.name = info.room_name
    return event
