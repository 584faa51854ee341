"""Roles on the REST API: every /v1 route needs a role, every change needs producer (rules: admin).

The routes are enumerated from the app itself, so a new endpoint without a role check fails here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts

from orchestrator.api import auth
from orchestrator.api.routes import recordings as recording_routes
from orchestrator.domain.identity import Principal, PrincipalKind, Role
from orchestrator.sandbox import SandboxFaults, SandboxThread, SandboxTimings
from tests.conftest import LK_KEY, LK_SECRET, make_settings
from tests.harness import ServiceThread

# Links that carry their own expiring signature instead of a role (handed out by /download).
SIGNED = {recording_routes.signed_playlist, recording_routes.signed_content}
ADMIN_ONLY = re.compile(r"^/v1/(rules|users|keys)\b")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceThread]:
    sandbox = SandboxThread(api_key=LK_KEY, api_secret=LK_SECRET, timings=SandboxTimings(), faults=SandboxFaults())
    sandbox.start()
    tmp = tmp_path_factory.mktemp("roles")
    svc = ServiceThread(make_settings(f"sqlite:///{tmp / 'o.db'}", sandbox, Path(tmp / "data"))).start()
    yield svc
    svc.stop()
    sandbox.stop()


def _roles_needed(dependant: Dependant) -> list[Role]:
    """The roles `require(...)` checks anywhere in this dependency tree."""
    found: list[Role] = []
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and getattr(call, "__qualname__", "").startswith("require.<locals>"):
            found.append(inspect.getclosurevars(call).nonlocals["needed"])
        found.extend(_roles_needed(sub))
    return found


def _v1_routes(app: FastAPI) -> list[RouteContext]:
    """Every /v1 route as served (with its router's prefix and dependencies)."""
    return [r for r in iter_route_contexts(app.routes) if (r.path or "").startswith("/v1") and r.methods
            and r.endpoint not in SIGNED]


def _changes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete path) of every /v1 route that changes something."""
    out = []
    for route in _v1_routes(app):
        for method in sorted((route.methods or set()) - {"GET", "HEAD"}):
            out.append((method, re.sub(r"\{[^}]+\}", "x", route.path or "")))
    return out


def _as(app: FastAPI, who: Principal | None) -> Callable[[], None]:
    if who is not None:
        app.dependency_overrides[auth.principal] = lambda: who

    def undo() -> None:
        app.dependency_overrides.pop(auth.principal, None)

    return undo


def _call(client: httpx.Client, method: str, path: str) -> httpx.Response:
    return client.request(method, path, json={})


def test_every_v1_route_declares_a_role_and_every_change_producer_or_more(service: ServiceThread) -> None:
    routes = _v1_routes(service.app)
    assert len(routes) >= 15
    for route in routes:
        needed = _roles_needed(route.dependant)
        assert needed, f"{route.path} {route.methods} checks no role"
        strongest = max(needed, key=lambda r: r.rank)
        if (route.methods or set()) - {"GET", "HEAD"}:
            floor = Role.ADMIN if ADMIN_ONLY.match(route.path or "") else Role.PRODUCER
            assert strongest.allows(floor), f"{route.methods} {route.path} needs only {strongest.value}"


def test_without_credentials_every_v1_route_is_401(service: ServiceThread) -> None:
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for route in _v1_routes(service.app):
            path = re.sub(r"\{[^}]+\}", "x", route.path or "")
            for method in (route.methods or set()) - {"HEAD"}:
                r = client.request(method, path, json={})
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.headers["www-authenticate"] == "Bearer"


def test_a_viewer_reads_everything_and_changes_nothing(service: ServiceThread) -> None:
    undo = _as(service.app, Principal("vera", Role.VIEWER, PrincipalKind.KEY))
    try:
        with httpx.Client(base_url=service.url, timeout=10) as client:
            for path in ("/v1/egresses", "/v1/broadcasts", "/v1/recordings", "/v1/rules", "/v1/sessions"):
                assert client.get(path).status_code == 200, path
            changes = _changes(service.app)
            assert ("POST", "/v1/egresses") in changes and ("DELETE", "/v1/recordings/x") in changes
            for method, path in changes:
                r = _call(client, method, path)
                assert r.status_code == 403, (method, path, r.status_code, r.text)
                assert "vera is viewer" in r.json()["error"]["message"]
    finally:
        undo()


def test_a_producer_changes_broadcasts_and_egresses_but_not_rules(service: ServiceThread) -> None:
    undo = _as(service.app, Principal("paula", Role.PRODUCER, PrincipalKind.PERSON))
    try:
        with httpx.Client(base_url=service.url, timeout=10) as client:
            for method, path in _changes(service.app):
                r = _call(client, method, path)
                if ADMIN_ONLY.match(path):
                    assert r.status_code == 403, (method, path, r.text)
                else:  # past the role check: the body or the id is what is wrong now
                    assert r.status_code in (404, 409, 422), (method, path, r.status_code, r.text)
    finally:
        undo()


def test_the_bootstrap_token_is_an_admin(service: ServiceThread) -> None:
    with service.client() as client:
        assert client.get("/v1/egresses").status_code == 200
        rule: dict[str, Any] = {"name": "roles-test", "match": {"room_name": "roles-*"},
                                "actions": {"room_composite": {"enabled": True, "outputs": []}}}
        r = client.post("/v1/rules", json=rule)
        assert r.status_code in (201, 422), r.text  # admin passes the role check
        assert r.status_code != 403
        assert client.post("/v1/egresses/x/stop").status_code == 404
