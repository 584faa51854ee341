"""MemoryRuleStore: recording rules in memory, names unique as in the SQL table."""

from __future__ import annotations

import dataclasses

from orchestrator.domain.errors import Conflict
from orchestrator.domain.rules import Rule

from .database import MemoryDatabase


class MemoryRuleStore:
    """The RuleStore port on a MemoryDatabase."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def create(self, rule: Rule) -> Rule:
        with self._db.transaction() as t:
            if rule.id in t.rules or any(r.name == rule.name for r in t.rules.values()):
                raise Conflict(f"a rule named {rule.name!r} already exists")
            t.rules[rule.id] = rule
            t.rule_versions[rule.id] = 1
        return rule

    def get(self, ref: str) -> Rule | None:
        rules = self._db.read().rules
        return rules.get(ref) or next((r for r in rules.values() if r.name == ref), None)

    def list(self, *, enabled_only: bool = False) -> list[Rule]:
        found = [r for r in self._db.read().rules.values() if r.enabled or not enabled_only]
        return sorted(found, key=lambda r: (-r.priority, r.name))

    def update(self, rule: Rule) -> Rule:
        with self._db.transaction() as t:
            stored = t.rules.get(rule.id)
            if stored is None:
                raise Conflict(f"rule {rule.id} was deleted meanwhile")
            if any(r.name == rule.name and r.id != rule.id for r in t.rules.values()):
                raise Conflict(f"a rule named {rule.name!r} already exists")
            t.rules[rule.id] = dataclasses.replace(rule, created_at=stored.created_at)  # created_at never changes
            t.rule_versions[rule.id] += 1
        return rule

    def delete(self, rule_id: str) -> bool:
        with self._db.transaction() as t:
            t.rule_versions.pop(rule_id, None)
            return t.rules.pop(rule_id, None) is not None
