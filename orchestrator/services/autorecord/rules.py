"""The rule book: recording rules (create, read, change, delete) and the active ones, cached for a second."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from orchestrator.domain.errors import Conflict, NotFound
from orchestrator.domain.ids import new_id
from orchestrator.domain.rules import (
    BUILTIN_RULE_NAME,
    RoomFacts,
    Rule,
    RuleMatch,
    all_rooms_rule,
    matching_rules,
    render_path,
    validate_rule,
)

from ..ports import Clock, RuleStore
from ..threads import in_thread

# A rule changed on another replica applies within this long; one changed here applies at once.
_RULES_TTL = timedelta(seconds=1)


@dataclass(frozen=True)
class Trial:
    """A rule that would record a room: why it matches, and what it would write (paths for a first part now)."""

    rule: Rule
    match: RuleMatch
    records: tuple[str, ...]


class RuleBook:
    """Recording rules, and the active ones (plus the built-in rule when ORCHESTRATOR_AUTO_RECORD=all)."""

    def __init__(self, store: RuleStore, clock: Clock, *, record_all: bool = False) -> None:
        self._store, self._now = store, clock
        self._builtin = all_rooms_rule() if record_all else None
        self._cache: tuple[datetime, list[Rule]] | None = None

    # ---- the rules API -----------------------------------------------------------------------

    def create(self, rule: Rule) -> Rule:
        now = self._now()
        created = self._store.create(validate_rule(replace(rule, id=rule.id or new_id("rul"), created_at=now,
                                                           updated_at=now)))
        self._changed()
        return created

    def get(self, ref: str) -> Rule:
        if self._builtin is not None and ref in (self._builtin.id, self._builtin.name):
            return self._builtin
        found = self._store.get(ref)
        if found is None:
            raise NotFound(f"no rule with id or name {ref!r}")
        return found

    def update(self, rule: Rule) -> Rule:
        self._refuse_builtin(rule.id)
        updated = self._store.update(validate_rule(replace(rule, updated_at=self._now())))
        self._changed()
        return updated

    def delete(self, ref: str) -> None:
        rule_id = self.get(ref).id
        self._refuse_builtin(rule_id)
        if not self._store.delete(rule_id):
            raise NotFound(f"no rule with id or name {ref!r}")
        self._changed()

    def all(self) -> list[Rule]:
        """Every stored rule by priority, then the built-in rule when there is one."""
        rules = self._store.list()
        return [*rules, self._builtin] if self._builtin is not None else rules

    def trial(self, room: RoomFacts) -> list[Trial]:
        """Which active rules would record `room` and what each would write: the intake's own matching
        (`matching_rules` over the active rules), nothing stored or started."""
        now = self._now()
        return [Trial(rule, match, _records(rule, room, now)) for rule, match in matching_rules(self.active(), room)]

    def _refuse_builtin(self, rule_id: str) -> None:
        if self._builtin is not None and rule_id == self._builtin.id:
            raise Conflict(f"{BUILTIN_RULE_NAME} is the built-in rule of ORCHESTRATOR_AUTO_RECORD=all: set it to "
                           "off to stop it; it records only rooms that no rule with a composite records")

    # ---- the active rules --------------------------------------------------------------------

    def active(self) -> list[Rule]:
        """The enabled rules by priority (and the built-in rule last), read from the store now."""
        rules = self._store.list(enabled_only=True)
        return [*rules, self._builtin] if self._builtin is not None else rules

    def by_id(self, ids: set[str]) -> list[Rule]:
        return [r for r in self.active() if r.id in ids]

    async def cached(self) -> list[Rule]:
        """The active rules, read from the store at most once a second (in a worker thread when it is)."""
        cached = self._fresh()
        return cached if cached is not None else await in_thread(self.cached_now)

    def cached_now(self) -> list[Rule]:
        """`cached`, for a caller already off the event loop."""
        cached = self._fresh()
        if cached is None:
            rules = self.active()
            self._cache = (self._now(), rules)
            return rules
        return cached

    def _fresh(self) -> list[Rule] | None:
        cached = self._cache
        if cached is not None and timedelta(0) <= self._now() - cached[0] <= _RULES_TTL:
            return cached[1]
        return None

    def _changed(self) -> None:
        self._cache = None


def _records(rule: Rule, room: RoomFacts, at: datetime) -> tuple[str, ...]:
    out: list[str] = []
    if (c := rule.composite) is not None:
        what = f"composite, {c.layout} layout" + (", audio only" if c.audio_only else "")
        if c.filepath is not None:
            out.append(f"{what}: MP4 {render_path(c.filepath, room=room, at=at, rule=rule)}")
        if c.hls_prefix is not None:
            out.append(f"{what}: HLS {render_path(c.hls_prefix, room=room, at=at, rule=rule)}")
    if rule.tracks is not None:
        out.append(f"each published track: {rule.tracks.filepath}")
    if rule.participants is not None:
        out.append(f"each participant: {rule.participants.filepath}")
    return tuple(out)
