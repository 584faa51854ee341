"""`orchestrator doctor` against a running service, the sandbox LiveKit and a real S3 server: real problems found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.sandbox import SandboxThread
from tests.conftest import LK_KEY, LK_SECRET
from tests.harness import ServiceThread
from tests.integration.s3_server import ACCESS_KEY, BUCKET, SECRET_KEY, S3Server, s3_server  # noqa: F401 - fixture


@pytest.fixture
def env(service: ServiceThread, sandbox: SandboxThread, s3_server: S3Server,  # noqa: F811 - fixture
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A good set-up, run from a directory that is not the service's."""
    monkeypatch.chdir(tmp_path)
    for name in ("ORCHESTRATOR_DATA_DIR", "ORCHESTRATOR_CALLBACK_URLS", "ORCHESTRATOR_RECORDINGS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return {"LIVEKIT_URL": sandbox.url, "LIVEKIT_API_KEY": LK_KEY, "LIVEKIT_API_SECRET": LK_SECRET,
            "ORCHESTRATOR_DATABASE_URL": service.settings.database_url_resolved,
            "ORCHESTRATOR_PUBLIC_URL": service.url, "ORCHESTRATOR_S3_BUCKET": BUCKET,
            "ORCHESTRATOR_S3_ENDPOINT": s3_server.endpoint, "ORCHESTRATOR_S3_REGION": "us-east-1",
            "ORCHESTRATOR_S3_ACCESS_KEY": ACCESS_KEY, "ORCHESTRATOR_S3_SECRET": SECRET_KEY,
            "ORCHESTRATOR_S3_FORCE_PATH_STYLE": "true"}


def doctor(env: dict[str, str], **changes: str | None) -> tuple[int, dict[str, dict[str, Any]], str]:
    result = CliRunner().invoke(app, ["doctor", "--json"], env={**env, **changes})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    return result.exit_code, checks, result.stdout


def test_all_ok_on_a_good_set_up(env: dict[str, str], s3_server: S3Server) -> None:  # noqa: F811
    status, checks, out = doctor(env)
    assert status == 0, out
    assert {name: c["status"] for name, c in checks.items()} == {
        "configuration": "ok", "database": "ok", "livekit": "ok", "clock": "ok", "storage": "ok", "webhooks": "ok"}
    assert "written, read back and deleted" in checks["storage"]["detail"]
    # nothing left behind (other modules share this S3 server and keep recordings in the bucket)
    assert s3_server.client().list_objects_v2(Bucket=BUCKET, Prefix="orchestrator-doctor/").get("KeyCount", 0) == 0
    assert SECRET_KEY not in out and LK_SECRET not in out


def test_a_missing_bucket_fails(env: dict[str, str]) -> None:
    status, checks, _ = doctor(env, ORCHESTRATOR_S3_BUCKET="no-such-bucket")
    assert status == 1
    assert not checks["storage"]["ok"] and "does not exist" in checks["storage"]["detail"]


def test_an_unreachable_webhook_path_fails(env: dict[str, str], service: ServiceThread) -> None:
    status, checks, _ = doctor(env, ORCHESTRATOR_PUBLIC_URL=f"{service.url}/behind-a-proxy")
    assert status == 1
    assert not checks["webhooks"]["ok"] and "answered 404" in checks["webhooks"]["detail"]
    status, checks, _ = doctor(env, LIVEKIT_API_SECRET="another-secret-0123456789abcdef-long-enough")
    assert status == 1 and "credentials" in checks["livekit"]["detail"]
    assert "answered 401" in checks["webhooks"]["detail"]


def test_a_missing_database_fails_and_is_not_created(env: dict[str, str], tmp_path: Path) -> None:
    status, checks, _ = doctor(env, ORCHESTRATOR_DATABASE_URL=None)  # the default: ./data/orchestrator.db
    assert status == 1
    assert not checks["database"]["ok"] and "no database at" in checks["database"]["detail"]
    assert not (tmp_path / "data").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    status, checks, _ = doctor(env, ORCHESTRATOR_DATABASE_URL=f"sqlite:///{empty}")
    assert status == 1 and "not migrated" in checks["database"]["detail"]
