"""Errors a person can act on: malformed JSON by line and column, JSON without its Content-Type, the sandbox's JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.sandbox import SandboxThread
from tests.conftest import LK_KEY, LK_SECRET, make_settings
from tests.harness import ServiceThread


@pytest.fixture
def service(sandbox: SandboxThread, tmp_path: Path) -> Iterator[ServiceThread]:
    settings = make_settings(f"sqlite:///{tmp_path / 'orchestrator.db'}", sandbox, tmp_path / "data")
    svc = ServiceThread(settings).start()
    sandbox.sandbox.webhook_urls[:] = [f"{svc.url}/webhooks/livekit"]
    yield svc
    svc.stop()


def test_malformed_json_names_body_with_line_and_column(service: ServiceThread) -> None:
    body = '{\n  "kind": "room_composite",\n  "room_name": "demo"\n  "outputs": []\n}'
    with service.client() as http:
        r = http.post("/v1/egresses", content=body, headers={"Content-Type": "application/json"})
        error = r.json()["error"]
        assert r.status_code == 422 and error["field"] == "body", r.text
        assert error["message"].startswith("body: not valid JSON at line 4, column 3"), error
        assert "Expecting ',' delimiter" in error["message"]
        # On the first line too, and never the input echoed back (it may hold a stream key).
        r = http.post("/v1/broadcasts", content='{"stream_key": "sk-secret-0123",}',
                      headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and "line 1, column 33" in r.json()["error"]["message"], r.text
        assert "sk-secret" not in r.text


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded"], ids=["none", "curl-d"])
def test_json_without_its_content_type_is_read_as_json(
        service: ServiceThread, sandbox: SandboxThread, content_type: str | None) -> None:
    sandbox.call(sandbox.sandbox.join, "errors-room", "host")
    headers = {"Content-Type": content_type} if content_type else {}
    bad = json.dumps({"kind": "no-such-kind", "room_name": "errors-room", "outputs": []})
    good = json.dumps({"kind": "room_composite", "room_name": "errors-room",
                       "outputs": [{"type": "mux", "stream_key": "sandbox-key"}]})
    with service.client() as http:
        r = http.post("/v1/egresses", content=bad, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "kind", r.text  # read as JSON, field named
        r = http.post("/v1/egresses", content=good, headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["room_name"] == "errors-room"
        # A body that is not JSON at all is still a 422 naming the body, not a form the API never takes.
        r = http.post("/v1/egresses", content="kind=room_composite", headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "body", r.text


def _error(r: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    error: dict[str, str] = r.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


def test_sandbox_control_api_answers_json_and_lists_rooms() -> None:
    with SandboxThread(api_key=LK_KEY, api_secret=LK_SECRET) as thread, \
            httpx.Client(base_url=thread.url, timeout=10) as http:
        assert http.get("/sandbox/rooms").json() == []
        assert http.post("/sandbox/rooms", json={"name": "class-1"}).status_code == 201
        assert [room["name"] for room in http.get("/sandbox/rooms").json()] == ["class-1"]

        error = _error(http.post("/sandbox/rooms", json={}), 400, "bad_request")
        assert error["field"] == "name" and error["message"].startswith("name: required"), error
        error = _error(http.post("/sandbox/rooms", json={"name": ""}), 400, "bad_request")
        assert error["field"] == "name", error
        error = _error(http.post("/sandbox/rooms", json={"name": 7}), 400, "bad_request")
        assert error["field"] == "name", error
        error = _error(http.post("/sandbox/rooms", content='{"name": "x",\n}'), 400, "bad_request")
        assert error["field"] == "body" and "line 2, column 1" in error["message"], error
        error = _error(http.post("/sandbox/rooms/class-1/participants", json={"publish": ["camera"]}),
                       400, "bad_request")
        assert error["field"] == "identity", error

        r = http.put("/sandbox/rooms", json={"name": "x"})
        error = _error(r, 405, "method_not_allowed")
        assert "GET" in r.headers["allow"] and "POST" in r.headers["allow"], r.headers
        assert "PUT" in error["message"] and "POST" in error["message"], error
        _error(http.get("/sandbox/no-such-thing"), 404, "not_found")
        _error(http.delete("/sandbox/rooms/no-such-room"), 404, "not_found")
        _error(http.patch("/sandbox/faults", json={"nope": 1}), 400, "bad_request")
