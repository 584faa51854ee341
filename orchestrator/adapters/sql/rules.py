"""SqlRuleStore: recording rules (a match and its actions, stored as JSON), by priority."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Text, cast, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.domain.errors import Conflict
from orchestrator.domain.requests import Preset
from orchestrator.domain.rules import (
    CompositeAction,
    ParticipantFilter,
    ParticipantKind,
    ParticipantsAction,
    Rule,
    TracksAction,
    stored_match,
)

from .database import SqlDatabase
from .rule_tables import record_rules

_r = record_rules.c
# The listed columns, the spec as the JSON text stored (CAST: psycopg would decode a json column itself).
_LISTED = select(_r.id, _r.name, _r.enabled, _r.priority, cast(_r.spec, Text).label("spec"), _r.created_at,
                 _r.updated_at)
_KEEP = 256  # parsed rules kept beyond twice the last read's rows


class SqlRuleStore:
    """Recording rules on SQLite or PostgreSQL."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._parsed: dict[tuple[Any, ...], Rule] = {}  # see list()

    def create(self, rule: Rule) -> Rule:
        """Raises Conflict when the name is taken."""
        try:
            with self._db.write() as conn:
                conn.execute(insert(record_rules), _rule_columns(rule, version=1))
        except IntegrityError:
            raise Conflict(f"a rule named {rule.name!r} already exists") from None
        return rule

    def get(self, ref: str) -> Rule | None:
        """By id or by name."""
        with self._db.read() as conn:
            row = conn.execute(select(record_rules).where(
                (record_rules.c.id == ref) | (record_rules.c.name == ref))).first()
        return _rule(row) if row else None

    def list(self, *, enabled_only: bool = False) -> list[Rule]:
        """By priority, highest first (then by name).

        Each row's spec is read as its JSON text and a row read before gives back the rule parsed from it then:
        turning 1,000 rows into rules (JSON, enums, tuples) took ~50 ms of every `GET /v1/rules` and every Try
        a rule (bench/list_pages.py). The key is the whole row as read, so a changed row is parsed again.
        """
        query = _LISTED.where(record_rules.c.enabled.is_(True)) if enabled_only else _LISTED
        with self._db.read() as conn:
            found = conn.execute(query.order_by(record_rules.c.priority.desc(), record_rules.c.name)).all()
        parsed = self._parsed
        out: list[Rule] = []
        for row in found:
            key = tuple(row)
            rule = parsed.get(key)
            if rule is None:
                rule = parsed[key] = rule_from_spec(row.id, row.name, bool(row.enabled), int(row.priority),
                                                    json.loads(row.spec), row.created_at, row.updated_at)
            out.append(rule)
        if len(parsed) > max(2 * len(found), _KEEP):  # rows changed or deleted since: keep this read's only
            self._parsed = {tuple(row): rule for row, rule in zip(found, out, strict=True)}
        return out

    def update(self, rule: Rule) -> Rule:
        """Raises Conflict when the new name is taken or the rule was deleted meanwhile."""
        values = _rule_columns(rule, version=0)
        values.pop("created_at")
        values.pop("version")
        try:
            with self._db.write() as conn:
                done = conn.execute(update(record_rules).where(record_rules.c.id == rule.id).values(
                    **values, version=record_rules.c.version + 1)).rowcount
        except IntegrityError:
            raise Conflict(f"a rule named {rule.name!r} already exists") from None
        if not done:
            raise Conflict(f"rule {rule.id} was deleted meanwhile")
        return rule

    def delete(self, rule_id: str) -> bool:
        with self._db.write() as conn:
            return bool(conn.execute(delete(record_rules).where(record_rules.c.id == rule_id)).rowcount)


# ---- rows <-> domain -----------------------------------------------------------------------------------


def rule_spec(rule: Rule) -> dict[str, Any]:
    """The rule's match and actions as JSON."""
    m, f = rule.match, rule.participant_filter
    spec: dict[str, Any] = {
        "match": {"name_glob": m.name_glob, "name_regex": m.name_regex, "metadata": m.metadata,
                  "all_rooms": m.all_rooms},
        "participant_filter": {"include": list(f.include), "exclude": list(f.exclude),
                               "kinds": sorted(k.value for k in f.kinds)},
    }
    if rule.composite:
        c = rule.composite
        spec["composite"] = {"layout": c.layout, "preset": c.preset.value if c.preset else None,
                             "audio_only": c.audio_only, "filepath": c.filepath, "hls_prefix": c.hls_prefix}
    if rule.tracks:
        spec["tracks"] = {"filepath": rule.tracks.filepath}
    if rule.participants:
        p = rule.participants
        spec["participants"] = {"filepath": p.filepath, "preset": p.preset.value if p.preset else None}
    return spec


def rule_from_spec(rule_id: str, name: str, enabled: bool, priority: int, spec: dict[str, Any],
                   created_at: datetime | None = None, updated_at: datetime | None = None) -> Rule:
    m, f = spec.get("match", {}), spec.get("participant_filter", {})
    c, t, p = spec.get("composite"), spec.get("tracks"), spec.get("participants")
    return Rule(
        id=rule_id, name=name, enabled=enabled, priority=priority,
        match=stored_match(m.get("name_glob", ""), m.get("name_regex", ""), m.get("metadata"), m.get("all_rooms")),
        composite=CompositeAction(layout=c["layout"], preset=Preset(c["preset"]) if c.get("preset") else None,
                                  audio_only=bool(c.get("audio_only")), filepath=c.get("filepath"),
                                  hls_prefix=c.get("hls_prefix")) if c else None,
        tracks=TracksAction(filepath=t["filepath"]) if t else None,
        participants=ParticipantsAction(filepath=p["filepath"],
                                        preset=Preset(p["preset"]) if p.get("preset") else None) if p else None,
        participant_filter=ParticipantFilter(
            include=tuple(f.get("include", ())), exclude=tuple(f.get("exclude", ())),
            kinds=frozenset(ParticipantKind(k) for k in f.get("kinds", [])) if "kinds" in f
            else ParticipantFilter().kinds),
        created_at=created_at, updated_at=updated_at,
    )


def _rule_columns(rule: Rule, *, version: int) -> dict[str, Any]:
    return {"id": rule.id, "name": rule.name, "enabled": rule.enabled, "priority": rule.priority,
            "spec": rule_spec(rule), "created_at": rule.created_at, "updated_at": rule.updated_at,
            "version": version}


def _rule(row: Row[Any]) -> Rule:
    return rule_from_spec(row.id, row.name, bool(row.enabled), int(row.priority), row.spec, row.created_at,
                          row.updated_at)
