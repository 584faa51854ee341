"""ORCHESTRATOR_AUTO_RECORD=all over real HTTP with the sandbox: a visible built-in rule, one composite per room."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.sandbox import SandboxThread
from tests.conftest import make_settings
from tests.harness import ServiceThread, wait_until


@pytest.fixture
def service(sandbox: SandboxThread, tmp_path: Path) -> Iterator[ServiceThread]:
    settings = make_settings(f"sqlite:///{tmp_path / 'orchestrator.db'}", sandbox, tmp_path / "data",
                             auto_record="all")
    service = ServiceThread(settings).start()
    sandbox.sandbox.webhook_urls[:] = [f"{service.url}/webhooks/livekit"]
    try:
        yield service
    finally:
        service.stop()


def composites(service: ServiceThread, room: str) -> list[tuple[str, str]]:
    """(rule name, egress status) of each composite recorded for the room."""
    with service.client() as c:
        items: list[dict[str, Any]] = c.get("/v1/sessions", params={"room_name": room}).json()["items"]
    names = {m["rule_id"]: m["rule_name"] for s in items for m in s["matches"]}
    return [(names.get(r["rule_id"], r["rule_id"]), (r["egress"] or {}).get("status", ""))
            for s in items for r in s["recordings"] if r["action"] == "composite"]


def test_builtin_rule_and_an_explicit_rule_record_one_composite(service: ServiceThread, sandbox: SandboxThread) -> None:
    with service.client() as c:
        r = c.post("/v1/rules", json={"name": "classes", "match": {"room_name_glob": "class-*"},
                                      "actions": {"composite": {"layout": "speaker"}}})
        assert r.status_code == 201, r.text
    sandbox.call(sandbox.sandbox.create_room, "class-1")
    sandbox.call(sandbox.sandbox.create_room, "lobby")
    wait_until(lambda: composites(service, "class-1") == [("classes", "starting")]
               and composites(service, "lobby") == [("auto-record-all", "starting")])
    by_room: dict[str, int] = {}
    for info in sandbox.sandbox.egresses():
        by_room[info.room_name] = by_room.get(info.room_name, 0) + 1
    assert by_room == {"class-1": 1, "lobby": 1}


def test_the_builtin_rule_is_listed_and_refuses_changes(service: ServiceThread) -> None:
    with service.client() as c:
        assert c.post("/v1/rules", json={"name": "everything", "match": {"all_rooms": True},
                                         "actions": {"composite": {}}}).status_code == 201
        items = c.get("/v1/rules").json()["items"]
        assert [(i["name"], i["builtin"], i["match"]["all_rooms"]) for i in items] == [
            ("everything", False, True), ("auto-record-all", True, True)]
        assert c.get("/v1/rules/auto-record-all").json()["builtin"] is True
        patch = c.patch("/v1/rules/auto-record-all", json={"enabled": False})
        delete = c.delete("/v1/rules/auto-record-all")
        assert (patch.status_code, delete.status_code) == (409, 409), (patch.text, delete.text)
        assert "ORCHESTRATOR_AUTO_RECORD" in delete.json()["error"]["message"]
        empty = c.post("/v1/rules", json={"name": "vague", "actions": {"composite": {}}})
        assert empty.status_code == 422 and empty.json()["error"]["field"] == "match", empty.text
