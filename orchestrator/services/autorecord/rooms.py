"""POST /v1/rooms: CreateRoom with LiveKit's auto egress filled from a matching rule's composite."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from orchestrator.domain.errors import InvalidInput
from orchestrator.domain.rules import RoomFacts, Rule, matching_rules, render_path
from orchestrator.domain.sessions import CreatedRoom

from ..ports import Clock, RoomGateway, SessionStore
from ..threads import in_thread
from .claims import Claims
from .rules import RuleBook

# A room LiveKit says it created this long before our call existed already: it got no auto egress.
_EXISTED_BEFORE_MS = 2000


class RoomCreator:
    """Creates rooms whose composite LiveKit starts itself; the session's claim is then DELEGATED (see
    `orchestrator.domain.sessions.delegated`)."""

    def __init__(self, rules: RuleBook, claims: Claims, sessions: SessionStore, rooms: RoomGateway,
                 clock: Clock) -> None:
        self._rules, self._claims, self._sessions, self._rooms, self._now = rules, claims, sessions, rooms, clock

    async def create_room(self, name: str, *, metadata: str = "", rule_ref: str | None = None,
                          empty_timeout: int = 0, departure_timeout: int = 0) -> tuple[CreatedRoom, Rule | None]:
        """CreateRoom with LiveKit's auto egress filled from a rule (given, or the best match by name/metadata)."""
        if not name.strip() or len(name) > 256:
            raise InvalidInput("name", "must be 1 to 256 characters")
        if rule_ref:
            rule: Rule | None = await in_thread(self._rules.get, rule_ref)
            assert rule is not None
            if rule.composite is None:
                raise InvalidInput("rule", f"rule {rule.name!r} has no composite action to start with the room")
        else:
            rules = await self._rules.cached()
            rule = next((r for r, _ in matching_rules(rules, RoomFacts(name, "", metadata)) if r.composite), None)
        composite = None
        if rule is not None and rule.composite is not None:
            c, now = rule.composite, self._now()
            # LiveKit fills {room_id} and {time} itself: the room's sid does not exist yet.
            room = RoomFacts(name, "{room_id}", metadata)
            claim = self._claims.composite(rule, room, part=1)
            fields = {"room_sid": "{room_id}", "time": "{time}"}
            request = dict(claim.request)
            if c.filepath:
                request["filepath"] = _with_livekit_fields(c.filepath, room, now, rule, fields)
            if c.hls_prefix:
                request["hls_prefix"] = _with_livekit_fields(c.hls_prefix, room, now, rule, fields)
            composite = self._claims.request_of(replace(claim, request=request))
            await in_thread(self._sessions.expect_room, name, rule.id, now)
        asked_ms = int(self._now().timestamp() * 1000)
        created = await self._rooms.create_room(name, metadata=metadata, empty_timeout=empty_timeout,
                                                departure_timeout=departure_timeout, composite=composite)
        if (composite is not None and created.creation_time_ms
                and created.creation_time_ms < asked_ms - _EXISTED_BEFORE_MS):
            await in_thread(self._sessions.forget_expected_room, name)  # it existed: no auto egress
        return created, rule


def _with_livekit_fields(template: str, room: RoomFacts, now: datetime, rule: Rule, fields: dict[str, str]) -> str:
    rendered = render_path(template.replace("{room_sid}", "\x00sid\x00").replace("{time}", "\x00time\x00"),
                           room=room, at=now, rule=rule)
    return rendered.replace("\x00sid\x00", fields["room_sid"]).replace("\x00time\x00", fields["time"])
