"""Batch and repeated reads behind the list pages: EgressLedger.get_many, and RuleStore.list read again after
changes (the SQL store reuses the rules it parsed from rows it read before: a changed row must be parsed again)."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.domain.egress import ChangeSource, EgressStatus
from orchestrator.domain.rules import CompositeAction, RoomMatch
from tests.contracts.conftest import Backend
from tests.contracts.rows import T0, at, obs, record, rule


def test_get_many_reads_egresses_by_our_ids(backend: Backend) -> None:
    ledger = backend.ledger
    ledger.create_many([record(f"egr_z{i}", room=f"room-{i}", created=at(i)) for i in range(3)])
    ledger.observe(obs("EG_z1", EgressStatus.ACTIVE, 5, room="room-1"), ChangeSource.API, at(9), bind_to="egr_z1")
    # 1,000 unknown ids sorted before the known ones: the known ones are read past the first 500
    missing = [f"egr_a{i:04}" for i in range(1000)]
    found = ledger.get_many([*missing, "egr_z2", "egr_z0", "egr_z1", "egr_z1", "EG_z1"])
    assert sorted(found) == ["egr_z0", "egr_z1", "egr_z2"]  # by our ids only; LiveKit's EG_ id is not one
    for pk, row in found.items():
        assert row == ledger.get(pk)
    assert found["egr_z1"].status == EgressStatus.ACTIVE and found["egr_z1"].egress_id == "EG_z1"
    assert ledger.get_many([]) == {} and ledger.get_many(iter(["egr_a0001"])) == {}


def test_listed_rules_follow_every_change_of_their_rows(backend: Backend) -> None:
    rules = backend.rules
    rules.create(rule("rul_1", "lectures", priority=1))
    rules.create(rule("rul_2", "meetings", enabled=False))
    first = rules.list()
    assert first == [rules.get("rul_1"), rules.get("rul_2")] and rules.list() == first
    assert rules.list(enabled_only=True) == [rules.get("rul_1")]

    renamed = replace(rule("rul_1", "classes", priority=-1, glob="class-*"), updated_at=at(60))
    rules.update(renamed)
    rules.update(replace(rule("rul_2", "meetings"), updated_at=at(61)))  # enabled now
    assert rules.list() == [rules.get("rul_2"), rules.get("rul_1")]
    assert rules.list(enabled_only=True) == [rules.get("rul_2"), rules.get("rul_1")]
    listed = rules.list()[1]
    assert listed.match.name_glob == "class-*" and listed.name == "classes" and listed.updated_at == at(60)

    # the same id, name and times again, only the spec differs: listed as stored now, not as parsed before
    rules.delete("rul_2")
    again = replace(rule("rul_2", "meetings"), match=RoomMatch(name_regex="^standup-"),
                    composite=CompositeAction(layout="grid", hls_prefix="{room_name}/hls", filepath=None))
    rules.create(again)
    assert rules.list()[0] == again == rules.get("rul_2")
    assert rules.list()[0].created_at == T0

    for i in range(300):  # more rows than the store keeps parsed beyond a read's own
        rules.update(replace(rule("rul_1", "classes", priority=-1 - i), updated_at=at(100 + i)))
        assert rules.list()[1].priority == -1 - i
    rules.delete("rul_1")
    assert rules.list() == [again]
