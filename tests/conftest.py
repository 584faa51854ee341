"""Shared fixtures: databases (SQLite and the machine's PostgreSQL), the sandbox LiveKit, the service."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import Settings
from orchestrator.sandbox import SandboxFaults, SandboxThread, SandboxTimings
from tests.harness import API_TOKEN, ServiceThread, free_port

PG_ADMIN_URL = os.environ.get("ORCHESTRATOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LK_KEY, LK_SECRET = "test-key", "test-secret-that-is-long-enough-0123456789"


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _pg_available()


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not pg_available:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"orch_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'orchestrator.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    timings = SandboxTimings(activate_after=0.1, finalize_after=0.1, no_worker_after=0.2,
                             participant_wait=2.0, empty_timeout=300, departure_timeout=20)
    thread = SandboxThread(api_key=LK_KEY, api_secret=LK_SECRET, timings=timings, faults=SandboxFaults())
    thread.start()
    yield thread
    thread.stop()


def make_settings(db_url: str, sandbox: SandboxThread, data_dir: Path, **overrides: Any) -> Settings:
    port = free_port()
    values: dict[str, Any] = {
        "livekit_url": sandbox.url, "livekit_api_key": LK_KEY, "livekit_api_secret": LK_SECRET,
        "database_url": db_url, "api_token": API_TOKEN, "public_url": f"http://127.0.0.1:{port}",
        "port": port, "data_dir": data_dir, "reconcile_interval_s": 3600, "start_deadline_s": 120,
        "livekit_timeout_s": 5, "livekit_start_timeout_s": 5, "retry_backoff_s": 0.05,
        "s3_bucket": "recordings", "s3_region": "us-east-1", "s3_endpoint": "http://127.0.0.1:9",
        "s3_access_key": "AKIATESTACCESSKEY123", "s3_secret": "s3-secret-value-do-not-leak-0987",
        "s3_force_path_style": True,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def service_factory(db_url: str, sandbox: SandboxThread, tmp_path: Path) -> Iterator[Any]:
    """Start (and restart) the service against one database and the sandbox; webhooks point at it."""
    started: list[ServiceThread] = []

    def start(**overrides: Any) -> ServiceThread:
        settings = make_settings(db_url, sandbox, tmp_path / "data", **overrides)
        service = ServiceThread(settings).start()
        sandbox.sandbox.webhook_urls[:] = [f"{service.url}/webhooks/livekit"]
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def service(service_factory: Any) -> ServiceThread:
    svc: ServiceThread = service_factory()
    return svc
