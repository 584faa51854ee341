"""Automatic recording over real HTTP: rules, room sessions, claims, the sweep, against the sandbox LiveKit."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api

from orchestrator.sandbox import SandboxThread
from tests.conftest import make_settings
from tests.harness import ServiceThread, wait_until


@pytest.fixture
def on_sqlite(sandbox: SandboxThread, tmp_path: Path) -> Iterator[Callable[..., ServiceThread]]:
    """For tests whose subject is not the database: one service on SQLite (the claims run on both elsewhere)."""
    started: list[ServiceThread] = []

    def start(**overrides: Any) -> ServiceThread:
        settings = make_settings(f"sqlite:///{tmp_path / 'orchestrator.db'}", sandbox, tmp_path / "data", **overrides)
        service = ServiceThread(settings).start()
        sandbox.sandbox.webhook_urls[:] = [f"{service.url}/webhooks/livekit"]
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def add_rule(service: ServiceThread, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "classes")
    body.setdefault("match", {"all_rooms": True})
    body.setdefault("actions", {"composite": {"layout": "grid"}})
    with service.client() as c:
        r = c.post("/v1/rules", json=body)
    assert r.status_code == 201, r.text
    rule: dict[str, Any] = r.json()
    return rule


def sessions(service: ServiceThread, room: str) -> list[dict[str, Any]]:
    with service.client() as c:
        items: list[dict[str, Any]] = c.get("/v1/sessions", params={"room_name": room}).json()["items"]
    return items


def recordings(service: ServiceThread, room: str, action: str | None = None) -> list[dict[str, Any]]:
    return [r for s in sessions(service, room) for r in s["recordings"] if action in (None, r["action"])]


def started(service: ServiceThread, room: str, action: str | None = None) -> list[dict[str, Any]]:
    """Recordings with an egress that did not fail (a composite's ledger row is written with its claim)."""
    return [r for r in recordings(service, room, action)
            if r["egress"] and r["egress"]["status"] not in ("failed", "aborted")]


def sandbox_egresses(sandbox: SandboxThread, room: str, kind: str | None = None) -> list[api.EgressInfo]:
    infos = sandbox.sandbox.egresses()
    return [i for i in infos if i.room_name == room and (kind is None or i.WhichOneof("request") == kind)]


def room_sid(sandbox: SandboxThread, room: str) -> str:
    return str(sandbox.sandbox.rooms.rooms[room].room.sid)


def test_room_started_records_one_composite_and_room_finished_stops_it(
    service: ServiceThread, sandbox: SandboxThread
) -> None:
    add_rule(service, match={"room_name_glob": "class-*"})
    sandbox.sandbox.faults.duplicate_webhooks = True  # every room_started arrives twice
    sandbox.call(sandbox.sandbox.create_room, "class-1")
    sandbox.call(sandbox.sandbox.create_room, "lobby")
    sandbox.call(sandbox.sandbox.join, "class-1", "alice")
    sid = room_sid(sandbox, "class-1")
    wait_until(lambda: [(r["egress"] or {}).get("status") for r in recordings(service, "class-1")] == ["active"])
    sandbox.call(sandbox.sandbox.webhooks_idle)
    assert len(sandbox_egresses(sandbox, "class-1")) == 1
    [session] = sessions(service, "class-1")
    assert session["room_sid"] == sid and session["source"] == "room_started" and not session["started_late"]
    assert [m["rule_name"] for m in session["matches"]] == ["classes"]
    [rec] = session["recordings"]
    assert rec["state"] == "started" and rec["part"] == 1
    assert rec["egress"]["request"]["layout"] == "grid"
    assert rec["egress"]["outputs"][0]["filepath"].startswith(f"class-1/{sid}/composite-")
    assert sessions(service, "lobby")[0]["recordings"] == [] and sandbox_egresses(sandbox, "lobby") == []

    # The room really closes, but the egress hangs on (a template that never ends, livekit/egress#815):
    # LiveKit's own room_finished makes the service stop it.
    sandbox.sandbox.faults.outlive_room = True
    sandbox.call(sandbox.sandbox.close_room, "class-1")
    wait_until(lambda: sessions(service, "class-1")[0]["ended_at"])
    egress_id = rec["egress"]["egress_id"]
    wait_until(lambda: sandbox.sandbox.egress_info(egress_id).status == api.EGRESS_COMPLETE)  # type: ignore[union-attr]
    with service.client() as c:
        shown = c.get(f"/v1/egresses/{egress_id}").json()
    assert any(e["detail"] == "stop requested" for e in shown["events"])


def test_lost_room_started_is_recovered_by_the_sweep_with_auto_record_all(
    on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread
) -> None:
    service = on_sqlite(auto_record="all")
    sandbox.sandbox.faults.drop_webhook_events = ["room_started"]
    sandbox.call(sandbox.sandbox.create_room, "standup")
    sandbox.call(sandbox.sandbox.join, "standup", "bob", publish=[])  # no track events either
    sandbox.call(sandbox.sandbox.webhooks_idle)
    assert not any(w.event == "room_started" for w in sandbox.sandbox.sent_webhooks)  # it really was lost
    report = service.call(service.container.autorecord.sweep)
    assert report.errors == [] and report.rooms == 1  # (the start-up sweep may have been the one to recover it)
    [session] = sessions(service, "standup")
    assert session["started_late"] and session["source"] == "reconcile"
    assert [m["rule_name"] for m in session["matches"]] == ["auto-record-all"]
    assert [r["egress"]["kind"] for r in session["recordings"]] == ["room_composite"]
    service.call(service.container.autorecord.sweep)  # a second pass starts nothing more
    assert len(sandbox_egresses(sandbox, "standup")) == 1


def test_track_published_records_each_track_skipping_agents(service: ServiceThread, sandbox: SandboxThread) -> None:
    add_rule(service, name="tracks", actions={"tracks": {}})
    sandbox.sandbox.faults.duplicate_webhooks = True
    sandbox.call(sandbox.sandbox.create_room, "podcast")
    sandbox.call(sandbox.sandbox.join, "podcast", "agent-1", kind="agent", publish=["microphone"])
    alice = sandbox.call(sandbox.sandbox.join, "podcast", "alice")
    sid = room_sid(sandbox, "podcast")
    wait_until(lambda: len(started(service, "podcast", "track")) == 2)
    sandbox.call(sandbox.sandbox.webhooks_idle)
    tracks = {t.sid: t for t in alice.tracks}
    recs = recordings(service, "podcast", "track")
    assert {r["subject"] for r in recs} == set(tracks)
    for r in recs:
        ext = "ogg" if tracks[r["subject"]].type == api.AUDIO else "mp4"
        assert r["egress"]["kind"] == "track" and r["egress"]["request"]["track_id"] == r["subject"]
        assert r["egress"]["outputs"][0]["filepath"] == f"podcast/{sid}/tracks/alice-{r['subject']}.{ext}"
    infos = sandbox_egresses(sandbox, "podcast", "track")
    assert sorted(i.track.track_id for i in infos) == sorted(tracks)
    assert {i.track.file.filepath for i in infos} == {r["egress"]["outputs"][0]["filepath"] for r in recs}
    # a track published later gets its own egress, once
    screen = sandbox.call(sandbox.sandbox.publish, "podcast", "alice", "screen_share")
    wait_until(lambda: screen.sid in {r["subject"] for r in started(service, "podcast", "track")})
    sandbox.call(sandbox.sandbox.webhooks_idle)
    assert Counter(i.track.track_id for i in sandbox_egresses(sandbox, "podcast", "track"))[screen.sid] == 1


def test_rollover_at_a_small_cap_yields_ordered_parts(service_factory: Any, sandbox: SandboxThread) -> None:
    service = service_factory(recording_cap_s=1.0, recording_rollover_margin_s=0.3, autorecord_sweep_s=0.2)
    add_rule(service)
    sandbox.call(sandbox.sandbox.join, "lecture", "alice")
    wait_until(lambda: len(recordings(service, "lecture")) >= 3, timeout=15)
    sandbox.call(sandbox.sandbox.close_room, "lecture")
    wait_until(lambda: sessions(service, "lecture")[0]["ended_at"])
    # A part claimed just as the room closed may never start (LiveKit: the room does not exist): its claim
    # is cancelled with no egress. Every part that did start must end.
    def ended(r: dict[str, Any]) -> bool:
        return (r["egress"] or {}).get("status") in ("complete", "aborted") or (
            r["state"] == "cancelled" and r["egress"] is None)

    try:
        wait_until(lambda: all(ended(r) for r in recordings(service, "lecture")))
    except AssertionError as exc:  # say which part did not end
        raise AssertionError([(r["part"], r["state"], r["egress"] and r["egress"]["status"])
                              for r in recordings(service, "lecture")]) from exc
    [session] = sessions(service, "lecture")
    claimed = [r for r in session["recordings"] if r["action"] == "composite"]
    parts = [r for r in claimed if r["egress"] is not None]
    assert len(parts) >= 2 and claimed[:len(parts)] == parts  # only the last part can have never started
    assert [p["part"] for p in claimed] == list(range(1, len(claimed) + 1))
    paths = [p["egress"]["outputs"][0]["filepath"] for p in parts]
    assert [p.rsplit("-part", 1)[1] for p in paths] == [f"{n:03d}.mp4" for n in range(1, len(parts) + 1)]
    starts = [p["egress"]["started_at"] for p in parts]
    assert starts == sorted(starts)
    assert all(p["egress"]["status"] == "complete" for p in parts[:-1])
    assert isinstance(session["gaps"], list)  # overlapping parts: no gap to report


def test_rules_api_crud_and_bad_input(on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread) -> None:
    service = on_sqlite()
    bad = [
        ({"match": {}}, "match"),  # every room only when said
        ({"match": {"all_rooms": True, "room_name_glob": "a*"}}, "match.all_rooms"),
        ({"match": {"room_name_regex": "class-("}}, "match.room_name_regex"),
        ({"match": {"metadata": [1, 2]}}, "match.metadata"),
        ({"actions": {}}, "actions"),
        ({"actions": {"composite": {"layout": "mosaic"}}}, "actions.composite.layout"),
        ({"actions": {"tracks": {"filepath": "{room_name}/{nope}.ogg"}}}, "actions.tracks.filepath"),
    ]
    with service.client() as c:
        for body, field in bad:
            r = c.post("/v1/rules", json={"name": "bad", "match": {"all_rooms": True}, "actions": {"composite": {}}}
                       | body)
            assert r.status_code == 422 and r.json()["error"]["field"] == field, (field, r.text)
        rule = c.post("/v1/rules", json={"name": "flagged", "priority": 5, "match": {"metadata": {"recording": True}},
                                         "actions": {"composite": {"layout": "gallery"}}}).json()
        assert c.post("/v1/rules", json={"name": "flagged", "match": {"all_rooms": True},
                                         "actions": {"composite": {}}}).status_code == 409
        assert c.get("/v1/rules/flagged").json()["id"] == rule["id"]
        assert [r["name"] for r in c.get("/v1/rules").json()["items"]] == ["flagged"]
    sandbox.call(sandbox.sandbox.create_room, "yes", '{"recording": true, "course": "math"}')
    sandbox.call(sandbox.sandbox.create_room, "no", '{"recording": 1}')
    wait_until(lambda: len(started(service, "yes")) == 1 and sessions(service, "no"))
    assert recordings(service, "no") == []
    egress = recordings(service, "yes")[0]["egress"]
    assert "/layouts/gallery" in egress["request"]["custom_base_url"]
    with service.client() as c:
        patched = c.patch(f"/v1/rules/{rule['id']}", json={"enabled": False}).json()
        assert patched["enabled"] is False and patched["match"]["metadata"] == {"recording": True}
        sandbox.call(sandbox.sandbox.create_room, "yes-again", '{"recording": true}')
        wait_until(lambda: sessions(service, "yes-again"))
        assert recordings(service, "yes-again") == []
        assert c.delete(f"/v1/rules/{rule['id']}").status_code == 204
        assert c.get(f"/v1/rules/{rule['id']}").status_code == 404


def test_post_rooms_creates_the_room_with_auto_egress_once(
    on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread
) -> None:
    service = on_sqlite()
    add_rule(service, name="webinars", match={"room_name_glob": "webinar-*"})
    with service.client() as c:
        first = c.post("/v1/rooms", json={"name": "webinar-1", "metadata": "{}"})
        assert first.status_code == 200, first.text
        again = c.post("/v1/rooms", json={"name": "webinar-1"}).json()
    assert first.json()["sid"] == again["sid"] and first.json()["rule_name"] == "webinars"
    sandbox.call(sandbox.sandbox.join, "webinar-1", "host")
    wait_until(lambda: [r["state"] for r in recordings(service, "webinar-1")] == ["started"])
    sandbox.call(sandbox.sandbox.webhooks_idle)
    [info] = sandbox_egresses(sandbox, "webinar-1")
    assert info.room_composite.file_outputs[0].filepath.startswith("webinar-1/{room_id}/composite-{time}")
    assert recordings(service, "webinar-1")[0]["egress"]["egress_id"] == info.egress_id


@pytest.mark.postgres
def test_two_replicas_on_postgres_make_one_egress(pg_url: str, sandbox: SandboxThread, tmp_path: Path) -> None:
    a, b = (ServiceThread(make_settings(pg_url, sandbox, tmp_path / "data")).start() for _ in range(2))
    try:
        sandbox.sandbox.webhook_urls[:] = [f"{a.url}/webhooks/livekit", f"{b.url}/webhooks/livekit"]
        sandbox.sandbox.faults.duplicate_webhooks = True
        add_rule(a, actions={"composite": {"layout": "grid"}, "tracks": {}})
        sandbox.call(sandbox.sandbox.join, "class-9", "alice")
        wait_until(lambda: len(started(b, "class-9")) == 3)
        a.call(a.container.autorecord.sweep)
        b.call(b.container.autorecord.sweep)
        sandbox.call(sandbox.sandbox.webhooks_idle)
        kinds = Counter(i.WhichOneof("request") for i in sandbox_egresses(sandbox, "class-9"))
        assert kinds == {"room_composite": 1, "track": 2}
        with a.client() as c:
            assert len(c.get("/v1/egresses", params={"room_name": "class-9"}).json()["items"]) == 3
        delivered = Counter(w.url for w in sandbox.sandbox.sent_webhooks if w.event == "room_started")
        assert len(delivered) == 2  # both replicas really heard room_started
    finally:
        a.stop()
        b.stop()


def test_cli_rules_and_sessions(on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread) -> None:
    from tests.integration.test_cli import cli

    service = on_sqlite()
    added = cli(service, "rules", "add", "standups", "--glob", "standup-*", "--tracks", "--json")
    assert added.returncode == 0, added.stderr
    rule = json.loads(added.stdout)
    assert rule["actions"]["composite"]["layout"] == "grid" and rule["actions"]["tracks"]
    assert "standups" in cli(service, "rules", "list").stdout
    assert json.loads(cli(service, "rules", "disable", "standups", "--json").stdout)["enabled"] is False
    assert json.loads(cli(service, "rules", "enable", rule["id"], "--json").stdout)["enabled"] is True
    bad = cli(service, "rules", "add", "broken", "--regex", "(")
    assert bad.returncode == 1 and "match.room_name_regex" in bad.stderr
    sandbox.call(sandbox.sandbox.join, "standup-1", "alice")
    wait_until(lambda: len(recordings(service, "standup-1")) == 3)
    sid = room_sid(sandbox, "standup-1")
    listed = json.loads(cli(service, "sessions", "list", "--room", "standup-1", "--json").stdout)
    assert [s["room_sid"] for s in listed["items"]] == [sid]
    shown = cli(service, "sessions", "show", sid)
    assert shown.returncode == 0 and "composite" in shown.stdout and "track" in shown.stdout
    assert "standups" in cli(service, "rules", "show", "standups").stdout
    assert cli(service, "rules", "delete", "standups").returncode == 0
    assert cli(service, "rules", "show", "standups").returncode == 1


def test_participants_action_records_each_participant_once(
    on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread
) -> None:
    service = on_sqlite()
    add_rule(service, name="people", actions={"participants": {}},
             participants_filter={"exclude": ["guest-*"]})
    sandbox.sandbox.faults.duplicate_webhooks = True
    sandbox.call(sandbox.sandbox.create_room, "panel")
    sandbox.call(sandbox.sandbox.join, "panel", "alice")  # camera and microphone: one participant egress
    sandbox.call(sandbox.sandbox.join, "panel", "guest-1")  # excluded by the rule
    sandbox.call(sandbox.sandbox.join, "panel", "agent-1", kind="agent", publish=["microphone"])  # skipped
    sid = room_sid(sandbox, "panel")
    wait_until(lambda: len(started(service, "panel", "participant")) == 1)
    sandbox.call(sandbox.sandbox.webhooks_idle)
    [rec] = recordings(service, "panel", "participant")
    assert rec["subject"] == "alice" and rec["egress"]["kind"] == "participant"
    assert rec["egress"]["outputs"][0]["filepath"].startswith(f"panel/{sid}/participants/alice-")
    infos = sandbox_egresses(sandbox, "panel", "participant")
    assert [i.participant.identity for i in infos] == ["alice"]


def test_a_failed_start_is_retried_by_the_sweep(
    on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread
) -> None:
    service = on_sqlite(autorecord_retry_s=0.2, livekit_start_timeout_s=2, start_attempts=1)
    add_rule(service, name="retry")
    sandbox.sandbox.timings.no_worker_after = 0.05
    sandbox.sandbox.faults.no_worker = True  # LiveKit has no egress worker for a moment
    sandbox.call(sandbox.sandbox.join, "retry-room", "alice")
    rec = wait_until(lambda: (r := recordings(service, "retry-room", "composite")) and r[0]["error"] and r[0])
    # the failed attempt stays visible: its ledger row, failed with LiveKit's reason
    assert "no response from servers" in rec["error"] and rec["egress"]["status"] == "failed"
    assert sandbox_egresses(sandbox, "retry-room") == []
    sandbox.sandbox.faults.no_worker = False
    assert service.container.autorecord is not None
    wait_until(lambda: service.call(service.container.autorecord.sweep).retried >= 1 or
               started(service, "retry-room", "composite"), timeout=5)
    wait_until(lambda: started(service, "retry-room", "composite"), timeout=5)
    assert len(sandbox_egresses(sandbox, "retry-room", "room_composite")) == 1
    [rec] = recordings(service, "retry-room", "composite")
    assert rec["attempts"] >= 1 and rec["egress"]["status"] in ("starting", "active")


def test_limit_reached_starts_the_next_part(on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread) -> None:
    service = on_sqlite()
    add_rule(service, name="limited")
    sandbox.sandbox.faults.session_limit = 1.0  # LiveKit ends the part with LIMIT_REACHED after 1 s active
    sandbox.call(sandbox.sandbox.join, "webinar", "alice")
    wait_until(lambda: len(started(service, "webinar", "composite")) >= 2, timeout=10)
    sandbox.sandbox.faults.session_limit = None
    parts = recordings(service, "webinar", "composite")
    assert [p["part"] for p in parts][:2] == [1, 2]
    with service.client() as c:
        first = c.get(f"/v1/egresses/{parts[0]['egress']['id']}").json()
    assert first["status"] == "limit_reached"
    assert len(sandbox_egresses(sandbox, "webinar", "room_composite")) == len(started(service, "webinar", "composite"))


def test_sweep_binds_the_auto_egress_of_a_created_room_whose_webhooks_were_all_lost(
    on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread
) -> None:
    service = on_sqlite()
    add_rule(service, name="webinars", match={"room_name_glob": "webinar-*"})
    sandbox.sandbox.faults.drop_webhooks = True  # room_started and the auto egress's own events: all lost
    with service.client() as c:
        assert c.post("/v1/rooms", json={"name": "webinar-7"}).status_code == 200
    sandbox.call(sandbox.sandbox.join, "webinar-7", "host")
    wait_until(lambda: len(sandbox_egresses(sandbox, "webinar-7")) == 1)  # LiveKit started it itself
    assert sessions(service, "webinar-7") == []
    recorder = service.container.autorecord
    assert recorder is not None

    def bound() -> bool:
        service.call(service.container.reconciler.run_once)  # adopts the egress no webhook announced
        service.call(recorder.sweep)  # opens the session late, delegated, then binds what the ledger has
        return [r["state"] for r in recordings(service, "webinar-7")] == ["started"]

    wait_until(bound, timeout=10)
    [info] = sandbox_egresses(sandbox, "webinar-7")
    [session] = sessions(service, "webinar-7")
    assert session["source"] == "reconcile" and session["recordings"][0]["egress"]["egress_id"] == info.egress_id
    service.call(recorder.sweep)
    assert len(sandbox_egresses(sandbox, "webinar-7")) == 1  # nothing started twice


def test_room_started_is_still_recorded_when_the_intake_hook_fails(
    on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhooks are stored without the room openings; the change feed then delivers room_started the slow way."""
    service = on_sqlite()
    add_rule(service)
    recorder = service.container.autorecord

    def broken(*_: Any) -> None:
        raise RuntimeError("planning broke")

    monkeypatch.setattr(recorder.intake, "plan", broken)
    sandbox.call(sandbox.sandbox.join, "fallback-room", "alice")
    wait_until(lambda: started(service, "fallback-room", "composite"))
    sandbox.call(sandbox.sandbox.webhooks_idle)
    assert all(w.http_status == 200 for w in sandbox.sandbox.sent_webhooks if w.event == "room_started")
    assert len(sandbox_egresses(sandbox, "fallback-room", "room_composite")) == 1


def test_start_latency_is_measured_when_the_request_is_written(
    on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread
) -> None:
    service = on_sqlite()
    add_rule(service)
    seen: list[tuple[str, float]] = []
    service.container.metrics.autorecord_latency.listen(lambda sid, seconds: seen.append((sid, seconds)))
    sandbox.call(sandbox.sandbox.join, "timed-room", "alice")
    wait_until(lambda: started(service, "timed-room", "composite"))
    assert [sid for sid, _ in seen] == [room_sid(sandbox, "timed-room")] and 0 < seen[0][1] < 5
    with service.client() as c:
        text = c.get("/metrics").text
    assert "orchestrator_autorecord_start_seconds_count 1.0" in text


def test_a_room_that_ends_while_its_start_call_is_out_has_that_recording_stopped(
    on_sqlite: Callable[..., ServiceThread], sandbox: SandboxThread
) -> None:
    """room_finished cancels the claim before LiveKit answers the start: the answer's egress must still stop."""
    service = on_sqlite()
    add_rule(service, name="brief")
    sandbox.sandbox.faults.start_response_delay = 2.0  # LiveKit starts the egress but answers late
    sandbox.sandbox.faults.outlive_room = True  # and the egress would run on until someone stops it
    sandbox.call(sandbox.sandbox.join, "brief-room", "alice")
    wait_until(lambda: [i.status for i in sandbox_egresses(sandbox, "brief-room")] == [api.EGRESS_ACTIVE])
    sandbox.call(sandbox.sandbox.close_room, "brief-room")
    [session] = wait_until(lambda: (s := sessions(service, "brief-room")) and s[0]["ended_at"] and s)
    assert session["recordings"][0]["state"] == "cancelled"  # closed while the call was still out
    [info] = sandbox_egresses(sandbox, "brief-room")
    wait_until(lambda: sandbox.sandbox.egress_info(info.egress_id).status == api.EGRESS_COMPLETE,  # type: ignore[union-attr]
               timeout=10)
    [rec] = recordings(service, "brief-room")
    assert rec["state"] == "cancelled" and rec["egress"]["egress_id"] == info.egress_id
    assert "ended while its start call was out" in rec["error"]
